"""One generic Temporal workflow per kind of job, on a shared entity engine."""

from workflows.continuous import ContinuousJobWorkflow

ALL_WORKFLOWS = [ContinuousJobWorkflow]
"""The workflow classes a worker registers."""

__all__ = ["ALL_WORKFLOWS", "ContinuousJobWorkflow"]
