"""Bad input and misbehaving handlers: a clear error, and nothing half-done (SPEC §5, §7)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict
from temporalio.client import WorkflowExecutionStatus

from durable_jobs import (
    Continuous,
    Debounce,
    DurableJobs,
    ExecutionError,
    JobValidationError,
    every,
)
from durable_jobs._naming import MAX_USER_ID_LENGTH, check_user_id, instance_id
from durable_jobs.context import ContinuousContext, DebounceEventContext, DebounceExecuteContext
from durable_jobs.testing import JobsTestEnvironment
from tests.integration.helpers import eventually, workflow_exists


class Reading(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: float
    note: str = ""


async def keep(ctx: DebounceExecuteContext[Reading]) -> None:
    return None


def exits(ctx: ContinuousContext[Reading]) -> None:
    raise SystemExit("handler called sys.exit")


async def interrupts(ctx: ContinuousContext[Reading]) -> None:
    raise KeyboardInterrupt


async def hangs(ctx: ContinuousContext[Reading]) -> None:
    await asyncio.Event().wait()


def wrong_type(ctx: DebounceEventContext[Reading, Reading]) -> Reading:
    return {"value": "not a number"}  # type: ignore[return-value]


readings = Debounce(event=Reading, execute=keep, flush_after="1 hour")
misfolding = Debounce(
    event=Reading, state=Reading, on_event=wrong_type, execute=keep, flush_after="1 hour"
)
# pause_on_failure: a failed run stops the instance, so "stopped" shows it did not wedge.
exiting = Continuous(state=Reading, schedule=every("1 hour"), execute=exits, pause_on_failure=True)
interrupted = Continuous(
    state=Reading, schedule=every("1 hour"), execute=interrupts, pause_on_failure=True
)
hanging = Continuous(
    state=Reading,
    schedule=every("1 hour"),
    execute=hangs,
    timeout="1 second",
    pause_on_failure=True,
)
jobs = DurableJobs(
    readings=readings,
    misfolding=misfolding,
    exiting=exiting,
    interrupted=interrupted,
    hanging=hanging,
)


@pytest.fixture
async def env() -> AsyncIterator[JobsTestEnvironment]:
    async with await JobsTestEnvironment.start_time_skipping(jobs) as jobs_env:
        yield jobs_env


@given(st.text(min_size=1, max_size=MAX_USER_ID_LENGTH))
def test_any_non_empty_id_up_to_200_chars_is_accepted_and_round_trips(user_id: str) -> None:
    assert check_user_id("debounce", "readings", user_id) == user_id
    assert instance_id("debounce", "readings", user_id).split(":", 2)[2] == user_id


@given(st.one_of(st.just(""), st.text(min_size=MAX_USER_ID_LENGTH + 1, max_size=10_000)))
def test_empty_and_over_long_ids_are_refused(user_id: str) -> None:
    with pytest.raises(JobValidationError, match="debounce job 'readings'"):
        check_user_id("debounce", "readings", user_id)


@pytest.mark.parametrize("user_id", ["ünïcødé-用户", "with spaces", "a:b:c", ":", " "])
async def test_unusual_ids_work_end_to_end(env: JobsTestEnvironment, user_id: str) -> None:
    h = env.client.debounce(readings)
    key = f"{user_id}{uuid.uuid4().hex[:4]}"
    result = await h.add(id=key, event=Reading(value=1.5))
    assert result.instance_id == f"debounce:readings:{key}"
    assert (await h.status(key)).event_count == 1
    assert (await h.get_state(key)).state == Reading(value=1.5)
    assert (await h.clear(key)).discarded_events == 1


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"value": "high"}, "invalid event"),
        ({"note": "no value"}, "invalid event"),
        ({"value": 1.0, "unexpected": True}, "invalid event"),
        ({"value": float("nan")}, "NaN"),
        ({"value": float("inf")}, "NaN"),
        ({"value": 1.0, "note": "x" * 2_000_000}, "2 MB"),
    ],
    ids=["wrong-type", "missing-field", "extra-field", "nan", "infinity", "over-2MB"],
)
async def test_bad_events_are_refused_before_anything_is_sent(
    env: JobsTestEnvironment, event: dict[str, object], expected: str
) -> None:
    key = f"bad-{uuid.uuid4().hex[:8]}"
    with pytest.raises(JobValidationError, match=expected) as caught:
        await env.client.debounce(readings).add(id=key, event=event)
    assert f"debounce job 'readings' id '{key}'" in str(caught.value)
    with pytest.raises(JobValidationError, match=expected):
        await env.client.debounce(readings).add_nowait(id=key, event=event)
    assert not await workflow_exists(env.temporal_client, f"debounce:readings:{key}")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
events = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"value": json_values}, optional={"note": json_values, "extra": json_values}
    ),
)


async def test_any_event_is_either_a_valid_reading_or_refused_clearly(
    env: JobsTestEnvironment,
) -> None:
    # Every call validates through the handle's one check, before anything is sent.
    h = env.client.debounce(readings)

    @settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(event=events)
    def check(event: object) -> None:
        try:
            data = h._validate(Reading, event, what="event", id="u1")
        except JobValidationError as err:
            assert "debounce job 'readings' id 'u1': invalid event" in str(err)
            assert "expected Reading" in str(err) or "finite numbers" in str(err)
        else:
            assert Reading.model_validate(data) == Reading.model_validate(event)

    check()


async def test_a_reducer_returning_the_wrong_type_fails_the_add_and_changes_nothing(
    env: JobsTestEnvironment,
) -> None:
    h = env.client.debounce(misfolding)
    key = f"misfold-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ExecutionError, match="on_event could not fold the event into Reading"):
        await h.add(id=key, event=Reading(value=1))
    # The instance the add started holds nothing, so it ends by itself; no failed workflow.
    status = await eventually(lambda: h.status(key), lambda s: s.status == "not_found")
    assert status.status == "not_found"
    description = await env.temporal_client.get_workflow_handle(
        f"debounce:misfolding:{key}"
    ).describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED


@pytest.mark.parametrize(
    ("job", "error_type"), [("exiting", "SystemExit"), ("interrupted", "KeyboardInterrupt")]
)
async def test_handlers_raising_base_exceptions_fail_cleanly(
    env: JobsTestEnvironment, job: str, error_type: str
) -> None:
    h = env.client.continuous(job)
    key = f"base-{uuid.uuid4().hex[:8]}"
    await h.start(id=key, input=Reading(value=1))
    await env.sleep("1 second")
    status = await h.status(key)
    assert status.status == "stopped"  # not stuck retrying, not a failed workflow
    assert status.last_error is not None and status.last_error.error_type == error_type
    with pytest.raises(ExecutionError, match=error_type):
        await h.trigger(key)


async def test_a_hanging_handler_times_out_as_a_failure(env: JobsTestEnvironment) -> None:
    h = env.client.continuous(hanging)
    key = f"hang-{uuid.uuid4().hex[:8]}"
    await h.start(id=key, input=Reading(value=1))
    with pytest.raises(ExecutionError, match="did not finish within its timeout"):
        await h.trigger(key)
    status = await h.status(key)
    assert status.status == "stopped" and status.last_error is not None
    assert status.last_error.error_type == "TimeoutError"
