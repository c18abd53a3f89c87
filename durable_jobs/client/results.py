"""The results of client calls: frozen pydantic models, snake_case fields, camelCase JSON aliases.

Times are timezone-aware UTC datetimes. "Not found" is an answer here, never an exception.
"""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

S = TypeVar("S")


class Result(BaseModel):
    """Base of every result: frozen, with camelCase aliases (``instanceId``) for JSON."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)


class ProblemInfo(Result):
    """Why an instance is not making progress: its workflow task keeps failing.

    ``message`` is the last workflow task failure (a bug in a reducer that the worker's Python
    raises, a worker without the job, a non-determinism error); ``attempt`` counts the tries.
    """

    message: str
    """The last workflow task failure's message."""
    attempt: int
    """How many times the workflow task has been tried."""


class StatusResult(Result):
    """Base of the ``status`` results, which end with ``as_of`` and ``problem``.

    ``as_of`` is ``None`` when a worker answered, live. When no worker answered in time the
    answer is the summary the instance's workflow last wrote to its memo, and ``as_of`` is when
    it wrote it: exact as of then, but calls waiting for a worker since are not in it.
    ``problem`` is set while the instance's workflow task keeps failing.
    """


class LastErrorInfo(Result):
    """The most recent handler failure: type, message, which attempt and when."""

    error_type: str
    """The exception's type name, e.g. ``"ConnectionError"``."""
    message: str
    """The exception's message."""
    attempt: int
    """The attempt that failed (1 = the first)."""
    failed_at: AwareDatetime
    """When it failed (UTC)."""


class StartResult(Result):
    """``start``: whether this call created the instance, its id and its status."""

    created: bool
    """True only for the call that created the instance; an existing one is left as it is."""
    instance_id: str
    """The workflow ID, ``continuous:{job_name}:{id}``."""
    status: Literal["running", "stopped", "paused"]
    """The instance's status now."""


class TriggerResult(Result):
    """``trigger``: ``triggered=False`` when the instance does not exist.

    ``succeeded`` says how the run's attempt went (``None`` when it did not run); ``error`` is
    its failure when it failed (a retry is then scheduled, or ``on_error`` handled it).
    """

    triggered: bool
    """False when the instance does not exist (nothing ran)."""
    succeeded: bool | None = None
    """How the run's attempt went; ``None`` when nothing ran."""
    error: LastErrorInfo | None = None
    """The attempt's failure, when ``succeeded`` is False."""


class PauseResult(Result):
    """``pause``: ``paused=False`` when the instance does not exist or was paused already."""

    paused: bool
    """True when this call paused the instance."""


class ResumeResult(Result):
    """``resume``: ``resumed=False`` when the instance does not exist or was running already."""

    resumed: bool
    """True when this call resumed a paused or stopped instance."""
    next_run_at: AwareDatetime | None = None
    """The next run, per the schedule from now."""


class RescheduleResult(Result):
    """``reschedule``: ``rescheduled=False`` when the instance does not exist."""

    rescheduled: bool
    """True when the instance exists and now runs on the new schedule."""
    next_run_at: AwareDatetime | None = None
    """The next run on the new schedule (a pending retry stays; ``None`` while paused or stopped)."""


class InstanceSummary(Result):
    """One instance in a ``list``: its user id, workflow ID and status (from its summary)."""

    id: str
    """The user id."""
    instance_id: str
    """The workflow ID."""
    status: str
    """The status the instance's summary shows (see ``StatusResult.as_of``); ``""`` for a job
    defined with ``publish_status=False``, whose instances keep no summary."""


class TerminateResult(Result):
    """``terminate``: ``terminated=False, reason="not_found"`` when there was nothing to stop."""

    terminated: bool
    """True when an instance was running and is now gone."""
    reason: str | None = None
    """The reason given, or ``"not_found"`` when there was nothing to stop."""


class StateResult(Result, Generic[S]):
    """``get_state``: the typed state, ``None`` when the instance does not exist."""

    state: S | None
    """The state as the job's model, or ``None``."""


class AddResult(Result):
    """``add``: whether this call created the instance, the batch's event count, the deadline.

    While a flush attempt runs, ``event_count`` counts the events waiting behind it and
    ``will_flush_at`` is ``None`` (their flush time depends on how the attempt ends).
    """

    created: bool
    """True when this add created the instance, or started its next batch after a flush."""
    instance_id: str
    """The workflow ID, ``debounce:{job_name}:{id}``."""
    event_count: int
    """Events in the batch, this one included (behind a running flush: events held behind it)."""
    will_flush_at: AwareDatetime | None
    """When the batch flushes; now when it reached ``max_events``; ``None`` behind a flush."""


