"""The three job definitions a user writes: :class:`Continuous`, :class:`Debounce`, :class:`Task`.

A definition is validated completely when it is built (SPEC §3): a wrong model, duration, cron
expression, handler or retry raises :class:`JobDefinitionError` there, never at run time. A
definition carries no name: the :class:`~durable_jobs.DurableJobs` key is the job's name.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, Union, cast, overload

from pydantic import BaseModel, TypeAdapter

from durable_jobs._models import union_members
from durable_jobs._naming import JobKind
from durable_jobs.context import (
    ContinuousContext,
    DebounceEventContext,
    DebounceExecuteContext,
    TaskContext,
    TaskErrorContext,
    TaskEventContext,
    TaskIdleContext,
)
from durable_jobs.durations import Duration, parse_duration
from durable_jobs.errors import ExecutionError, JobDefinitionError
from durable_jobs.retry import RetryConfig
from durable_jobs.schedules import Schedule

S = TypeVar("S", bound=BaseModel)
E = TypeVar("E")
DS = TypeVar("DS")

DEFAULT_TIMEOUT = timedelta(minutes=10)
"""How long one handler call may run unless a definition sets ``timeout``."""

DEFAULT_IDEMPOTENCY_WINDOW = timedelta(minutes=10)
"""How long an instance remembers an ``idempotency_key`` unless a definition says otherwise."""

Migrate = Callable[[Any, int], Any]
"""``migrate(data, from_version)``: stored state of an older version (JSON-ready data) to the
current model, or to data that validates as it. Pure: it may run again on a retry."""

Handler = Callable[..., Awaitable[Any] | Any]
"""A user handler: ``async def`` or plain ``def`` (run in a thread)."""

UnionForm = Union["typing._SpecialForm", types.UnionType]
"""What a type checker sees for ``event=Annotated[A | B, Field(discriminator=...)]`` or
``Union[A, B]``: the event type is then inferred from the handlers' annotations."""


def _check_model(kind: str, field: str, value: object) -> None:
    if not (isinstance(value, type) and issubclass(value, BaseModel)):
        raise JobDefinitionError(
            f"{kind}({field}=...): got {value!r}; expected a pydantic BaseModel subclass"
        )


def _check_event(kind: str, value: object) -> None:
    """An event type is a model, or a union of models (e.g. a discriminated union)."""
    if isinstance(value, type) and issubclass(value, BaseModel):
        return
    members = union_members(value)
    if not members or not all(isinstance(m, type) and issubclass(m, BaseModel) for m in members):
        raise JobDefinitionError(
            f"{kind}(event=...): got {value!r}; expected a pydantic BaseModel subclass or a "
            "union of them (for example a discriminated union)"
        )
    try:
        TypeAdapter(cast(Any, value))
    except Exception as exc:  # pydantic raises several types for unusable schemas
        raise JobDefinitionError(
            f"{kind}(event=...): pydantic cannot validate {value!r}: {exc}"
        ) from exc


def _check_handler(kind: str, field: str, value: object, *, required: bool, arity: int) -> None:
    if value is None:
        if required:
            raise JobDefinitionError(f"{kind}({field}=...) is required; expected a function")
        return
    if not callable(value):
        raise JobDefinitionError(f"{kind}({field}=...): got {value!r}; expected a function")
    try:
        inspect.signature(value).bind(*range(arity))
    except TypeError as exc:
        raise JobDefinitionError(
            f"{kind}({field}=...): {getattr(value, '__name__', value)!r} cannot be called with "
            f"{arity} positional argument(s): {exc}"
        ) from exc
    except ValueError:  # builtins without a signature: accept, they fail loudly if wrong
        return


def _check_retry(kind: str, value: object) -> None:
    if value is not None and not isinstance(value, RetryConfig):
        raise JobDefinitionError(
            f"{kind}(retry=...): got {value!r}; expected a RetryConfig or None"
        )


MAX_LOCAL_TIMEOUT = timedelta(seconds=30)
"""The longest handler ``timeout`` a job whose handlers run as local activities may have."""


