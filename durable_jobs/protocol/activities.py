"""What the workflows send to the handler activity and what it hands back.

One handler call carries one or more steps, each the user code one message needs (a Task
``send`` is ``on_event``, then ``on_error`` if it failed, then ``on_idle`` if nothing is
scheduled). Several queued messages of one instance share one call: the steps run in order,
each on the state the previous one left, each committed or failed on its own. User state
travels as JSON-ready data: the workflows never import user models.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

RUN_HANDLER = "durable_jobs.run_handler"
"""The activity type name of the one handler-running activity."""

EMIT_STEP_EVENTS = "durable_jobs.emit_step_events"
"""The activity type name of the activity that emits the lifecycle events of workflow steps."""

HEARTBEAT_TIMEOUT = timedelta(seconds=10)
"""How soon a lost worker's handler is retried elsewhere, and a terminate reaches a handler."""

StepName = Literal["run", "flush", "send", "trigger", "alarm", "recover"]
"""What a step does.

``run``: a Continuous ``execute``. ``flush``: a Debounce ``execute``. Task: ``send``
(``on_event``, ``on_error`` on failure, ``on_idle`` when nothing is scheduled), ``trigger``
(``execute``, ``on_error`` on failure, ``on_idle``), ``alarm`` (``execute`` of the alarm or a
retry, ``on_idle`` on success) and ``recover`` (``on_error`` for an ``execute`` with no retry
left, then ``on_idle``).
"""


@dataclass
class HandlerError:
    """A handler's failure: the exception type's name and its message."""

    error_type: str
    message: str


@dataclass
class StepEvent:
    """A lifecycle event of a workflow step (``job.started``, ``debounce.started``, ...)."""

    name: str
    timestamp: datetime
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class HandlerStep:
    """One message's user code in a handler call."""

    name: StepName
    event: Any = None
    attempt: int = 1
    run_count: int = 0
    will_retry: bool = False
    error: HandlerError | None = None
    """For ``recover``: the failure of ``execute`` that ``on_error`` receives."""


@dataclass
class DebounceBatch:
    """What a Debounce flush delivers besides the state."""

    event_count: int
    started_at: datetime
    flush_reason: str


@dataclass
class HandlerCall:
    """One call of the handler activity: which job, which instance, its state, the steps."""

    kind: str
    job_name: str
    instance_id: str
    user_id: str
    state: Any
    steps: list[HandlerStep]
    now: datetime
    state_version: int = 1
    event_count: int = 0
    execute_count: int = 0
    created_at: datetime | None = None
    scheduled_at: datetime | None = None
    batch: DebounceBatch | None = None
    step_events: list[StepEvent] = field(default_factory=list)
    """Events of workflow steps taken since the last report; emitted before the handlers run."""


@dataclass
class StepOutcome:
    """What one step did.

    ``ok=False`` means nothing of the step is kept (a Task ``on_error`` that handled the
    failure makes the step ``ok``). ``scheduled_at``, ``event_count`` and ``execute_count`` are
    the Task's values after the step. ``idle_error`` is a failed ``on_idle`` after an ``ok``
    step: recorded, not the step's failure.
    """

    ok: bool
    error: HandlerError | None = None
    terminated: bool = False
    terminate_reason: str | None = None
    scheduled_at: datetime | None = None
    event_count: int = 0
    execute_count: int = 0
    idle_error: HandlerError | None = None
    handled_error: HandlerError | None = None
    """A Task ``execute`` failure that ``on_error`` handled: the step is ``ok``, the failure is
    still the instance's last error."""
    duration_ms: int = 0


@dataclass
class HandlerOutcome:
    """The outcome of each step, and the state the last step left as JSON-ready data.

    ``state`` is only sent back when a step changed it (``state_changed``); ``steps`` may be
    shorter than the call's when a step terminated the instance (the rest did not run).

    The activity never raises for a user's exception: a failure is a step outcome, so
    Temporal's own activity retries stay reserved for infrastructure faults.
    """

    steps: list[StepOutcome]
    state_changed: bool = False
    state: Any = None
    state_bytes: int = 0
    state_version: int = 1


@dataclass
class StepEvents:
    """The events one instance's workflow steps produced, emitted once the steps are durable."""

    kind: str
    job_name: str
    instance_id: str
    user_id: str
    events: list[StepEvent]