class FlushResult(Result):
    """``flush``: ``flushed=False, event_count=0, reason="empty"`` when there was nothing."""

    flushed: bool
    """True when a batch was delivered."""
    event_count: int
    """How many events it held."""
    reason: Literal["manual", "empty"]
    """``"manual"``, or ``"empty"`` when there was nothing to flush."""


class ClearResult(Result):
    """``clear``: how many events were dropped without ``execute``."""

    cleared: bool
    """True when there were events to drop."""
    discarded_events: int
    """How many (the batch and any held behind a running flush)."""


class DebounceStatus(StatusResult):
    """``status`` of a Debounce instance (SPEC §5.2)."""

    status: Literal["debouncing", "idle", "not_found"]
    """``"debouncing"``: events wait; ``"idle"``: it exists (holding idempotency keys) with none."""
    event_count: int | None = None
    """Events in the batch (while a flush runs: events held behind it)."""
    will_flush_at: AwareDatetime | None = None
    """The next flush or retry; ``None`` while a flush runs or nothing waits."""
    started_at: AwareDatetime | None = None
    """When the batch's first event arrived."""
    last_error: LastErrorInfo | None = None
    """The latest failure of a flush or of a refused event; cleared by a successful flush."""
    as_of: AwareDatetime | None = None
    """``None`` for a live answer; else when the memo summary it comes from was written."""
    problem: ProblemInfo | None = None
    """Set while the instance's workflow task keeps failing."""


class SendResult(Result):
    """``send``: whether this call created the task, its id and the pending alarm."""

    created: bool
    """True only for the send that created the instance."""
    instance_id: str
    """The workflow ID, ``task:{job_name}:{id}``."""
    scheduled_at: AwareDatetime | None
    """The alarm ``on_event`` and ``on_idle`` left pending, or ``None``."""


class TaskStatus(StatusResult):
    """``status`` of a Task instance (SPEC §5.3)."""

    status: Literal["active", "idle", "not_found"]
    """``"active"`` while an alarm (or a retry of ``execute``) is pending, else ``"idle"``."""
    scheduled_at: AwareDatetime | None = None
    """The pending alarm or retry."""
    event_count: int | None = None
    """Events handled (sends whose ``on_event`` failed unhandled do not count)."""
    execute_count: int | None = None
    """Runs of ``execute`` (retries of one run do not count)."""
    created_at: AwareDatetime | None = None
    """When the instance was created."""
    last_error: LastErrorInfo | None = None
    """The latest failure of ``execute`` or ``on_idle``, or of a fire-and-forget send."""
    as_of: AwareDatetime | None = None
    """``None`` for a live answer; else when the memo summary it comes from was written."""
    problem: ProblemInfo | None = None
    """Set while the instance's workflow task keeps failing."""


class TaskStateResult(Result, Generic[S]):
    """``get_state`` of a Task: the typed state and the pending alarm."""

    state: S | None
    """The state as the job's model; ``None`` until set, or when the task does not exist."""
    scheduled_at: AwareDatetime | None
    """The pending alarm."""


class ContinuousStatus(StatusResult):
    """``status`` of a Continuous instance (SPEC §5.1)."""

    status: Literal["running", "stopped", "paused", "not_found"]
    """``"stopped"``: a run failed with ``pause_on_failure``; ``"paused"``: by ``pause``."""
    run_count: int | None = None
    """Runs so far (retries of one run do not count)."""
    next_run_at: AwareDatetime | None = None
    """The next run or retry; ``None`` while paused, stopped or running."""
    last_error: LastErrorInfo | None = None
    """The latest failure; cleared by a successful run."""
    as_of: AwareDatetime | None = None
    """``None`` for a live answer; else when the memo summary it comes from was written."""
    problem: ProblemInfo | None = None
    """Set while the instance's workflow task keeps failing."""


__all__: list[str] = [
    "AddResult",
    "ClearResult",
    "ContinuousStatus",
    "DebounceStatus",
    "FlushResult",
    "InstanceSummary",
    "LastErrorInfo",
    "PauseResult",
    "ProblemInfo",
    "RescheduleResult",
    "Result",
    "ResumeResult",
    "SendResult",
    "StartResult",
    "StateResult",
    "TaskStateResult",
    "TaskStatus",
    "TerminateResult",
    "TriggerResult",
]
