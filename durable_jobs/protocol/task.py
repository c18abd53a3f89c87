"""The task workflow's wire types: its input, record, replies and views.

They live outside the workflow module so the sandbox passes them through: they are plain data,
shared by the client, the workflow and continue-as-new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from durable_jobs.protocol import LastError, PendingSignal
from durable_jobs.retry import RetryPlan

TaskStatusName = Literal["active", "idle"]


@dataclass
class TaskSpec:
    """What the workflow needs of the definition."""

    job_name: str
    retry: RetryPlan
    timeout_ms: int
    has_on_idle: bool
    has_on_error: bool


@dataclass
class TaskRecord:
    """Everything an instance carries across continue-as-new.

    ``scheduled_at`` is the one alarm: the user's, or the next retry of ``execute`` while
    ``attempt > 1``.
    """

    user_id: str
    created_at: datetime
    state: Any = None
    event_count: int = 0
    execute_count: int = 0
    scheduled_at: datetime | None = None
    attempt: int = 1
    first_attempt_at: datetime | None = None
    last_error: LastError | None = None


@dataclass
class TaskInput:
    """The workflow's argument: a new instance, or a continued one (``record``)."""

    spec: TaskSpec
    start_token: str = ""
    record: TaskRecord | None = None
    pending: list[PendingSignal] = field(default_factory=list)
    """Signals the previous run received but did not handle, in arrival order."""


@dataclass
class SendRequest:
    """One ``send``: the event as JSON-ready data and the caller's start token."""

    event: Any
    start_token: str = ""


@dataclass
class SendReply:
    """The reply to ``send``."""

    created: bool
    scheduled_at: datetime | None


@dataclass
class TaskStatusView:
    """The ``status`` query's answer."""

    status: TaskStatusName
    scheduled_at: datetime | None
    event_count: int
    execute_count: int
    created_at: datetime
    last_error: LastError | None


@dataclass
class TaskStateView:
    """The ``state`` query's answer."""

    state: Any
    scheduled_at: datetime | None
