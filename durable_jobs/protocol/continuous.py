"""The Continuous workflow's wire types: its input, record, requests, replies and views."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from durable_jobs.protocol import Call, CallAnswer, CarriedMessage, LastError
from durable_jobs.retry import RetryPlan
from durable_jobs.schedules import Schedule

ContinuousStatusName = Literal["running", "stopped", "paused"]


@dataclass
class ContinuousSpec:
    """What the workflow needs of the definition: the schedule and how failures are handled.

    The handler timeout is not here: the worker's definition is its one source.
    """

    job_name: str
    schedule: Schedule
    start_immediately: bool
    retry: RetryPlan
    pause_on_failure: bool = False
    idempotency_window_ms: int = 600_000
    local_handlers: bool = False
    """Run the handler activity as a local activity (``local=True`` on the definition)."""
    publish_status: bool = True
    """Write status changes to the memo and ``JobStatus`` (``publish_status`` on the definition)."""
    catch_up_window_ms: int | None = None


@dataclass
class ContinuousRecord:
    """Everything an instance carries across continue-as-new.

    ``attempt`` is the attempt number of the next call of ``execute`` (1 for a new run);
    ``run_started_at`` is when attempt 1 of the current run started (for ``max_duration``).
    ``status`` is ``stopped`` after a run failed with ``pause_on_failure``, ``paused`` after
    ``pause``; neither schedules runs.
    """

    user_id: str
    state: Any
    state_bytes: int = 0
    state_version: int = 1
    run_count: int = 0
    status: ContinuousStatusName = "running"
    next_run_at: datetime | None = None
    attempt: int = 1
    run_started_at: datetime | None = None
    last_error: LastError | None = None
    paused_reason: str | None = None


@dataclass
class ContinuousInput:
    """The workflow's argument: a new instance (``initial_state``) or a continued one (``record``)."""

    spec: ContinuousSpec
    start_token: str = ""
    initial_state: Any = None
    state_version: int = 1
    record: ContinuousRecord | None = None
    carried: list[CarriedMessage] = field(default_factory=list)
    """Messages the previous run acknowledged but did not handle, in arrival order."""
    answers: list[CallAnswer] = field(default_factory=list)
    """The calls the previous run remembers, so that a duplicate gets the same answer."""


@dataclass
class StartRequest:
    """``start``: the call, whose id equals the start token of the call that created us."""

    call: Call


@dataclass
class StartReply:
    """The reply to ``start``: whether this call created the instance, and its status."""

    created: bool
    status: ContinuousStatusName


@dataclass
class TriggerReply:
    """The reply to ``trigger``: whether it ran, and how its attempt went."""

    triggered: bool
    succeeded: bool | None = None
    error: LastError | None = None


@dataclass
class PauseRequest:
    """``pause``: the call and the reason to show."""

    call: Call
    reason: str | None = None


@dataclass
class RescheduleRequest:
    """``reschedule``: the call and the new schedule."""

    call: Call
    schedule: Schedule


@dataclass
class ScheduleReply:
    """The reply to ``pause``, ``resume`` and ``reschedule``: whether it changed anything."""

    done: bool
    next_run_at: datetime | None


@dataclass
class ContinuousStatusView:
    """The ``status`` query's answer."""

    status: ContinuousStatusName
    run_count: int
    next_run_at: datetime | None
    last_error: LastError | None
