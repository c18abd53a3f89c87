"""One generic Temporal workflow per kind of job, on a shared entity engine."""

from workflows.continuous import ContinuousJobWorkflow
from workflows.debounce import DebounceJobWorkflow
from workflows.task import TaskJobWorkflow

ALL_WORKFLOWS = [ContinuousJobWorkflow, DebounceJobWorkflow, TaskJobWorkflow]
"""The workflow classes a worker registers."""

__all__ = ["ALL_WORKFLOWS", "ContinuousJobWorkflow", "DebounceJobWorkflow", "TaskJobWorkflow"]
