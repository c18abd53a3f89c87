"""The continuous workflow's wire types: its input, record, replies and views.

They live outside the workflow module so the sandbox passes them through: they are plain data,
shared by the client, the workflow and continue-as-new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from durable_jobs.protocol import LastError, PendingSignal
from durable_jobs.retry import RetryPlan
from durable_jobs.schedules import Schedule

ContinuousStatusName = Literal["running", "stopped"]


@dataclass
class ContinuousSpec:
    """What the workflow needs of the definition: schedule, retry and handler timeout."""

    job_name: str
    schedule: Schedule
    start_immediately: bool
    retry: RetryPlan
    timeout_ms: int


@dataclass
class ContinuousRecord:
    """Everything an instance carries across continue-as-new.

    ``attempt`` is the attempt number of the next call of ``execute`` (1 for a new run);
    ``run_started_at`` is when attempt 1 of the current run started (for ``max_duration``).
    """

    user_id: str
    state: Any
    run_count: int = 0
    stopped: bool = False
    next_run_at: datetime | None = None
    attempt: int = 1
    run_started_at: datetime | None = None
    last_error: LastError | None = None


@dataclass
class ContinuousInput:
    """The workflow's argument: a new instance (``initial_state``) or a continued one (``record``)."""

    spec: ContinuousSpec
    start_token: str = ""
    initial_state: Any = None
    record: ContinuousRecord | None = None
    pending: list[PendingSignal] = field(default_factory=list)
    """Signals the previous run received but did not handle, in arrival order."""


@dataclass
class ContinuousStartReply:
    """The reply to ``start``: whether this call created the instance, and its status."""

    created: bool
    status: ContinuousStatusName


@dataclass
class ContinuousStatusView:
    """The ``status`` query's answer."""

    status: ContinuousStatusName
    run_count: int
    next_run_at: datetime | None
    last_error: LastError | None
