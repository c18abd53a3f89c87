"""The contexts handed to user handlers (SPEC §4).

State changes are buffered in the context and committed by the engine only when the handler
returns normally. ``terminate()`` raises :class:`TerminateRequested`, a ``BaseException`` so that a
handler's own ``except Exception`` cannot swallow it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel

from durable_jobs.durations import parse_duration

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


FlushReason = Literal["max_events", "max_size", "flush_after", "max_wait", "manual"]
"""Why a Debounce batch is being flushed: it holds ``max_events``; its state reached half of the
state budget (``max_size``); its deadline came (``flush_after``; ``max_wait`` when a sliding
window was capped); or ``flush`` was called (``manual``)."""


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
        """``"max_events"``, ``"max_size"``, ``"flush_after"``, ``"max_wait"`` or ``"manual"``."""
        return self._flush_reason


IdleReason = Literal["on_event", "execute"]
"""What a Task's ``on_idle`` follows."""

ErrorSource = Literal["on_event", "execute"]
"""Which Task handler failed, as ``on_error`` sees it."""


class TaskContext(HandlerContext, Generic[S]):
    """The context of Task ``execute`` (and the base of the other Task contexts).

    ``state`` is live (``None`` until first set); ``schedule``/``cancel_schedule`` set the one
    alarm (last call wins); all of it is committed only if the handler returns normally.
    """

    def __init__(
        self,
        *,
        job_name: str,
        instance_id: str,
        id: str,
        attempt: int,
        state_type: type[S],
        state: S | None,
        scheduled_at: datetime | None,
        now: datetime,
        event_count: int,
        execute_count: int,
        created_at: datetime,
    ) -> None:
        super().__init__(
            kind="task", job_name=job_name, instance_id=instance_id, id=id, attempt=attempt
        )
        self._state_type = state_type
        self._state = state
        self._scheduled_at = scheduled_at
        self._now = now
        self._event_count = event_count
        self._execute_count = execute_count
        self._created_at = created_at

    @property
    def state(self) -> S | None:
        """The current state, including changes made earlier in this handler."""
        return self._state

    def set_state(self, state: S) -> None:
        """Replace the state; committed only if the handler returns normally."""
        self._check_state(self._state_type, state)
        self._state = state

    def update_state(self, fn: Callable[[S], S]) -> None:
        """Replace the state with ``fn(state)``; does nothing while the state is ``None``."""
        if self._state is not None:
            self.set_state(fn(self._state))

    def schedule(self, when: datetime | timedelta | str) -> None:
        """Set the alarm: a ``datetime`` is absolute, a duration counts from now. Last call wins."""
        if isinstance(when, datetime):
            if when.tzinfo is None:
                raise ValueError(
                    f"task job {self.job_name!r} instance {self.instance_id!r}: schedule() got a "
                    "naive datetime; expected a timezone-aware one"
                )
            self._scheduled_at = when.astimezone(UTC)
        else:
            self._scheduled_at = self._now + parse_duration(when, what="schedule()")

    def cancel_schedule(self) -> None:
        """Clear the alarm."""
        self._scheduled_at = None

    @property
    def scheduled_at(self) -> datetime | None:
        """The pending alarm, as this handler has left it so far."""
        return self._scheduled_at

    @property
    def event_count(self) -> int:
        """How many events the instance has received (including the current one)."""
        return self._event_count

    @property
    def execute_count(self) -> int:
        """How many times ``execute`` has run (retries of one run share its number)."""
        return self._execute_count

    @property
    def created_at(self) -> datetime:
        """When the instance was created."""
        return self._created_at


class TaskEventContext(TaskContext[S]):
    """The context of Task ``on_event(event, ctx)``."""

    is_first_event: bool = False
    """True for the event that created the instance."""


class TaskIdleContext(TaskContext[S]):
    """The context of Task ``on_idle(ctx)``: runs when nothing is scheduled."""

    idle_reason: IdleReason = "on_event"
    """``"on_event"`` or ``"execute"``: what left the task idle."""


class TaskErrorContext(TaskContext[S]):
    """The context of Task ``on_error(error, ctx)``."""

    error_source: ErrorSource = "on_event"
    """``"on_event"`` or ``"execute"``: which handler failed."""
