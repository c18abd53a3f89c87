"""Continuous jobs end to end on the time-skipping server (SPEC §3-§7, mainly §5.1 and §6)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel

from durable_jobs import (
    Backoff,
    Continuous,
    ContinuousContext,
    Debounce,
    DurableJobs,
    ExecutionError,
    JobNotFoundError,
    JobValidationError,
    RetryConfig,
    cron,
    every,
)
from durable_jobs.testing import JobsTestEnvironment
from tests.integration.helpers import Call, virtual_now, workflow_exists


class Counter(BaseModel):
    n: int = 0
    label: str = ""


calls: list[Call] = []
failures_left: dict[str, int] = {}


def record(ctx: ContinuousContext[Counter]) -> None:
    calls.append(Call(virtual_now(), ctx.attempt, ctx.run_count, ctx.state.model_copy()))


async def count(ctx: ContinuousContext[Counter]) -> None:
    record(ctx)
    ctx.update_state(lambda s: s.model_copy(update={"n": s.n + 1}))


async def flaky(ctx: ContinuousContext[Counter]) -> None:
    """Changes state, then fails while ``failures_left[id]`` is positive."""
    record(ctx)
    ctx.set_state(Counter(n=ctx.state.n + 100, label="from a failed attempt"))
    if failures_left.get(ctx.id, 0) > 0:
        failures_left[ctx.id] -= 1
        raise RuntimeError(f"token endpoint down (attempt {ctx.attempt})")
    ctx.set_state(Counter(n=ctx.state.n - 99, label="ok"))


def terminate_on_run(ctx: ContinuousContext[Counter]) -> None:
    """A plain ``def`` handler (runs in a thread) that ends the instance on run ``n``."""
    record(ctx)
    if ctx.run_count >= ctx.state.n:
        ctx.terminate(reason="done")
        raise AssertionError("code after terminate() must not run")


retry = RetryConfig(max_attempts=3, delay=Backoff.constant("10 seconds"), jitter=False)
counter = Continuous(state=Counter, schedule=every("30 minutes"), execute=count)
lazy = Continuous(
    state=Counter, schedule=every("30 minutes"), execute=count, start_immediately=False
)
daily = Continuous(
    state=Counter,
    schedule=cron("0 9 * * *", tz="America/New_York"),
    execute=count,
    start_immediately=False,
)
retrying = Continuous(state=Counter, schedule=every("30 minutes"), execute=flaky, retry=retry)
pausing = Continuous(
    state=Counter,
    schedule=every("30 minutes"),
    execute=flaky,
    retry=retry,
    pause_on_failure=True,
)
single_try = Continuous(state=Counter, schedule=every("30 minutes"), execute=flaky)
self_ending = Continuous(state=Counter, schedule=every("1 minute"), execute=terminate_on_run)


async def _noop(ctx: object) -> None: ...


jobs = DurableJobs(
    counter=counter,
    lazy=lazy,
    daily=daily,
    retrying=retrying,
    pausing=pausing,
    single_try=single_try,
    self_ending=self_ending,
    batcher=Debounce(event=Counter, execute=_noop, flush_after="1 second"),
)


@pytest.fixture
async def env() -> AsyncIterator[JobsTestEnvironment]:
    calls.clear()
    failures_left.clear()
    async with await JobsTestEnvironment.start_time_skipping(jobs) as jobs_env:
        yield jobs_env


# --- §5.1 start -------------------------------------------------------------------------------


async def test_start_creates_and_first_run_sees_the_input(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.continuous("counter")
    result = await h.start(id=uid, input=Counter(n=41))
    assert result.created is True
    assert result.instance_id == f"continuous:counter:{uid}"
    assert result.status == "running"
    await env.sleep("1 second")
    assert [(c.run_count, c.attempt, c.state) for c in calls] == [(1, 1, Counter(n=41))]
    status = await h.status(uid)
    assert (status.status, status.run_count) == ("running", 1)
    assert (await h.get_state(uid)).state == Counter(n=42)


async def test_second_start_changes_nothing(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.continuous("counter")
    await h.start(id=uid, input={"n": 1})
    await env.sleep("1 second")
    again = await h.start(id=uid, input={"n": 500})
    assert (again.created, again.status, again.instance_id) == (
        False,
        "running",
        f"continuous:counter:{uid}",
    )
    await env.sleep("1 second")
    assert (await h.get_state(uid)).state == Counter(n=2)
    assert (await h.status(uid)).run_count == 1


async def test_start_immediately_false_waits_one_interval(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.continuous(lazy)
    await h.start(id=uid, input=Counter())
    await env.sleep("29 minutes")
    assert calls == []
    assert (await h.status(uid)).run_count == 0
    await env.sleep("2 minutes")
    assert [c.run_count for c in calls] == [1]


# --- schedules ---------------------------------------------------------------------------------


async def test_every_30_minutes_runs_5_times_in_2_hours(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.continuous(counter)
    await h.start(id=uid, input=Counter())
    await env.sleep(timedelta(hours=2, minutes=1))
    status = await h.status(uid)
    assert status.run_count == 5
    assert (await h.get_state(uid)).state == Counter(n=5)
    gaps = [b.at - a.at for a, b in itertools.pairwise(calls)]
    assert all(timedelta(minutes=30) <= g < timedelta(minutes=30, seconds=2) for g in gaps), gaps
    assert status.next_run_at is not None
    assert (
        timedelta(minutes=30)
        <= status.next_run_at - calls[-1].at
        < timedelta(minutes=30, seconds=2)
    )


async def test_cron_fires_at_matching_times_in_the_jobs_zone(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.continuous(daily)
    await h.start(id=uid, input=Counter())
    await env.sleep("3 days")
    assert len(calls) == 3
    new_york = [c.at.astimezone(ZoneInfo("America/New_York")) for c in calls]
    assert all((t.hour, t.minute) == (9, 0) for t in new_york), new_york
    assert [(b.date() - a.date()).days for a, b in itertools.pairwise(new_york)] == [1, 1]
    status = await h.status(uid)
    assert status.next_run_at is not None
    assert status.next_run_at.astimezone(ZoneInfo("America/New_York")).hour == 9


# --- trigger -----------------------------------------------------------------------------------


async def test_trigger_runs_now_and_restarts_the_schedule(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.continuous(counter)
    await h.start(id=uid, input=Counter())
    await env.sleep("10 minutes")
    assert (await h.trigger(uid)).triggered is True
    assert [c.run_count for c in calls] == [1, 2]
    assert (await h.status(uid)).run_count == 2
    await env.sleep("25 minutes")  # 35 minutes after the first run, 25 after the trigger
    assert len(calls) == 2
    await env.sleep("6 minutes")
    assert len(calls) == 3
    assert timedelta(minutes=30) <= calls[2].at - calls[1].at < timedelta(minutes=30, seconds=2)


async def test_trigger_on_missing_or_terminated_instance(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.continuous(counter)
    assert (await h.trigger("nobody")).triggered is False
    await h.start(id=uid, input=Counter())
    await env.sleep("1 second")  # the test server's clock stops if terminate cuts a handler
    await h.terminate(uid)
    assert (await h.trigger(uid)).triggered is False


# --- get_state and terminate -------------------------------------------------------------------


async def test_terminate_removes_and_frees_the_id(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.continuous(counter)
    await h.start(id=uid, input=Counter(n=10))
    await env.sleep("1 second")
    state = (await h.get_state(uid)).state
    assert isinstance(state, Counter) and state.n == 11
    result = await h.terminate(uid, reason="user left")
    assert (result.terminated, result.reason) == (True, "user left")
    assert (await h.status(uid)).status == "not_found"
    assert (await h.get_state(uid)).state is None
    again = await h.terminate(uid)
    assert (again.terminated, again.reason) == (False, "not_found")
    restarted = await h.start(id=uid, input=Counter(n=0))
    assert restarted.created is True
    await env.sleep("1 second")
    assert (await h.status(uid)).run_count == 1
    assert (await h.get_state(uid)).state == Counter(n=1)


async def test_status_and_state_of_a_never_started_instance(env: JobsTestEnvironment) -> None:
    h = env.client.continuous(counter)
    status = await h.status("ghost")
    assert (status.status, status.run_count, status.next_run_at) == ("not_found", None, None)
    assert (await h.get_state("ghost")).state is None


@pytest.mark.parametrize("end_on_run", [1, 3])
async def test_ctx_terminate_removes_the_instance(
    env: JobsTestEnvironment, uid: str, end_on_run: int
) -> None:
    h = env.client.continuous(self_ending)
    await h.start(id=uid, input=Counter(n=end_on_run))
    await env.sleep("10 minutes")
    assert [c.run_count for c in calls] == list(range(1, end_on_run + 1))
    assert (await h.status(uid)).status == "not_found"
    assert (await h.get_state(uid)).state is None
    assert (await h.start(id=uid, input=Counter(n=5))).created is True


# --- §6 retry ----------------------------------------------------------------------------------


async def test_failing_execute_retries_then_stops_with_pause_on_failure(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.continuous(pausing)
    failures_left[uid] = 99
    await h.start(id=uid, input=Counter(n=1))
    await env.sleep("1 second")
    status = await h.status(uid)
    assert status.status == "running"
    assert status.last_error is not None and status.last_error.attempt == 1
    assert status.next_run_at is not None
    assert timedelta(seconds=9) < status.next_run_at - calls[0].at <= timedelta(seconds=11)
    await env.sleep("30 seconds")
    assert [(c.attempt, c.run_count) for c in calls] == [(1, 1), (2, 1), (3, 1)]
    offsets = [round((c.at - calls[0].at).total_seconds()) for c in calls]
    assert offsets == [0, 10, 20]
    status = await h.status(uid)
    assert (status.status, status.run_count, status.next_run_at) == ("stopped", 1, None)
    assert status.last_error is not None
    assert status.last_error.error_type == "RuntimeError"
    assert "attempt 3" in status.last_error.message
    assert status.last_error.attempt == 3
    assert (await h.get_state(uid)).state == Counter(n=1)  # failed attempts kept nothing
    await env.sleep("2 hours")
    assert len(calls) == 3  # stopped: nothing scheduled

    failures_left[uid] = 0
    assert (await h.trigger(uid)).triggered is True
    status = await h.status(uid)
    assert (status.status, status.run_count, status.last_error) == ("running", 2, None)
    assert (await h.get_state(uid)).state == Counter(n=2, label="ok")
    await env.sleep("31 minutes")
    assert (await h.status(uid)).run_count == 3


async def test_without_pause_on_failure_the_schedule_goes_on_after_a_failed_run(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.continuous(retrying)
    failures_left[uid] = 3  # every attempt of run 1 fails; run 2 succeeds
    await h.start(id=uid, input=Counter(n=1))
    await env.sleep("25 seconds")
    assert [(c.attempt, c.run_count) for c in calls] == [(1, 1), (2, 1), (3, 1)]
    status = await h.status(uid)
    assert (status.status, status.run_count) == ("running", 1)
    assert status.last_error is not None and status.last_error.attempt == 3
    assert status.next_run_at is not None
    assert timedelta(minutes=30) <= status.next_run_at - calls[2].at < timedelta(minutes=31)
    await env.sleep("31 minutes")
    assert [(c.attempt, c.run_count) for c in calls[3:]] == [(1, 2)]
    status = await h.status(uid)
    assert (status.status, status.run_count, status.last_error) == ("running", 2, None)


async def test_success_on_attempt_2_keeps_the_schedule(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.continuous(retrying)
    failures_left[uid] = 1
    await h.start(id=uid, input=Counter(n=1))
    await env.sleep("15 seconds")
    assert [(c.attempt, c.run_count) for c in calls] == [(1, 1), (2, 1)]
    status = await h.status(uid)
    assert (status.status, status.run_count, status.last_error) == ("running", 1, None)
    assert (await h.get_state(uid)).state == Counter(n=2, label="ok")
    assert status.next_run_at is not None
    assert (
        timedelta(minutes=30) <= status.next_run_at - calls[1].at < timedelta(minutes=30, seconds=2)
    )
    await env.sleep("31 minutes")
    assert [(c.attempt, c.run_count) for c in calls[2:]] == [(1, 2)]


async def test_trigger_abandons_a_pending_retry(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.continuous(retrying)
    failures_left[uid] = 1
    await h.start(id=uid, input=Counter(n=1))
    await env.sleep("1 second")
    assert (await h.status(uid)).last_error is not None
    assert (await h.trigger(uid)).triggered is True
    assert [(c.attempt, c.run_count) for c in calls] == [(1, 1), (1, 2)]
    await env.sleep("20 seconds")
    assert len(calls) == 2  # the abandoned retry of run 1 never happens


async def test_trigger_raises_when_no_retry_is_left(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.continuous(single_try)
    failures_left[uid] = 99
    await h.start(id=uid, input=Counter(n=1))
    await env.sleep("1 second")
    assert (await h.status(uid)).status == "running"  # the schedule goes on
    with pytest.raises(ExecutionError) as caught:
        await h.trigger(uid)
    err = caught.value
    assert (err.kind, err.job_name, err.instance_id) == (
        "continuous",
        "single_try",
        f"continuous:single_try:{uid}",
    )
    assert err.error_type == "RuntimeError"
    assert "token endpoint down" in str(err) and f"continuous:single_try:{uid}" in str(err)
    status = await h.status(uid)
    assert status.status == "running" and status.next_run_at is not None


async def test_trigger_returns_true_when_a_retry_is_scheduled(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.continuous(retrying)
    await h.start(id=uid, input=Counter(n=1))
    await env.sleep("1 second")
    failures_left[uid] = 1
    assert (await h.trigger(uid)).triggered is True
    status = await h.status(uid)
    assert status.last_error is not None and status.next_run_at is not None
    await env.sleep("11 seconds")
    assert [(c.attempt, c.run_count) for c in calls] == [(1, 1), (1, 2), (2, 2)]


# --- §5 and §7 validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_input",
    [{"n": "many"}, {"n": 1, "label": 5}, "not a model", None, 42],
)
async def test_invalid_input_is_refused_before_anything_is_sent(
    env: JobsTestEnvironment, uid: str, bad_input: object
) -> None:
    h = env.client.continuous(counter)
    with pytest.raises(JobValidationError) as caught:
        await h.start(id=uid, input=bad_input)
    assert "continuous job 'counter'" in str(caught.value) and repr(uid) in str(caught.value)
    assert caught.value.errors
    assert not await workflow_exists(env.temporal_client, f"continuous:counter:{uid}")


@pytest.mark.parametrize("bad_id", ["", "x" * 201])
async def test_invalid_ids_are_refused(env: JobsTestEnvironment, bad_id: str) -> None:
    h = env.client.continuous(counter)
    with pytest.raises(JobValidationError, match="expected a non-empty string"):
        await h.start(id=bad_id, input=Counter())
    for call in (h.status, h.get_state, h.trigger, h.terminate):
        with pytest.raises(JobValidationError):
            await call(bad_id)
    assert not await workflow_exists(env.temporal_client, f"continuous:counter:{bad_id}")


async def test_unknown_and_other_kind_names(env: JobsTestEnvironment) -> None:
    with pytest.raises(JobNotFoundError, match="no job named 'nope'"):
        env.client.continuous("nope")
    with pytest.raises(JobNotFoundError, match="is a debounce job"):
        env.client.continuous("batcher")


# --- continue-as-new ---------------------------------------------------------------------------
