"""The debounce workflow's wire types: its input, record, replies and views.

They live outside the workflow module so the sandbox passes them through: they are plain data,
shared by the client, the workflow and continue-as-new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from durable_jobs.context import FlushReason
from durable_jobs.protocol import LastError, PendingSignal
from durable_jobs.retry import RetryPlan

DebounceStatusName = Literal["debouncing", "idle"]


@dataclass
class DebounceSpec:
    """What the workflow needs of the definition."""

    job_name: str
    flush_after_ms: int
    max_events: int | None
    retry: RetryPlan
    timeout_ms: int


@dataclass
class HeldEvent:
    """An event that arrived while a flush attempt ran, with its arrival time."""

    event: Any
    arrived_at: datetime


@dataclass
class DebounceRecord:
    """Everything an instance carries across continue-as-new."""

    user_id: str
    state: Any = None
    event_count: int = 0
    started_at: datetime | None = None
    will_flush_at: datetime | None = None
    flush_reason: FlushReason = "flush_after"
    attempt: int = 1
    first_attempt_at: datetime | None = None
    last_error: LastError | None = None
    held: list[HeldEvent] = field(default_factory=list)


@dataclass
class DebounceInput:
    """The workflow's argument: a new instance, or a continued one (``record``)."""

    spec: DebounceSpec
    start_token: str = ""
    record: DebounceRecord | None = None
    pending: list[PendingSignal] = field(default_factory=list)
    """Signals the previous run received but did not handle, in arrival order."""


@dataclass
class AddRequest:
    """One ``add``: the event as JSON-ready data and the caller's start token."""

    event: Any
    start_token: str = ""


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