def _check_common(kind: str, definition: Any) -> None:
    """What every kind has: retry, timeout, local handlers, published status, idempotency
    window, state version and migration."""
    _check_retry(kind, definition.retry)
    timeout = parse_duration(definition.timeout, what=f"{kind}(timeout)")
    object.__setattr__(definition, "timeout", timeout)
    for flag in ("local", "publish_status"):
        if not isinstance(getattr(definition, flag), bool):
            raise JobDefinitionError(
                f"{kind}({flag}=...): got {getattr(definition, flag)!r}; expected a bool"
            )
    if definition.local and timeout > MAX_LOCAL_TIMEOUT:
        raise JobDefinitionError(
            f"{kind}(local=True) runs handlers as local activities, which suit short handlers; "
            f"timeout {timeout} is over {MAX_LOCAL_TIMEOUT}: expected timeout= of at most "
            f"{MAX_LOCAL_TIMEOUT} (the default is {DEFAULT_TIMEOUT}), or local=False"
        )
    object.__setattr__(
        definition,
        "idempotency_window",
        parse_duration(definition.idempotency_window, what=f"{kind}(idempotency_window)"),
    )
    version = definition.state_version
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise JobDefinitionError(
            f"{kind}(state_version=...): got {version!r}; expected an int >= 1"
        )
    _check_handler(kind, "migrate", definition.migrate, required=False, arity=2)
    if version > 1 and definition.migrate is None:
        raise JobDefinitionError(
            f"{kind}(state_version={version}) needs migrate=...: a function "
            "migrate(data, from_version) that turns older stored state into the current model"
        )


@dataclass(frozen=True, eq=False)
class Continuous(Generic[S]):
    """A job that runs ``execute`` on a schedule, forever, with persisted state (SPEC §5.1).

    ``start_immediately`` runs the first time as soon as the instance starts; otherwise the first
    run is due one schedule step later. ``timeout`` bounds one call of ``execute``. When a run
    fails with no attempt left the schedule goes on (``last_error`` set); with
    ``pause_on_failure`` the instance stops instead until ``resume`` or ``trigger``. A run found
    more than ``catch_up_window`` late (after an outage) is skipped; ``None`` runs it once, late.
    ``local=True`` runs ``execute`` as a Temporal local activity (see the docs: short handlers).
    """

    kind: ClassVar[JobKind] = "continuous"

    state: type[S]
    """The pydantic model of the instance's state; ``start``'s ``input`` is its first value."""
    schedule: Schedule
    """When it runs: :func:`~durable_jobs.every` (a fixed delay after each run) or
    :func:`~durable_jobs.cron`."""
    execute: Callable[[ContinuousContext[S]], Awaitable[None] | None]
    """The run: ``async def`` or ``def`` (run in a thread), given a :class:`ContinuousContext`."""
    start_immediately: bool = True
    """Run as soon as the instance starts; ``False``: the first run is one schedule step later."""
    retry: RetryConfig | None = None
    """Retries of a failed run, as durable timers; ``None``: one attempt."""
    timeout: Duration = DEFAULT_TIMEOUT
    """How long one call of ``execute`` may run; an overrun is a failed attempt."""
    local: bool = False
    """Run the handlers as Temporal local activities (short handlers: ``timeout`` at most 30 s)."""
    publish_status: bool = True
    """Write each status change to Temporal visibility (``JobStatus`` and the memo summary), for
    ``list``/``count``/``terminate_all`` by status and ``status`` without a worker. ``False``
    saves one visibility update per status change (see the docs: Operating)."""
    pause_on_failure: bool = False
    """With no attempt left, stop (status ``"stopped"``) until ``resume`` or ``trigger``,
    instead of going on with the next regular run."""
    catch_up_window: Duration | None = None
    """A run found more than this late when the instance wakes (after an outage) is skipped,
    with a ``job.skipped`` event; ``None``: it runs once, late."""
    idempotency_window: Duration = DEFAULT_IDEMPOTENCY_WINDOW
    """How long the instance remembers an ``idempotency_key``."""
    state_version: int = 1
    """The version of ``state``'s shape; raise it when the model changes incompatibly."""
    migrate: Migrate | None = None
    """``migrate(data, from_version)``: older stored state to the current model (required
    when ``state_version > 1``)."""

    def __post_init__(self) -> None:
        _check_model("Continuous", "state", self.state)
        if not isinstance(self.schedule, Schedule):
            raise JobDefinitionError(
                f"Continuous(schedule=...): got {self.schedule!r}; expected every(...) or cron(...)"
            )
        _check_handler("Continuous", "execute", self.execute, required=True, arity=1)
        for flag in ("start_immediately", "pause_on_failure"):
            if not isinstance(getattr(self, flag), bool):
                raise JobDefinitionError(
                    f"Continuous({flag}=...): got {getattr(self, flag)!r}; expected a bool"
                )
        if self.catch_up_window is not None:
            object.__setattr__(
                self,
                "catch_up_window",
                parse_duration(self.catch_up_window, what="Continuous(catch_up_window)"),
            )
        _check_common("Continuous", self)


