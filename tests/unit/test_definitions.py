from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from durable_jobs import (
    Continuous,
    Debounce,
    DurableJobs,
    JobDefinitionError,
    JobNotFoundError,
    JobValidationError,
    RetryConfig,
    Task,
    every,
)
from durable_jobs._naming import check_user_id, instance_id


class State(BaseModel):
    n: int = 0


class Placed(BaseModel):
    tag: Literal["placed"] = "placed"


class Paid(BaseModel):
    tag: Literal["paid"] = "paid"


Event = Annotated[Placed | Paid, Field(discriminator="tag")]


async def one(ctx: Any) -> None: ...


async def two(event: Any, ctx: Any) -> None: ...


def continuous(**overrides: Any) -> Continuous[Any]:
    fields: dict[str, Any] = {"state": State, "schedule": every("1 minute"), "execute": one}
    fields.update(overrides)
    return Continuous(**fields)


def test_valid_definitions_of_each_kind() -> None:
    jobs = DurableJobs(
        c=continuous(),
        d=Debounce(event=State, execute=one, flush_after="5 seconds", max_events=3),
        t=Task(state=State, event=Event, on_event=two, execute=one),
    )
    assert sorted(jobs) == ["c", "d", "t"]


def test_debounce_state_defaults_to_the_event_type() -> None:
    assert Debounce(event=State, execute=one, flush_after="1s").state is State


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"state": dict}, "BaseModel"),
        ({"state": State()}, "BaseModel"),
        ({"schedule": "30 minutes"}, "every"),
        ({"execute": None}, "required"),
        ({"execute": "run"}, "function"),
        ({"execute": two}, "positional"),
        ({"retry": 3}, "RetryConfig"),
        ({"timeout": 10}, "ambiguous"),
        ({"start_immediately": "yes"}, "bool"),
        ({"publish_status": "no"}, r"Continuous\(publish_status=...\): got 'no'; expected a bool"),
    ],
)
def test_continuous_refuses_bad_fields(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(JobDefinitionError, match=match):
        continuous(**overrides)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"event": int, "execute": one, "flush_after": "1s"}, "BaseModel"),
        ({"event": State | int, "execute": one, "flush_after": "1s"}, "union"),
        ({"event": State, "execute": one, "flush_after": "soon"}, "flush_after"),
        ({"event": State, "execute": one, "flush_after": "1s", "max_events": 0}, "max_events"),
        ({"event": State, "execute": one, "flush_after": "1s", "max_events": 2.5}, "max_events"),
        ({"event": State, "execute": one, "flush_after": "1s", "on_event": two}, "on_event"),
        ({"event": State, "execute": one, "flush_after": "1s", "state": int}, "state"),
        ({"event": State, "execute": one, "flush_after": "1s", "publish_status": 0}, "bool"),
    ],
)
def test_debounce_refuses_bad_fields(fields: dict[str, Any], match: str) -> None:
    with pytest.raises(JobDefinitionError, match=match):
        Debounce(**fields)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"state": State, "event": Event, "on_event": one, "execute": one}, "on_event"),
        ({"state": State, "event": list, "on_event": two, "execute": one}, "event"),
        (
            {"state": State, "event": Event, "on_event": two, "execute": one, "on_error": one},
            "on_error",
        ),
        (
            {"state": State, "event": Event, "on_event": two, "execute": one, "on_idle": 5},
            "on_idle",
        ),
        (
            {"state": State, "event": Event, "on_event": two, "execute": one, "publish_status": 1},
            "publish_status",
        ),
    ],
)
def test_task_refuses_bad_fields(fields: dict[str, Any], match: str) -> None:
    with pytest.raises(JobDefinitionError, match=match):
        Task(**fields)


@pytest.mark.parametrize("name", ["", "a:b", "a b", "x" * 65, "é", 5])
def test_registry_refuses_invalid_names(name: Any) -> None:
    with pytest.raises(JobDefinitionError, match="job name"):
        DurableJobs({name: continuous()})


def test_registry_accepts_dashes_in_a_mapping() -> None:
    assert "token-refresher" in DurableJobs({"token-refresher": continuous()})


def test_registry_refuses_a_name_given_twice() -> None:
    with pytest.raises(JobDefinitionError, match="twice"):
        DurableJobs({"a": continuous()}, a=continuous())


def test_registry_refuses_one_definition_under_two_names() -> None:
    shared = continuous()
    with pytest.raises(JobDefinitionError, match="both"):
        DurableJobs(a=shared, b=shared)


def test_registry_refuses_non_definitions() -> None:
    with pytest.raises(JobDefinitionError, match="Continuous, Debounce or Task"):
        DurableJobs(a=State)  # type: ignore[arg-type]


def test_lookup_by_name_and_by_definition_and_wrong_kind() -> None:
    c = continuous()
    jobs = DurableJobs(c=c, d=Debounce(event=State, execute=one, flush_after="1s"))
    assert jobs.get("continuous", "c") == ("c", c)
    assert jobs.get("continuous", c) == ("c", c)
    with pytest.raises(JobNotFoundError, match="no job named 'x'"):
        jobs.get("continuous", "x")
    with pytest.raises(JobNotFoundError, match="is a debounce job, not a continuous job"):
        jobs.get("continuous", "d")
    with pytest.raises(JobNotFoundError, match="not registered"):
        jobs.get("continuous", continuous())


def test_instance_ids_and_user_id_rules() -> None:
    assert (
        instance_id("continuous", "tokenRefresher", "user:1") == "continuous:tokenRefresher:user:1"
    )
    assert check_user_id("task", "t", "x" * 200) == "x" * 200
    for bad in ["", "x" * 201, 5, None]:
        with pytest.raises(JobValidationError, match="task job 't'"):
            check_user_id("task", "t", bad)


def test_retry_config_is_accepted() -> None:
    assert continuous(retry=RetryConfig(max_attempts=3)).retry == RetryConfig(max_attempts=3)
