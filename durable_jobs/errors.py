"""The errors of the jobs library (SPEC §7).

Every message says what was wrong and what was expected, so that a log line alone is enough to
act on. All errors derive from :class:`JobsError`.
"""

from __future__ import annotations

from typing import Any


class JobsError(Exception):
    """Base class of every error raised by the jobs library."""


class JobDefinitionError(JobsError):
    """A job definition or registry is invalid; raised when it is built, never later."""


class JobNotFoundError(JobsError):
    """A job name is not registered, or is registered as another kind."""


class JobValidationError(JobsError):
    """An input, event or id was refused before anything was sent to Temporal.

    ``errors`` holds pydantic's error list when the refusal came from a model (else an empty list).
    """

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors: list[dict[str, Any]] = errors or []


class ExecutionError(JobsError):
    """A user handler failed and nothing handled the failure."""

    def __init__(
        self,
        *,
        kind: str,
        job_name: str,
        instance_id: str,
        error_type: str,
        error_message: str,
    ) -> None:
        self.kind = kind
        self.job_name = job_name
        self.instance_id = instance_id
        self.error_type = error_type
        self.error_message = error_message
        super().__init__(
            f"{kind} job {job_name!r} instance {instance_id!r} failed: {error_type}: {error_message}"
        )


class JobsConnectionError(JobsError):
    """Temporal could not be reached at ``address``."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        super().__init__(f"cannot reach Temporal at {address}: {reason}")


class WorkerUnavailableError(JobsError):
    """A call that needs a worker got no answer: no worker polls the job's task queue, or none
    answered in time."""


class CallTimeoutError(JobsError):
    """A waiting call got no answer within its ``timeout`` (or Temporal's RPC gave up).

    The call may still be applied. Sending it again with the same ``idempotency_key`` is safe:
    the instance applies a key once and answers a duplicate with the first call's answer.
    """


class CallRefusedError(JobsError):
    """The instance refused the call and applied nothing: it would take the instance over its
    payload budget, or its ``idempotency_key`` was used for another kind of call."""


class UnreadablePayloadError(JobsError):
    """A payload this client cannot decode: it was encoded with a codec (encryption) that the
    client was not given (``JobsClient.connect(codec=...)``), or with another key."""
