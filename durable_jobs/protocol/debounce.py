"""The Debounce workflow's wire types: its input, record, requests, replies and views."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from durable_jobs.protocol import Call, CallAnswer, CarriedMessage, LastError
from durable_jobs.retry import RetryPlan

DebounceStatusName = Literal["debouncing", "idle"]
FlushReasonName = Literal["max_events", "max_size", "flush_after", "max_wait", "manual"]


@dataclass
class DebounceSpec:
    """What the workflow needs of the definition (the handler timeout is the worker's)."""

    job_name: str
    flush_after_ms: int
    max_events: int | None
    retry: RetryPlan
    sliding: bool = False
    idempotency_window_ms: int = 600_000
    local_handlers: bool = False
    """Run the handler activity as a local activity (``local=True`` on the definition)."""
    publish_status: bool = True
    """Write status changes to the memo and ``JobStatus`` (``publish_status`` on the definition)."""
    max_wait_ms: int | None = None


@dataclass
class HeldEvent:
    """An event acknowledged but not folded yet (held behind a flush, or a full batch)."""

    event: Any
    arrived_at: datetime
    size: int = 0
    call: Call | None = None
    """The call of an event not answered yet (a fire-and-forget add), known as a duplicate."""


@dataclass
class DebounceRecord:
    """Everything an instance carries across continue-as-new.

    ``state`` is the folded batch as JSON-ready data (the workflow keeps it typed between
    events and writes it back here only when it crosses a boundary).
    """

    user_id: str
    state: Any = None
    state_version: int = 1
    event_count: int = 0
    started_at: datetime | None = None
    will_flush_at: datetime | None = None
    flush_reason: FlushReasonName = "flush_after"
    attempt: int = 1
    first_attempt_at: datetime | None = None
    last_error: LastError | None = None
    flush_count: int = 0
    """Batches this instance delivered; the next flush is number ``flush_count + 1``."""


@dataclass
class DebounceInput:
    """The workflow's argument: a new instance, or a continued one (``record``)."""

    spec: DebounceSpec
    start_token: str = ""
    state_version: int = 1
    record: DebounceRecord | None = None
    held: list[HeldEvent] = field(default_factory=list)
    """Events acknowledged but not folded yet, in arrival order (a new instance may start
    with the ones its predecessor held when it ended)."""
    carried: list[CarriedMessage] = field(default_factory=list)
    """Messages the previous run acknowledged but did not handle, in arrival order."""
    answers: list[CallAnswer] = field(default_factory=list)
    """The calls the previous run remembers, so that a duplicate gets the same answer."""


@dataclass
class AddRequest:
    """One ``add``: the event as JSON-ready data, and who the call is."""

    event: Any
    call: Call


@dataclass
class AddReply:
    """The reply to ``add``."""

    created: bool
    event_count: int
    will_flush_at: datetime | None


@dataclass
class FlushReply:
    """The reply to ``flush``."""

    flushed: bool
    event_count: int
    reason: Literal["manual", "empty"]


@dataclass
class ClearReply:
    """The reply to ``clear``."""

    cleared: bool
    discarded_events: int


@dataclass
class DebounceStatusView:
    """The ``status`` query's answer."""

    status: DebounceStatusName
    event_count: int
    will_flush_at: datetime | None
    started_at: datetime | None
    last_error: LastError | None
