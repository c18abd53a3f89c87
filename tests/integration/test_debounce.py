"""Debounce jobs end to end on the time-skipping server (SPEC §5.2, §6)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from pydantic import BaseModel

from durable_jobs import (
    Backoff,
    Debounce,
    DurableJobs,
    ExecutionError,
    JobValidationError,
    RetryConfig,
)
from durable_jobs.context import DebounceEventContext, DebounceExecuteContext
from durable_jobs.events import JobEvent, add_event_sink, remove_event_sink
from durable_jobs.testing import JobsTestEnvironment
from tests.integration.helpers import virtual_now, workflow_exists


class Hit(BaseModel):
    n: int
    poison: bool = False


class Batch(BaseModel):
    items: list[int] = []
    count: int = 0


@dataclass
class Flush:
    at: datetime
    attempt: int
    reason: str
    event_count: int
    state: object
    started_at: datetime


flushes: list[Flush] = []
reducer_saw: list[object] = []
failures_left: dict[str, int] = {}
release_slow_flush = asyncio.Event()


def fold(ctx: DebounceEventContext[Hit, Batch]) -> Batch:
    if ctx.event.poison:
        raise ValueError(f"cannot fold poison event {ctx.event.n}")
    reducer_saw.append(ctx.state)
    state = ctx.state or Batch()
    return Batch(items=[*state.items, ctx.event.n], count=ctx.event_count)


async def send(ctx: DebounceExecuteContext[Batch]) -> None:
    flushes.append(
        Flush(
            virtual_now(), ctx.attempt, ctx.flush_reason, ctx.event_count, ctx.state, ctx.started_at
        )
    )
    if failures_left.get(ctx.id, 0) > 0:
        failures_left[ctx.id] -= 1
        raise ConnectionError(f"sink down (attempt {ctx.attempt})")


async def slow_send(ctx: DebounceExecuteContext[Batch]) -> None:
    await send(ctx)
    await release_slow_flush.wait()


batcher = Debounce(event=Hit, state=Batch, on_event=fold, execute=send, flush_after="5 seconds")
small = Debounce(
    event=Hit, state=Batch, on_event=fold, execute=send, flush_after="1 minute", max_events=3
)
latest = Debounce(event=Hit, execute=send, flush_after="5 seconds")
slow = Debounce(event=Hit, state=Batch, on_event=fold, execute=slow_send, flush_after="5 seconds")
retrying = Debounce(
    event=Hit,
    state=Batch,
    on_event=fold,
    execute=send,
    flush_after="5 seconds",
    retry=RetryConfig(max_attempts=3, delay=Backoff.constant("10 seconds"), jitter=False),
)
big = Debounce(event=Hit, state=Batch, on_event=fold, execute=send, flush_after="1 hour")

jobs = DurableJobs(
    batcher=batcher, small=small, latest=latest, slow=slow, retrying=retrying, big=big
)


@pytest.fixture
async def env() -> AsyncIterator[JobsTestEnvironment]:
    flushes.clear()
    reducer_saw.clear()
    failures_left.clear()
    release_slow_flush.clear()
    async with await JobsTestEnvironment.start_time_skipping(jobs) as jobs_env:
        yield jobs_env


async def test_adds_count_up_and_the_window_does_not_slide(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.debounce(batcher)
    before = await env.environment.get_current_time()
    first = await h.add(id=uid, event=Hit(n=1))
    assert (first.created, first.event_count, first.instance_id) == (
        True,
        1,
        f"debounce:batcher:{uid}",
    )
    assert first.will_flush_at is not None
    assert timedelta(seconds=5) <= first.will_flush_at - before < timedelta(seconds=6)
    await env.sleep("2 seconds")
    second = await h.add(id=uid, event={"n": 2})
    third = await h.add(id=uid, event={"n": 3})
    assert [(r.created, r.event_count) for r in (second, third)] == [(False, 2), (False, 3)]
    assert second.will_flush_at == third.will_flush_at == first.will_flush_at
    status = await h.status(uid)
    assert (status.status, status.event_count, status.will_flush_at) == (
        "debouncing",
        3,
        first.will_flush_at,
    )
    assert status.started_at is not None and status.started_at <= first.will_flush_at


async def test_reducer_folds_from_none_and_get_state_returns_it(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.debounce(batcher)
    for n in (1, 2, 3):
        await h.add(id=uid, event=Hit(n=n))
    assert reducer_saw[0] is None
    assert reducer_saw[1:] == [Batch(items=[1], count=1), Batch(items=[1, 2], count=2)]
    assert (await h.get_state(uid)).state == Batch(items=[1, 2, 3], count=3)


async def test_without_on_event_the_state_is_the_latest_event(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.debounce(latest)
    await h.add(id=uid, event=Hit(n=1))
    await h.add(id=uid, event=Hit(n=2))
    assert (await h.get_state(uid)).state == Hit(n=2)


async def test_flush_after_delivers_the_whole_batch_once(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.debounce(batcher)
    first = await h.add(id=uid, event=Hit(n=1))
    await h.add(id=uid, event=Hit(n=2))
    await env.sleep("4 seconds")
    assert flushes == []
    await env.sleep("2 seconds")
    assert len(flushes) == 1
    flush = flushes[0]
    assert (flush.reason, flush.event_count, flush.attempt) == ("flush_after", 2, 1)
    assert flush.state == Batch(items=[1, 2], count=2)
    assert first.will_flush_at is not None
    assert first.will_flush_at <= flush.at < first.will_flush_at + timedelta(seconds=1)
    assert (await h.status(uid)).status == "not_found"
    assert (await h.get_state(uid)).state is None
    await env.sleep("1 minute")
    assert len(flushes) == 1


async def test_max_events_flushes_at_once_and_next_add_starts_a_new_batch(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.debounce(small)
    await h.add(id=uid, event=Hit(n=1))
    await h.add(id=uid, event=Hit(n=2))
    third = await h.add(id=uid, event=Hit(n=3))
    assert third.event_count == 3
    await env.sleep("1 second")
    assert [(f.reason, f.event_count, f.state) for f in flushes] == [
        ("max_events", 3, Batch(items=[1, 2, 3], count=3))
    ]
    assert (await h.status(uid)).status == "not_found"
    before = await env.environment.get_current_time()
    again = await h.add(id=uid, event=Hit(n=4))
    assert (again.created, again.event_count) == (True, 1)
    assert again.will_flush_at is not None
    assert timedelta(minutes=1) <= again.will_flush_at - before < timedelta(minutes=1, seconds=1)


async def test_manual_flush_and_flush_on_nothing(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.debounce(batcher)
    empty = await h.flush(uid)
    assert (empty.flushed, empty.event_count, empty.reason) == (False, 0, "empty")
    await h.add(id=uid, event=Hit(n=1))
    await h.add(id=uid, event=Hit(n=2))
    result = await h.flush(uid)
    assert (result.flushed, result.event_count, result.reason) == (True, 2, "manual")
    assert [(f.reason, f.event_count) for f in flushes] == [("manual", 2)]
    assert (await h.status(uid)).status == "not_found"
    await env.sleep("10 seconds")
    assert len(flushes) == 1


async def test_clear_drops_the_batch_without_execute(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.debounce(batcher)
    nothing = await h.clear(uid)
    assert (nothing.cleared, nothing.discarded_events) == (False, 0)
    for n in range(4):
        await h.add(id=uid, event=Hit(n=n))
    result = await h.clear(uid)
    assert (result.cleared, result.discarded_events) == (True, 4)
    assert (await h.status(uid)).status == "not_found"
    await env.sleep("10 seconds")
    assert flushes == []


async def test_add_during_a_slow_flush_goes_to_the_next_batch(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.debounce(slow)
    await h.add(id=uid, event=Hit(n=1))
    await h.add(id=uid, event=Hit(n=2))
    await env.sleep("6 seconds")
    assert len(flushes) == 1  # running, held at release_slow_flush
    during = await h.add(id=uid, event=Hit(n=3))
    assert (during.created, during.event_count, during.will_flush_at) == (False, 1, None)
    assert (await h.status(uid)).event_count == 1
    release_slow_flush.set()
    await env.sleep("1 second")
    status = await h.status(uid)
    assert (status.status, status.event_count) == ("debouncing", 1)
    assert (await h.get_state(uid)).state == Batch(items=[3], count=1)
    await env.sleep("6 seconds")
    assert [f.state for f in flushes] == [
        Batch(items=[1, 2], count=2),
        Batch(items=[3], count=1),
    ]
    assert (await h.status(uid)).status == "not_found"


async def test_failing_flush_retries_keeps_new_events_then_rearms(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.debounce(retrying)
    failures_left[uid] = 99
    await h.add(id=uid, event=Hit(n=1))
    await env.sleep("6 seconds")
    assert [f.attempt for f in flushes] == [1]
    status = await h.status(uid)
    assert status.status == "debouncing"
    assert status.last_error is not None and status.last_error.error_type == "ConnectionError"
    assert status.will_flush_at is not None
    assert timedelta(seconds=9) < status.will_flush_at - flushes[0].at <= timedelta(seconds=11)
    await h.add(id=uid, event=Hit(n=2))  # between attempts: joins the pending batch
    await env.sleep("21 seconds")
    assert [(f.attempt, f.event_count) for f in flushes] == [(1, 1), (2, 2), (3, 2)]
    assert [round((f.at - flushes[0].at).total_seconds()) for f in flushes] == [0, 10, 20]
    status = await h.status(uid)
    assert (status.status, status.event_count) == ("debouncing", 2)
    assert status.last_error is not None and status.last_error.attempt == 3
    assert status.will_flush_at is not None
    assert timedelta(seconds=5) <= status.will_flush_at - flushes[2].at < timedelta(seconds=6)
    assert (await h.get_state(uid)).state == Batch(items=[1, 2], count=2)
    failures_left[uid] = 0
    await env.sleep("6 seconds")
    assert [(f.attempt, f.event_count) for f in flushes[3:]] == [(1, 2)]
    assert (await h.status(uid)).status == "not_found"


async def test_failing_manual_flush_raises_and_keeps_the_batch(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.debounce(batcher)
    failures_left[uid] = 1
    await h.add(id=uid, event=Hit(n=1))
    with pytest.raises(ExecutionError, match="sink down") as caught:
        await h.flush(uid)
    assert caught.value.instance_id == f"debounce:batcher:{uid}"
    status = await h.status(uid)
    assert (status.status, status.event_count) == ("debouncing", 1)
    assert (await h.flush(uid)).flushed is True


async def test_invalid_event_is_refused_in_the_client(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.debounce(batcher)
    for bad in ({"n": "x"}, {"m": 1}, "event", None):
        with pytest.raises(JobValidationError, match="debounce job 'batcher'"):
            await h.add(id=uid, event=bad)
    assert not await workflow_exists(env.temporal_client, f"debounce:batcher:{uid}")


async def test_event_the_reducer_cannot_fold_changes_nothing(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.debounce(batcher)
    with pytest.raises(ExecutionError, match="cannot fold poison event 0"):
        await h.add(id=uid, event=Hit(n=0, poison=True))
    await env.sleep("1 second")
    assert (await h.status(uid)).status == "not_found"  # no half-created instance
    first = await h.add(id=uid, event=Hit(n=1))
    with pytest.raises(ExecutionError, match="ValueError"):
        await h.add(id=uid, event=Hit(n=2, poison=True))
    status = await h.status(uid)
    assert (status.event_count, status.will_flush_at) == (1, first.will_flush_at)
    assert (await h.get_state(uid)).state == Batch(items=[1], count=1)


async def test_200_concurrent_adds_to_one_key(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.debounce(big)
    results = await asyncio.gather(*(h.add(id=uid, event=Hit(n=n)) for n in range(200)))
    assert sorted(r.event_count for r in results) == list(range(1, 201))
    assert sum(r.created for r in results) == 1
    state = (await h.get_state(uid)).state
    assert state is not None and sorted(state.items) == list(range(200))
    assert (await h.flush(uid)).event_count == 200
    assert flushes[0].state == state


async def test_a_flush_emits_executed_then_flushed(env: JobsTestEnvironment, uid: str) -> None:
    events: list[JobEvent] = []
    add_event_sink(events.append)
    try:
        h = env.client.debounce(batcher)
        await h.add(id=uid, event=Hit(n=1))
        await h.add(id=uid, event=Hit(n=2))
        await h.flush(uid)
        await h.add(id=uid, event=Hit(n=3))
        await env.sleep("6 seconds")
    finally:
        remove_event_sink(events.append)
    mine = [
        (e.name, e.fields.get("event_count"), e.fields.get("reason"))
        for e in events
        if e.id == uid and e.name in ("job.executed", "debounce.flushed")
    ]
    assert mine == [
        ("job.executed", None, None),
        ("debounce.flushed", 2, "manual"),
        ("job.executed", None, None),
        ("debounce.flushed", 1, "flush_after"),
    ]
