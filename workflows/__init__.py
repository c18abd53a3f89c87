"""One generic Temporal workflow per kind of job, on a shared entity engine."""

from workflows.continuous import ContinuousJobWorkflow
from workflows.debounce import DebounceJobWorkflow

ALL_WORKFLOWS = [ContinuousJobWorkflow, DebounceJobWorkflow]
"""The workflow classes a worker registers."""

__all__ = ["ALL_WORKFLOWS", "ContinuousJobWorkflow", "DebounceJobWorkflow"]
