"""One generic Temporal workflow per kind of job, on a shared entity engine."""

from durable_jobs.workflows.continuous import ContinuousJobWorkflow
from durable_jobs.workflows.debounce import DebounceJobWorkflow
from durable_jobs.workflows.task import TaskJobWorkflow

ALL_WORKFLOWS = [ContinuousJobWorkflow, DebounceJobWorkflow, TaskJobWorkflow]
"""The workflow classes a worker registers."""

__all__ = ["ALL_WORKFLOWS", "ContinuousJobWorkflow", "DebounceJobWorkflow", "TaskJobWorkflow"]
