"""Durable keyed jobs on Temporal: Continuous, Debounce and Task.

Define jobs with pydantic models and plain functions, register them in a :class:`DurableJobs`,
host them on a worker (:func:`durable_jobs.worker.build_worker`, or :class:`DurableJobsPlugin`
on a worker of your own) and call them through :class:`JobsClient`::

    from durable_jobs import Continuous, DurableJobs, JobsClient, every

    jobs = DurableJobs(tokenRefresher=Continuous(state=TokenState, schedule=every("30 minutes"),
                                                 execute=refresh))
    client = await JobsClient.connect(jobs)
    await client.continuous("tokenRefresher").start(id="user-1", input=TokenState(...))

The modules ``durable_jobs.errors``, ``.events``, ``.testing``, ``.codec``, ``.http_sink`` and
``.worker`` are public too; every other module is an implementation detail.
"""

from durable_jobs._registry import DurableJobs
from durable_jobs.client import (
    AddResult,
    ClearResult,
    ContinuousHandle,
    ContinuousStatus,
    DebounceHandle,
    DebounceStatus,
    FlushResult,
    InstanceSummary,
    JobHandle,
    JobsClient,
    LastErrorInfo,
    PauseResult,
    ProblemInfo,
    RescheduleResult,
    ResumeResult,
    SendResult,
    StartResult,
    StateResult,
    TaskHandle,
    TaskStateResult,
    TaskStatus,
    TerminateResult,
    TriggerResult,
)
from durable_jobs.context import (
    ContinuousContext,
    DebounceEventContext,
    DebounceExecuteContext,
    ErrorSource,
    FlushReason,
    HandlerContext,
    IdleReason,
    TaskContext,
    TaskErrorContext,
    TaskEventContext,
    TaskIdleContext,
)
from durable_jobs.definitions import Continuous, Debounce, JobDefinition, Task
from durable_jobs.durations import Duration, parse_duration
from durable_jobs.errors import (
    CallRefusedError,
    CallTimeoutError,
    ExecutionError,
    JobDefinitionError,
    JobNotFoundError,
    JobsConnectionError,
    JobsError,
    JobValidationError,
    UnreadablePayloadError,
    WorkerUnavailableError,
)
from durable_jobs.plugin import DurableJobsPlugin
from durable_jobs.retry import Backoff, RetryConfig
from durable_jobs.schedules import Schedule, cron, every

__all__ = [
    "AddResult",
    "Backoff",
    "CallRefusedError",
    "CallTimeoutError",
    "ClearResult",
    "Continuous",
    "ContinuousContext",
    "ContinuousHandle",
    "ContinuousStatus",
    "Debounce",
    "DebounceEventContext",
    "DebounceExecuteContext",
    "DebounceHandle",
    "DebounceStatus",
    "Duration",
    "DurableJobs",
    "DurableJobsPlugin",
    "ErrorSource",
    "ExecutionError",
    "FlushReason",
    "FlushResult",
    "HandlerContext",
    "IdleReason",
    "InstanceSummary",
    "JobDefinition",
    "JobDefinitionError",
    "JobHandle",
    "JobNotFoundError",
    "JobValidationError",
    "JobsClient",
    "JobsConnectionError",
    "JobsError",
    "LastErrorInfo",
    "PauseResult",
    "ProblemInfo",
    "RescheduleResult",
    "ResumeResult",
    "RetryConfig",
    "Schedule",
    "SendResult",
    "StartResult",
    "StateResult",
    "Task",
    "TaskContext",
    "TaskErrorContext",
    "TaskEventContext",
    "TaskHandle",
    "TaskIdleContext",
    "TaskStateResult",
    "TaskStatus",
    "TerminateResult",
    "TriggerResult",
    "UnreadablePayloadError",
    "WorkerUnavailableError",
    "cron",
    "every",
    "parse_duration",
]
