"""Normalising what the two Temporal servers raise into the library's answers and errors.

The dev server and the time-skipping test server disagree on some exception types (TEMPORAL-NOTES:
"already exists", closed workflows); this module is the one place that knows.
"""

from __future__ import annotations

from temporalio.client import (
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from durable_jobs.errors import ExecutionError, JobsConnectionError
from durable_jobs.protocol import CONTINUING_AS_NEW_ERROR_TYPE, EXECUTION_ERROR_TYPE


def is_update_not_taken(err: BaseException) -> bool:
    """True when Temporal gave an update back unrecorded, for reasons that pass.

    ``RESOURCE_EXHAUSTED``: 10 updates are already in flight, or the run is closing.
    ``FAILED_PRECONDITION``: the workflow task that carried it failed before accepting it, as
    when a signal arrives while the run continues as new ("unexpected workflow task failure").
    """
    return isinstance(err, RPCError) and err.status in (
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.FAILED_PRECONDITION,
    )


def is_refused_while_continuing(err: BaseException) -> bool:
    """True when the run refused an update, unrecorded, because it is continuing as new."""
    if isinstance(err, WorkflowUpdateFailedError):
        cause = err.cause
        return isinstance(cause, ApplicationError) and cause.type == CONTINUING_AS_NEW_ERROR_TYPE
    return False


def is_gone(err: BaseException) -> bool:
    """True when ``err`` means the instance's workflow is not running (never was, or closed)."""
    if isinstance(err, WorkflowQueryRejectedError):
        return True
    if isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND:
        return True
    if isinstance(err, WorkflowUpdateFailedError):
        # An update whose workflow closed before it completed (Temporal terminate) fails with a
        # cause that is not ours.
        cause = err.cause
        return not (
            isinstance(cause, ApplicationError)
            and cause.type in (EXECUTION_ERROR_TYPE, CONTINUING_AS_NEW_ERROR_TYPE)
        )
    return False


def translate(err: BaseException, *, address: str) -> BaseException:
    """The library error for a Temporal exception, or ``err`` itself when it has none."""
    if isinstance(err, WorkflowUpdateFailedError):
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == EXECUTION_ERROR_TYPE:
            kind, job_name, instance_id, error_type, message = cause.details
            return ExecutionError(
                kind=str(kind),
                job_name=str(job_name),
                instance_id=str(instance_id),
                error_type=str(error_type),
                error_message=str(message),
            )
    if isinstance(err, RPCError) and err.status == RPCStatusCode.UNAVAILABLE:
        return JobsConnectionError(address, err.message)
    if isinstance(err, WorkflowUpdateRPCTimeoutOrCancelledError):
        return JobsConnectionError(address, f"no answer in time ({err}); is a worker running?")
    return err