@dataclass(frozen=True, eq=False)
class Debounce(Generic[E, DS]):
    """A job that folds events per key and flushes one batch to ``execute`` (SPEC §5.2, §10.4).

    ``window="fixed"``: the batch flushes ``flush_after`` after its first event.
    ``window="sliding"``: each event moves the deadline to ``flush_after`` from now (a quiet
    period), never later than ``max_wait`` after the first event. A batch holding
    ``max_events`` flushes at once. ``on_event(ctx)`` is a pure reducer returning the new state;
    without it the state is the latest event. ``state`` defaults to the event type. Typed as
    ``Debounce[EventModel, StateModel]``.
    """

    kind: ClassVar[JobKind] = "debounce"

    event: Any
    """The pydantic model of one event, or a union of models (e.g. a discriminated union)."""
    execute: Handler
    """The flush: given a :class:`DebounceExecuteContext` with the batch's folded state."""
    flush_after: Duration
    """How long after the batch's first event (``"sliding"``: after its latest) it flushes."""
    state: Any = None
    """The model of the folded batch; ``None``: the event type (the latest event is the state)."""
    max_events: int | None = None
    """A batch holding this many events flushes at once; ``None``: no limit."""
    on_event: Handler | None = None
    """The reducer ``on_event(ctx) -> state``: pure and cheap, it runs inside the workflow."""
    retry: RetryConfig | None = None
    """Retries of a failed flush; ``None``: one attempt, then a new flush ``flush_after`` later."""
    timeout: Duration = DEFAULT_TIMEOUT
    """How long one call of ``execute`` may run; an overrun is a failed attempt."""
    local: bool = False
    """Run the handlers as Temporal local activities (short handlers: ``timeout`` at most 30 s)."""
    publish_status: bool = True
    """Write each status change to Temporal visibility (``JobStatus`` and the memo summary), for
    ``list``/``count``/``terminate_all`` by status and ``status`` without a worker. ``False``
    saves one visibility update per status change (see the docs: Operating)."""
    window: Literal["fixed", "sliding"] = "fixed"
    """``"fixed"``: the deadline is set by the first event; ``"sliding"``: each event moves it."""
    max_wait: Duration | None = None
    """Sliding windows only: the latest a batch flushes after its first event (``>= flush_after``)."""
    idempotency_window: Duration = DEFAULT_IDEMPOTENCY_WINDOW
    """How long the instance remembers an ``idempotency_key`` (an idle instance lives on for it)."""
    state_version: int = 1
    """The version of ``state``'s shape; raise it when the model changes incompatibly."""
    migrate: Migrate | None = None
    """``migrate(data, from_version)``: older stored state to the current model (required
    when ``state_version > 1``)."""

    if TYPE_CHECKING:
        # What type checkers see; at run time the dataclass's own __init__ runs. A model event
        # types E; a union form (``Annotated[A | B, ...]``) leaves E to the handlers.
        @overload
        def __init__(
            self,
            *,
            event: type[E],
            execute: Callable[[DebounceExecuteContext[DS]], Awaitable[None] | None],
            flush_after: Duration,
            state: type[DS] | None = None,
            max_events: int | None = None,
            on_event: Callable[[DebounceEventContext[E, DS]], DS | Awaitable[DS]] | None = None,
            retry: RetryConfig | None = None,
            timeout: Duration = DEFAULT_TIMEOUT,
            local: bool = False,
            publish_status: bool = True,
            window: Literal["fixed", "sliding"] = "fixed",
            max_wait: Duration | None = None,
            idempotency_window: Duration = DEFAULT_IDEMPOTENCY_WINDOW,
            state_version: int = 1,
            migrate: Migrate | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self,
            *,
            event: UnionForm,
            execute: Callable[[DebounceExecuteContext[DS]], Awaitable[None] | None],
            flush_after: Duration,
            state: type[DS] | None = None,
            max_events: int | None = None,
            on_event: Callable[[DebounceEventContext[E, DS]], DS | Awaitable[DS]] | None = None,
            retry: RetryConfig | None = None,
            timeout: Duration = DEFAULT_TIMEOUT,
            local: bool = False,
            publish_status: bool = True,
            window: Literal["fixed", "sliding"] = "fixed",
            max_wait: Duration | None = None,
            idempotency_window: Duration = DEFAULT_IDEMPOTENCY_WINDOW,
            state_version: int = 1,
            migrate: Migrate | None = None,
        ) -> None: ...
        def __init__(self, **fields: Any) -> None: ...

    def __post_init__(self) -> None:
        _check_event("Debounce", self.event)
        if self.state is None:
            object.__setattr__(self, "state", self.event)
        elif self.state is not self.event:
            _check_model("Debounce", "state", self.state)
        _check_handler("Debounce", "execute", self.execute, required=True, arity=1)
        _check_handler("Debounce", "on_event", self.on_event, required=False, arity=1)
        flush_after = parse_duration(self.flush_after, what="Debounce(flush_after)")
        object.__setattr__(self, "flush_after", flush_after)
        if self.max_events is not None and (
            isinstance(self.max_events, bool)
            or not isinstance(self.max_events, int)
            or self.max_events < 1
        ):
            raise JobDefinitionError(
                f"Debounce(max_events=...): got {self.max_events!r}; expected an int >= 1 or None"
            )
        if self.window not in ("fixed", "sliding"):
            raise JobDefinitionError(
                f"Debounce(window=...): got {self.window!r}; expected 'fixed' or 'sliding'"
            )
        if self.max_wait is not None:
            if self.window != "sliding":
                raise JobDefinitionError(
                    "Debounce(max_wait=...) caps a sliding window; it needs window='sliding' "
                    "(a fixed window flushes flush_after after the first event anyway)"
                )
            max_wait = parse_duration(self.max_wait, what="Debounce(max_wait)")
            if max_wait < flush_after:
                raise JobDefinitionError(
                    f"Debounce(max_wait=...): {max_wait} is shorter than flush_after "
                    f"({flush_after}); expected max_wait >= flush_after"
                )
            object.__setattr__(self, "max_wait", max_wait)
        _check_common("Debounce", self)


