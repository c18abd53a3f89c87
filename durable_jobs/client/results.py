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
    attempt: int


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
    message: str
    attempt: int
    failed_at: AwareDatetime


class StartResult(Result):
    """``start``: whether this call created the instance, its id and its status."""

    created: bool
    instance_id: str
    status: Literal["running", "stopped", "paused"]


class TriggerResult(Result):
    """``trigger``: ``triggered=False`` when the instance does not exist.

    ``succeeded`` says how the run's attempt went (``None`` when it did not run); ``error`` is
    its failure when it failed (a retry is then scheduled, or ``on_error`` handled it).
    """

    triggered: bool
    succeeded: bool | None = None
    error: LastErrorInfo | None = None


class PauseResult(Result):
    """``pause``: ``paused=False`` when the instance does not exist or was paused already."""

    paused: bool


class ResumeResult(Result):
    """``resume``: ``resumed=False`` when the instance does not exist or was running already."""

    resumed: bool
    next_run_at: AwareDatetime | None = None


class RescheduleResult(Result):
    """``reschedule``: ``rescheduled=False`` when the instance does not exist."""

    rescheduled: bool
    next_run_at: AwareDatetime | None = None


class InstanceSummary(Result):
    """One instance in a ``list``: its user id, workflow ID and status (from its summary)."""

    id: str
    instance_id: str
    status: str


class TerminateResult(Result):
    """``terminate``: ``terminated=False, reason="not_found"`` when there was nothing to stop."""

    terminated: bool
    reason: str | None = None


class StateResult(Result, Generic[S]):
    """``get_state``: the typed state, ``None`` when the instance does not exist."""

    state: S | None


class AddResult(Result):
    """``add``: whether this call created the instance, the batch's event count, the deadline.

    While a flush attempt runs, ``event_count`` counts the events waiting behind it and
    ``will_flush_at`` is ``None`` (their flush time depends on how the attempt ends).
    """

    created: bool
    instance_id: str
    event_count: int
    will_flush_at: AwareDatetime | None


class FlushResult(Result):
    """``flush``: ``flushed=False, event_count=0, reason="empty"`` when there was nothing."""

    flushed: bool
    event_count: int
    reason: Literal["manual", "empty"]


class ClearResult(Result):
    """``clear``: how many events were dropped without ``execute``."""

    cleared: bool
    discarded_events: int


class DebounceStatus(StatusResult):
    """``status`` of a Debounce instance (SPEC §5.2)."""

    status: Literal["debouncing", "idle", "not_found"]
    event_count: int | None = None
    will_flush_at: AwareDatetime | None = None
    started_at: AwareDatetime | None = None
    last_error: LastErrorInfo | None = None
    as_of: AwareDatetime | None = None
    problem: ProblemInfo | None = None


class SendResult(Result):
    """``send``: whether this call created the task, its id and the pending alarm."""

    created: bool
    instance_id: str
    scheduled_at: AwareDatetime | None


class TaskStatus(StatusResult):
    """``status`` of a Task instance (SPEC §5.3)."""

    status: Literal["active", "idle", "not_found"]
    scheduled_at: AwareDatetime | None = None
    event_count: int | None = None
    execute_count: int | None = None
    created_at: AwareDatetime | None = None
    last_error: LastErrorInfo | None = None
    as_of: AwareDatetime | None = None
    problem: ProblemInfo | None = None


class TaskStateResult(Result, Generic[S]):
    """``get_state`` of a Task: the typed state and the pending alarm."""

    state: S | None
    scheduled_at: AwareDatetime | None


class ContinuousStatus(StatusResult):
    """``status`` of a Continuous instance (SPEC §5.1)."""

    status: Literal["running", "stopped", "paused", "not_found"]
    run_count: int | None = None
    next_run_at: AwareDatetime | None = None
    last_error: LastErrorInfo | None = None
    as_of: AwareDatetime | None = None
    problem: ProblemInfo | None = None


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
