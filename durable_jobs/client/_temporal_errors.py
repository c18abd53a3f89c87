"""Normalising what the two Temporal servers raise into the library's answers and errors.

The dev server and the time-skipping test server disagree on some exception types (closed
workflows, "already exists"); this module is the one place that knows, and the one place that
maps the workflows' own failure types back to library errors.
"""

from __future__ import annotations

from temporalio.client import (
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from durable_jobs.errors import (
    CallRefusedError,
    CallTimeoutError,
    ExecutionError,
    JobNotFoundError,
    JobsConnectionError,
    UnreadablePayloadError,
)
from durable_jobs.protocol import (
    CONTINUING_AS_NEW_ERROR_TYPE,
    EXECUTION_ERROR_TYPE,
    INSTANCE_ENDED_ERROR_TYPE,
    NOT_REGISTERED_ERROR_TYPE,
    REFUSED_ERROR_TYPE,
)

UNKNOWN_ENCODING = "Unknown payload encoding"
"""The start of the SDK's ``KeyError`` for a payload no converter reads (e.g. encrypted)."""

_OURS = (
    EXECUTION_ERROR_TYPE,
    CONTINUING_AS_NEW_ERROR_TYPE,
    INSTANCE_ENDED_ERROR_TYPE,
    NOT_REGISTERED_ERROR_TYPE,
    REFUSED_ERROR_TYPE,
)


def _cause_type(err: BaseException) -> str | None:
    if isinstance(err, WorkflowUpdateFailedError):
        cause = err.cause
        if isinstance(cause, ApplicationError):
            return cause.type
    return None


def is_update_not_taken(err: BaseException) -> bool:
    """True when Temporal gave an update back unrecorded, for reasons that pass.

    ``RESOURCE_EXHAUSTED``: 10 updates are already in flight, or the run is closing.
    ``FAILED_PRECONDITION``: the workflow task that carried it failed before accepting it, as
    when a signal arrives while the run continues as new ("unexpected workflow task failure").
    Sent again with the same update ID, it cannot apply twice.
    """
    return isinstance(err, RPCError) and err.status in (
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.FAILED_PRECONDITION,
    )


def is_given_back(err: BaseException) -> bool:
    """True when the instance gave an update back unapplied for the client to send again:
    its run is continuing as new, or the instance ended before handling it."""
    return _cause_type(err) in (CONTINUING_AS_NEW_ERROR_TYPE, INSTANCE_ENDED_ERROR_TYPE)


def is_gone(err: BaseException) -> bool:
    """True when ``err`` means the instance's workflow is not running (never was, or closed)."""
    if isinstance(err, WorkflowQueryRejectedError):
        return True
    if isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND:
        return True
    if isinstance(err, WorkflowUpdateFailedError):
        # An update whose workflow closed before it completed (Temporal terminate) fails with a
        # cause that is not ours.
        return _cause_type(err) not in _OURS
    return False


def translate(err: BaseException, *, address: str) -> BaseException:
    """The library error for a Temporal exception, or ``err`` itself when it has none."""
    if isinstance(err, WorkflowUpdateFailedError) and isinstance(err.cause, ApplicationError):
        cause = err.cause
        if cause.type == EXECUTION_ERROR_TYPE:
            kind, job_name, instance_id, error_type, message = cause.details
            return ExecutionError(
                kind=str(kind),
                job_name=str(job_name),
                instance_id=str(instance_id),
                error_type=str(error_type),
                error_message=str(message),
            )
        if cause.type == NOT_REGISTERED_ERROR_TYPE:
            return JobNotFoundError(cause.message)
        if cause.type == REFUSED_ERROR_TYPE:
            return CallRefusedError(cause.message)
    if isinstance(err, RPCError) and err.status == RPCStatusCode.UNAVAILABLE:
        return JobsConnectionError(address, err.message)
    if isinstance(err, KeyError) and UNKNOWN_ENCODING in str(err):
        return UnreadablePayloadError(
            f"cannot read a payload: {err.args[0] if err.args else err}; it was encoded with a "
            "codec this client does not have (give JobsClient.connect the same codec=... as "
            "the workers)"
        )
    if isinstance(err, WorkflowUpdateRPCTimeoutOrCancelledError):
        return CallTimeoutError(
            f"Temporal gave up waiting for the call's answer ({err}); it may still be applied, "
            "and sending it again with the same idempotency_key is safe"
        )
    return err
