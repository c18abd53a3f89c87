"""The Task workflow's wire types: its input, record, requests, replies and views."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from durable_jobs.protocol import Call, CallAnswer, CarriedMessage, LastError
from durable_jobs.retry import RetryPlan

TaskStatusName = Literal["active", "idle"]


@dataclass
class TaskSpec:
    """What the workflow needs of the definition: the retry policy of ``execute``.

    The handlers (and whether ``on_idle`` or ``on_error`` exist) and the handler timeout come
    from the worker's definition, their one source.
    """

    job_name: str
    retry: RetryPlan
    idempotency_window_ms: int = 600_000
    local_handlers: bool = False
    """Run the handler activity as a local activity (``local=True`` on the definition)."""
    publish_status: bool = True
    """Write status changes to the memo and ``JobStatus`` (``publish_status`` on the definition)."""


@dataclass
class TaskRecord:
    """Everything an instance carries across continue-as-new.

    ``scheduled_at`` is the one alarm: the user's, or the next retry of ``execute`` while
    ``attempt > 1``.
    """

    user_id: str
    created_at: datetime
    state: Any = None
    state_bytes: int = 0
    state_version: int = 1
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
    state_version: int = 1
    record: TaskRecord | None = None
    carried: list[CarriedMessage] = field(default_factory=list)
    """Messages the previous run acknowledged but did not handle, in arrival order."""
    answers: list[CallAnswer] = field(default_factory=list)
    """The calls the previous run remembers, so that a duplicate gets the same answer."""


@dataclass
class SendRequest:
    """One ``send``: the event as JSON-ready data, and who the call is."""

    event: Any
    call: Call


@dataclass
class SendReply:
    """The reply to ``send``."""

    created: bool
    scheduled_at: datetime | None


@dataclass
class TaskTriggerReply:
    """The reply to ``trigger``."""

    triggered: bool
    succeeded: bool | None = None
    error: LastError | None = None


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
    state_version: int = 1
