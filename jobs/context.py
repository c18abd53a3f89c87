"""The contexts handed to user handlers (SPEC §4).

State changes are buffered in the context and committed by the engine only when the handler
returns normally. ``terminate()`` raises :class:`TerminateRequested`, a ``BaseException`` so that a
handler's own ``except Exception`` cannot swallow it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel

S = TypeVar("S", bound=BaseModel)
E = TypeVar("E")
T = TypeVar("T")


class TerminateRequested(BaseException):
    """Raised by ``ctx.terminate()``: unwinds the handler; the engine removes the instance."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason)
        self.reason = reason


class HandlerContext:
    """What every handler context has: who is running and which attempt this is."""

    def __init__(
        self, *, kind: str, job_name: str, instance_id: str, id: str, attempt: int
    ) -> None:
        self._kind = kind
        self._job_name = job_name
        self._instance_id = instance_id
        self._id = id
        self._attempt = attempt

    @property
    def instance_id(self) -> str:
        """The workflow ID, ``{kind}:{job_name}:{id}``."""
        return self._instance_id

    @property
    def id(self) -> str:
        """The user id of this instance."""
        return self._id

    @property
    def job_name(self) -> str:
        """The name the job is registered under."""
        return self._job_name

    @property
    def attempt(self) -> int:
        """Which attempt this is: 1 for the first try."""
        return self._attempt

    @property
    def is_retry(self) -> bool:
        """True on every attempt after the first."""
        return self._attempt > 1

    def terminate(self, reason: str | None = None) -> None:
        """Remove this instance once the handler unwinds; code after this call does not run."""
        raise TerminateRequested(reason)

    def _check_state(self, model: type[BaseModel], value: object) -> None:
        if not isinstance(value, model):
            raise TypeError(
                f"{self._kind} job {self._job_name!r} instance {self._instance_id!r}: set_state got "
                f"{type(value).__name__}; expected an instance of {model.__name__}"
            )


class ContinuousContext(HandlerContext, Generic[S]):
    """The context of a Continuous ``execute``: the live state, the run count, terminate."""

    def __init__(
        self,
        *,
        job_name: str,
        instance_id: str,
        id: str,
        attempt: int,
        run_count: int,
        state: S,
    ) -> None:
        super().__init__(
            kind="continuous", job_name=job_name, instance_id=instance_id, id=id, attempt=attempt
        )
        self._run_count = run_count
        self._state = state

    @property
    def state(self) -> S:
        """The current state, including changes made earlier in this run."""
        return self._state

    @property
    def run_count(self) -> int:
        """Which run this is, 1-based; retries of one run share its number."""
        return self._run_count

    def set_state(self, state: S) -> None:
        """Replace the state; committed only if the handler returns normally."""
        self._check_state(type(self._state), state)
        self._state = state

    def update_state(self, fn: Callable[[S], S]) -> None:
        """Replace the state with ``fn(state)``."""
        self.set_state(fn(self._state))


class DebounceEventContext(HandlerContext, Generic[E, T]):
    """The context of a Debounce ``on_event`` reducer: the event, the batch's state so far.

    The reducer returns the new state. It runs inside the workflow, so it must be pure:
    no I/O, no clock, no randomness, nothing awaited.
    """

    def __init__(
        self,
        *,
        job_name: str,
        instance_id: str,
        id: str,
        event: E,
        state: T | None,
        event_count: int,
    ) -> None:
        super().__init__(
            kind="debounce", job_name=job_name, instance_id=instance_id, id=id, attempt=1
        )
        self._event = event
        self._state = state
        self._event_count = event_count

    @property
    def event(self) -> E:
        """The event being folded."""
        return self._event

    @property
    def state(self) -> T | None:
        """The batch's state before this event; ``None`` on the first event of a batch."""
        return self._state

    @property
    def event_count(self) -> int:
        """How many events the batch holds, this one included."""
        return self._event_count


FlushReason = Literal["max_events", "flush_after", "manual"]
"""Why a Debounce batch is being flushed."""


class DebounceExecuteContext(HandlerContext, Generic[T]):
    """The context of a Debounce ``execute``: the folded batch and why it is flushed."""

    def __init__(
        self,
        *,
        job_name: str,
        instance_id: str,
        id: str,
        attempt: int,
        state: T,
        event_count: int,
        started_at: datetime,
        flush_reason: FlushReason,
    ) -> None:
        super().__init__(
            kind="debounce", job_name=job_name, instance_id=instance_id, id=id, attempt=attempt
        )
        self._state = state
        self._event_count = event_count
        self._started_at = started_at
        self._flush_reason = flush_reason

    @property
    def state(self) -> T:
        """The batch's folded state."""
        return self._state

    @property
    def event_count(self) -> int:
        """How many events the batch holds."""
        return self._event_count

    @property
    def started_at(self) -> datetime:
        """When the batch's first event arrived."""
        return self._started_at

    @property
    def flush_reason(self) -> FlushReason:
        """``"max_events"``, ``"flush_after"`` or ``"manual"``."""
        return self._flush_reason
