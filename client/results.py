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
    status: Literal["running", "stopped"]


class TriggerResult(Result):
    """``trigger``: ``triggered=False`` when the instance does not exist."""

    triggered: bool


class TerminateResult(Result):
    """``terminate``: ``terminated=False, reason="not_found"`` when there was nothing to stop."""

    terminated: bool
    reason: str | None = None


class StateResult(Result, Generic[S]):
    """``get_state``: the typed state, ``None`` when the instance does not exist."""

    state: S | None


class ContinuousStatus(Result):
    """``status`` of a Continuous instance (SPEC §5.1)."""

    status: Literal["running", "stopped", "not_found"]
    run_count: int | None = None
    next_run_at: AwareDatetime | None = None
    last_error: LastErrorInfo | None = None


__all__: list[str] = [
    "ContinuousStatus",
    "LastErrorInfo",
    "Result",
    "StartResult",
    "StateResult",
    "TerminateResult",
    "TriggerResult",
]
