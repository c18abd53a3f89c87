"""Continuous schedule control and failures, Debounce sliding windows (SPEC §10.3, §10.4).

On the time-skipping server: pause, resume, reschedule, a triggered run of a paused instance,
pause_on_failure with resume, jitter, trigger answers that say how the run went, and a sliding
window capped by max_wait. catch_up_window needs a worker outage: tests/system/test_outage.py.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from pydantic import BaseModel

from durable_jobs import (
    Continuous,
    ContinuousContext,
    Debounce,
    DebounceEventContext,
    DebounceExecuteContext,
    DurableJobs,
    JobDefinitionError,
    cron,
    every,
)
from durable_jobs.testing import JobsTestEnvironment
from tests.integration.helpers import virtual_now


class Count(BaseModel):
    n: int = 0


@dataclass
class Run:
    at: datetime
    id: str
    run_count: int
    attempt: int


ran: list[Run] = []
failing: set[str] = set()
flushed: list[tuple[datetime, str, int]] = []


async def tick(ctx: ContinuousContext[Count]) -> None:
    ran.append(Run(virtual_now(), ctx.id, ctx.run_count, ctx.attempt))
    if ctx.id in failing:
        raise RuntimeError("downstream is down")
    ctx.set_state(Count(n=ctx.state.n + 1))


def total(ctx: DebounceEventContext[Count, Count]) -> Count:
    return Count(n=(ctx.state.n if ctx.state else 0) + ctx.event.n)


async def deliver(ctx: DebounceExecuteContext[Count]) -> None:
    flushed.append((virtual_now(), ctx.flush_reason, ctx.state.n))


hourly = Continuous(state=Count, schedule=every("1 hour"), execute=tick)
pausing = Continuous(state=Count, schedule=every("1 hour"), execute=tick, pause_on_failure=True)
jittery = Continuous(state=Count, schedule=every("1 hour", jitter="10 minutes"), execute=tick)
punctual = Continuous(
    state=Count, schedule=every("1 hour"), execute=tick, catch_up_window="5 minutes"
)
quiet = Debounce(
    event=Count,
    state=Count,
    on_event=total,
    execute=deliver,
    flush_after="10 seconds",
    window="sliding",
    max_wait="25 seconds",
)
jobs = DurableJobs(hourly=hourly, pausing=pausing, jittery=jittery, punctual=punctual, quiet=quiet)


@pytest.fixture
async def env() -> AsyncIterator[JobsTestEnvironment]:
    ran.clear()
    failing.clear()
    flushed.clear()
    async with await JobsTestEnvironment.start_time_skipping(jobs) as jobs_env:
        yield jobs_env


def runs_of(uid: str) -> list[int]:
    return [r.run_count for r in ran if r.id == uid]


async def test_pause_stops_runs_trigger_runs_once_resume_schedules_from_now(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.continuous(hourly)
    await h.start(id=uid, input=Count())
    await env.sleep("1 second")
    assert runs_of(uid) == [1]
    assert (await h.pause(uid, reason="maintenance")).paused is True
    assert (await h.pause(uid)).paused is False  # already paused
    status = await h.status(uid)
    assert (status.status, status.next_run_at) == ("paused", None)
    await env.sleep("3 hours")
    assert runs_of(uid) == [1]  # no runs while paused
    triggered = await h.trigger(uid)
    assert (triggered.triggered, triggered.succeeded) == (True, True)
    assert runs_of(uid) == [1, 2]
    assert (await h.status(uid)).status == "paused"  # a trigger runs once; still paused
    before = await env.environment.get_current_time()
    resumed = await h.resume(uid)
    assert resumed.resumed is True and resumed.next_run_at is not None
    assert timedelta(hours=1) <= resumed.next_run_at - before < timedelta(hours=1, seconds=5)
    await env.sleep("61 minutes")
    assert runs_of(uid) == [1, 2, 3]
    assert (await h.get_state(uid)).state == Count(n=3)  # state and counters kept
    assert (await h.resume(uid)).resumed is False  # running already
    missing = env.client.continuous(hourly)
    assert (await missing.pause("nobody")).paused is False
    assert (await missing.resume("nobody")).resumed is False
    assert (await missing.reschedule("nobody", every("1 minute"))).rescheduled is False


async def test_reschedule_keeps_state_and_counts_and_runs_on_the_new_schedule(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.continuous(hourly)
    await h.start(id=uid, input=Count(n=10))
    await env.sleep("1 second")
    rescheduled = await h.reschedule(uid, every("5 minutes"))
    assert rescheduled.rescheduled is True and rescheduled.next_run_at is not None
    await env.sleep("16 minutes")
    assert runs_of(uid) == [1, 2, 3, 4]
    status = await h.status(uid)
    assert status.run_count == 4 and (await h.get_state(uid)).state == Count(n=14)
    await h.reschedule(uid, cron("0 * * * *"))
    await env.sleep("61 minutes")
    assert runs_of(uid) == [1, 2, 3, 4, 5]
    assert ran[-1].at.minute == 0  # on the hour


async def test_a_failed_run_with_pause_on_failure_stops_until_resume(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.continuous(pausing)
    failing.add(uid)
    await h.start(id=uid, input=Count())
    await env.sleep("1 second")
    status = await h.status(uid)
    assert (status.status, status.next_run_at) == ("stopped", None)
    assert status.last_error is not None and status.last_error.message == "downstream is down"
    await env.sleep("3 hours")
    assert runs_of(uid) == [1]
    failing.discard(uid)
    assert (await h.resume(uid)).resumed is True
    await env.sleep("61 minutes")
    assert runs_of(uid) == [1, 2]
    status = await h.status(uid)
    assert (status.status, status.last_error) == ("running", None)


async def test_trigger_says_how_the_run_went(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.continuous(hourly)
    await h.start(id=uid, input=Count())
    await env.sleep("1 second")
    failing.add(uid)
    with pytest.raises(Exception, match="downstream is down"):
        await h.trigger(uid)  # no retry left: ExecutionError
    failing.discard(uid)
    ok = await h.trigger(uid)
    assert (ok.triggered, ok.succeeded, ok.error) == (True, True, None)


async def test_jitter_delays_each_run_by_up_to_the_jitter(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.continuous(jittery)
    await h.start(id=uid, input=Count())
    await env.sleep("6 hours")
    times = [r.at for r in ran if r.id == uid]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(gaps) >= 4
    assert all(
        timedelta(hours=1) <= gap <= timedelta(hours=1, minutes=10, seconds=2) for gap in gaps
    )
    assert len({round(gap.total_seconds()) for gap in gaps}) > 1  # spread, not one fixed delay


async def test_a_sliding_window_waits_for_a_quiet_period_capped_by_max_wait(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.debounce(quiet)
    first = await h.add(id=uid, event=Count(n=1))
    assert first.will_flush_at is not None
    await env.sleep("6 seconds")
    moved = await h.add(id=uid, event=Count(n=2))
    assert moved.will_flush_at is not None and moved.will_flush_at > first.will_flush_at
    assert (await h.status(uid)).will_flush_at == moved.will_flush_at
    await env.sleep("11 seconds")  # quiet for the flush_after: flushed
    assert [(reason, n) for _, reason, n in flushed] == [("flush_after", 3)]
    busy = await h.add(id=f"{uid}-busy", event=Count(n=1))
    assert busy.will_flush_at is not None
    for _ in range(4):  # never quiet for 10 s: max_wait (25 s) caps the window
        await env.sleep("5 seconds")
        await h.add(id=f"{uid}-busy", event=Count(n=1))
    capped = await h.status(f"{uid}-busy")
    assert capped.will_flush_at == busy.will_flush_at + timedelta(seconds=15)  # 25 s in all
    await env.sleep("10 seconds")
    assert [(reason, n) for _, reason, n in flushed] == [("flush_after", 3), ("max_wait", 5)]


def test_a_sliding_window_is_checked_when_built() -> None:
    async def noop(ctx: DebounceExecuteContext[Count]) -> None: ...

    with pytest.raises(JobDefinitionError, match="needs window='sliding'"):
        Debounce(event=Count, execute=noop, flush_after="1s", max_wait="5s")
    with pytest.raises(JobDefinitionError, match="expected max_wait >= flush_after"):
        Debounce(event=Count, execute=noop, flush_after="10s", window="sliding", max_wait="5s")
    with pytest.raises(JobDefinitionError, match="expected 'fixed' or 'sliding'"):
        Debounce(event=Count, execute=noop, flush_after="1s", window="rolling")  # type: ignore[arg-type]
