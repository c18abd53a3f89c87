"""Reading stored state of older versions (durable_jobs._state.load_state, SPEC §10.4)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from durable_jobs import Continuous, ContinuousContext, every
from durable_jobs._state import StoredStateError, load_state


class State(BaseModel):
    total: int


def migrate(data: Any, from_version: int) -> Any:
    if from_version == 1:
        return {"total": data["count"]}
    if from_version == 2:
        return State(total=data["sum"])
    raise ValueError(f"no way from version {from_version}")


async def tick(ctx: ContinuousContext[State]) -> None: ...


job = Continuous(
    state=State, schedule=every("1 hour"), execute=tick, state_version=3, migrate=migrate
)


def test_current_state_is_read_as_it_is() -> None:
    assert load_state(job, {"total": 4}, 3) == State(total=4)
    assert load_state(job, None, 1) is None


def test_older_state_goes_through_migrate_as_data_or_as_a_model() -> None:
    assert load_state(job, {"count": 4}, 1) == State(total=4)
    assert load_state(job, {"sum": 5}, 2) == State(total=5)


def test_what_cannot_be_read_says_why() -> None:
    with pytest.raises(StoredStateError, match="version 4, newer than the job's state_version 3"):
        load_state(job, {"total": 1}, 4)
    with pytest.raises(StoredStateError, match=r"migrate\(data, 1\) failed .* KeyError"):
        load_state(job, {"total": 1}, 1)
    with pytest.raises(StoredStateError, match="does not fit State"):
        load_state(job, {"nothing": 1}, 3)