@dataclass(frozen=True, eq=False)
class Task(Generic[S, E]):
    """An event-driven state machine with one alarm (SPEC §5.3).

    ``on_event(event, ctx)`` updates state and may ``ctx.schedule(...)`` the alarm; ``execute(ctx)``
    runs when it fires; ``on_idle(ctx)`` runs when nothing is scheduled; ``on_error(error, ctx)``
    handles failures of ``on_event`` and of ``execute`` after its retries. Typed as
    ``Task[StateModel, EventModel]``.
    """

    kind: ClassVar[JobKind] = "task"

    state: type[S]
    """The pydantic model of the state; ``None`` until a handler sets it."""
    event: Any
    """The pydantic model of an event, or a union of models (e.g. a discriminated union)."""
    on_event: Handler
    """``on_event(event, ctx)``: runs for every ``send``; may set state and the alarm."""
    execute: Handler
    """``execute(ctx)``: runs when the alarm fires (it is consumed first) and on ``trigger``."""
    on_idle: Handler | None = None
    """``on_idle(ctx)``: runs after ``on_event`` or ``execute`` leaves no alarm pending."""
    on_error: Handler | None = None
    """``on_error(error, ctx)``: handles a failed ``on_event``, or ``execute`` after its retries."""
    retry: RetryConfig | None = None
    """Retries of ``execute`` when the alarm fired; ``None``: one attempt."""
    timeout: Duration = DEFAULT_TIMEOUT
    """How long one handler call may run; an overrun is a failure."""
    local: bool = False
    """Run the handlers as Temporal local activities (short handlers: ``timeout`` at most 30 s)."""
    publish_status: bool = True
    """Write each status change to Temporal visibility (``JobStatus`` and the memo summary), for
    ``list``/``count``/``terminate_all`` by status and ``status`` without a worker. ``False``
    saves one visibility update per status change (see the docs: Operating)."""
    idempotency_window: Duration = DEFAULT_IDEMPOTENCY_WINDOW
    """How long the instance remembers an ``idempotency_key``."""
    state_version: int = 1
    """The version of ``state``'s shape; raise it when the model changes incompatibly."""
    migrate: Migrate | None = None
    """``migrate(data, from_version)``: older stored state to the current model (required
    when ``state_version > 1``)."""

    if TYPE_CHECKING:
        # What type checkers see; at run time the dataclass's own __init__ runs.
        @overload
        def __init__(
            self,
            *,
            state: type[S],
            event: type[E],
            on_event: Callable[[E, TaskEventContext[S]], Awaitable[None] | None],
            execute: Callable[[TaskContext[S]], Awaitable[None] | None],
            on_idle: Callable[[TaskIdleContext[S]], Awaitable[None] | None] | None = None,
            on_error: Callable[[ExecutionError, TaskErrorContext[S]], Awaitable[None] | None]
            | None = None,
            retry: RetryConfig | None = None,
            timeout: Duration = DEFAULT_TIMEOUT,
            local: bool = False,
            publish_status: bool = True,
            idempotency_window: Duration = DEFAULT_IDEMPOTENCY_WINDOW,
            state_version: int = 1,
            migrate: Migrate | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self,
            *,
            state: type[S],
            event: UnionForm,
            on_event: Callable[[E, TaskEventContext[S]], Awaitable[None] | None],
            execute: Callable[[TaskContext[S]], Awaitable[None] | None],
            on_idle: Callable[[TaskIdleContext[S]], Awaitable[None] | None] | None = None,
            on_error: Callable[[ExecutionError, TaskErrorContext[S]], Awaitable[None] | None]
            | None = None,
            retry: RetryConfig | None = None,
            timeout: Duration = DEFAULT_TIMEOUT,
            local: bool = False,
            publish_status: bool = True,
            idempotency_window: Duration = DEFAULT_IDEMPOTENCY_WINDOW,
            state_version: int = 1,
            migrate: Migrate | None = None,
        ) -> None: ...
        def __init__(self, **fields: Any) -> None: ...

    def __post_init__(self) -> None:
        _check_model("Task", "state", self.state)
        _check_event("Task", self.event)
        _check_handler("Task", "on_event", self.on_event, required=True, arity=2)
        _check_handler("Task", "execute", self.execute, required=True, arity=1)
        _check_handler("Task", "on_idle", self.on_idle, required=False, arity=1)
        _check_handler("Task", "on_error", self.on_error, required=False, arity=2)
        _check_common("Task", self)


JobDefinition = Continuous[Any] | Debounce[Any, Any] | Task[Any, Any]
"""Any of the three definitions."""


def milliseconds(duration: Duration) -> int:
    """A duration a definition holds (already a ``timedelta``), in whole milliseconds."""
    return parse_duration(duration) // timedelta(milliseconds=1)
