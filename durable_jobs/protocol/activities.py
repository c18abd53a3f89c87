"""What the workflows send to the handler activity and what it hands back.

Plain dataclasses, so Temporal's default data converter carries them and the workflow sandbox can
import them cheaply. User state travels as JSON-ready data: the workflows never import user models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

RUN_HANDLER = "durable_jobs.run_handler"
"""The activity type name of the one handler-running activity."""

EMIT_STEP_EVENTS = "durable_jobs.emit_step_events"
"""The activity type name of the activity that emits the lifecycle events of workflow steps."""

HEARTBEAT_TIMEOUT = timedelta(seconds=10)
"""How soon a lost worker's handler is retried elsewhere, and a terminate reaches a handler."""


@dataclass
class HandlerError:
    """A handler's failure: the exception type's name and its message."""

    error_type: str
    message: str


@dataclass
class StepEvent:
    """A lifecycle event of a workflow step (``job.started``, ``debounce.started``)."""

    name: str
    timestamp: datetime
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class HandlerCall:
    """One call of a user handler: which job and handler, on which instance, with what state."""

    kind: str
    job_name: str
    handler: str
    instance_id: str
    user_id: str
    attempt: int
    state: Any
    run_count: int = 0
    event_count: int = 0
    started_at: datetime | None = None
    flush_reason: str | None = None
    event: Any = None
    execute_count: int = 0
    created_at: datetime | None = None
    scheduled_at: datetime | None = None
    now: datetime | None = None
    is_first_event: bool = False
    idle_reason: str | None = None
    error_source: str | None = None
    error: HandlerError | None = None
    will_retry: bool = False
    step_events: list[StepEvent] = field(default_factory=list)
    """Events of workflow steps taken since the last report; emitted before the handler runs."""


@dataclass
class HandlerOutcome:
    """What the handler did: the new state on success, or the error; and whether it terminated.

    ``state`` and ``scheduled_at`` (Task) are the context's values when the handler ended; after
    a failure they are the changes made before it, which only Task ``on_error`` may keep.

    The activity never raises for a user's exception: it returns ``ok=False`` with the error, so
    Temporal's own activity retries stay reserved for infrastructure faults.
    """

    ok: bool
    state: Any = None
    error: HandlerError | None = None
    terminated: bool = False
    terminate_reason: str | None = None
    duration_ms: int = 0
    scheduled_at: datetime | None = None


@dataclass
class StepEvents:
    """The events one instance's workflow steps produced, emitted once the steps are durable."""

    kind: str
    job_name: str
    instance_id: str
    user_id: str
    events: list[StepEvent]
