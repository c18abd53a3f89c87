"""Durable keyed jobs on Temporal: the definitions a user writes.

>>> from jobs import Continuous, DurableJobs, every
"""

from jobs.context import ContinuousContext, HandlerContext
from jobs.definitions import Continuous, Debounce, JobDefinition, Task
from jobs.durations import Duration, parse_duration
from jobs.errors import (
    ExecutionError,
    JobDefinitionError,
    JobNotFoundError,
    JobsConnectionError,
    JobsError,
    JobValidationError,
    WorkerUnavailableError,
)
from jobs.registry import DurableJobs
from jobs.retry import Backoff, RetryConfig
from jobs.schedules import Schedule, cron, every

__all__ = [
    "Backoff",
    "Continuous",
    "ContinuousContext",
    "Debounce",
    "DurableJobs",
    "Duration",
    "ExecutionError",
    "HandlerContext",
    "JobDefinition",
    "JobDefinitionError",
    "JobNotFoundError",
    "JobValidationError",
    "JobsConnectionError",
    "JobsError",
    "RetryConfig",
    "Schedule",
    "Task",
    "WorkerUnavailableError",
    "cron",
    "every",
    "parse_duration",
]
