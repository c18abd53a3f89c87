"""The client of durable jobs: ``from durable_jobs import JobsClient`` (the handles and results too)."""

from durable_jobs.client.continuous import ContinuousHandle
from durable_jobs.client.debounce import DebounceHandle
from durable_jobs.client.handle import JobHandle
from durable_jobs.client.jobs_client import DEFAULT_TASK_QUEUE, JobsClient
from durable_jobs.client.results import (
    AddResult,
    ClearResult,
    ContinuousStatus,
    DebounceStatus,
    FlushResult,
    InstanceSummary,
    LastErrorInfo,
    PauseResult,
    ProblemInfo,
    RescheduleResult,
    ResumeResult,
    SendResult,
    StartResult,
    StateResult,
    TaskStateResult,
    TaskStatus,
    TerminateResult,
    TriggerResult,
)
from durable_jobs.client.task import TaskHandle

__all__ = [
    "DEFAULT_TASK_QUEUE",
    "AddResult",
    "ClearResult",
    "DebounceHandle",
    "DebounceStatus",
    "FlushResult",
    "ContinuousHandle",
    "ContinuousStatus",
    "JobHandle",
    "InstanceSummary",
    "JobsClient",
    "LastErrorInfo",
    "PauseResult",
    "ProblemInfo",
    "RescheduleResult",
    "ResumeResult",
    "SendResult",
    "StartResult",
    "TaskHandle",
    "TaskStateResult",
    "TaskStatus",
    "StateResult",
    "TerminateResult",
    "TriggerResult",
]
