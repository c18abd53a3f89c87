"""The client of durable jobs: ``from client import JobsClient``."""

from client.continuous import ContinuousHandle
from client.debounce import DebounceHandle
from client.handle import JobHandle
from client.jobs_client import DEFAULT_TASK_QUEUE, JobsClient
from client.results import (
    AddResult,
    ClearResult,
    ContinuousStatus,
    DebounceStatus,
    FlushResult,
    LastErrorInfo,
    SendResult,
    StartResult,
    StateResult,
    TaskStateResult,
    TaskStatus,
    TerminateResult,
    TriggerResult,
)
from client.task import TaskHandle

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
    "JobsClient",
    "LastErrorInfo",
    "SendResult",
    "StartResult",
    "TaskHandle",
    "TaskStateResult",
    "TaskStatus",
    "StateResult",
    "TerminateResult",
    "TriggerResult",
]
