"""Long life under Temporal's real limits, lowered so that they bite within seconds (issue 5.4).

A dev server of this module's own runs with dynamic config that makes a run's limits tens of
times smaller than a real cluster's:

- ``limit.historyCount.error``: the server terminates a run whose history grows past this many
  events, so an engine that does not continue as new in time loses the instance and these tests
  fail;
- ``limit.historyCount.suggestContinueAsNew``: Temporal suggests continuing as new earlier still,
  below the engine's own thresholds, so the engine must follow the suggestion;
- ``history.maxTotalUpdates``: updates past this many per run are refused by the server.

Each kind then lives through many runs under mixed traffic (waiting calls and fire-and-forget
signals, concurrently) and ends with exact counters and state. The literal 10,000 runs and
events of Continuous and Task, on the default limits, are in ``tests/integration/test_long_life.py``
on the time-skipping server, where a handler round trip is twice as fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from pydantic import BaseModel

from durable_jobs import Continuous, Debounce, DurableJobs, Task, every
from durable_jobs.context import (
    ContinuousContext,
    DebounceEventContext,
    DebounceExecuteContext,
    TaskContext,
    TaskEventContext,
)
from durable_jobs.testing import JobsTestEnvironment
from tests.integration.helpers import eventually

HISTORY_EVENTS_LIMIT = 5_000
"""Events per run before the server terminates it (a real cluster: 51,200)."""

LOWERED_LIMITS = {
    # A real cluster suggests continue-as-new at 4,096 events, a twelfth of its hard limit. The
    # room between the suggestion and the limit must outlast a flood of signals: each one that
    # arrives while the run's continue-as-new is in flight sends it round again (at 1,800
    # events of room, a loaded CI machine once ran out).
    "limit.historyCount.error": HISTORY_EVENTS_LIMIT,
    "limit.historyCount.warn": 4_000,
    "limit.historyCount.suggestContinueAsNew": 200,
    "history.maxTotalUpdates": 200,
}


class Item(BaseModel):
    producer: int
    seq: int


class Items(BaseModel):
    items: list[tuple[int, int]] = []


class Count(BaseModel):
    n: int = 0


class Tally(BaseModel):
    """Debounce state that stays small: counts, and each producer's last sequence number."""

    count: int = 0
    last: dict[int, int] = {}
    out_of_order: int = 0  # a repeated, skipped or reordered event


def fold(ctx: DebounceEventContext[Item, Tally]) -> Tally:
    # The reducer runs inside the workflow task, for every event of it: a state that grew with
    # the batch would make a burst of signals cost more than Temporal's 2 s per workflow task.
    state = ctx.state or Tally()
    event = ctx.event
    expected = state.last.get(event.producer, -1) + 1
    return Tally(
        count=state.count + 1,
        last={**state.last, event.producer: event.seq},
        out_of_order=state.out_of_order + (event.seq != expected),
    )


delivered: list[Tally] = []


async def deliver(ctx: DebounceExecuteContext[Tally]) -> None:
    delivered.append(ctx.state)


async def count_run(ctx: ContinuousContext[Count]) -> None:
    ctx.set_state(Count(n=ctx.state.n + 1))


async def count_event(event: Item, ctx: TaskEventContext[Items]) -> None:
    state = ctx.state or Items()
    ctx.set_state(Items(items=[*state.items, (event.producer, event.seq)]))


async def no_alarm(ctx: TaskContext[Items]) -> None:
    """Never called: nothing schedules the alarm."""


batch = Debounce(event=Item, state=Tally, on_event=fold, execute=deliver, flush_after="1 hour")
ticker = Continuous(state=Count, schedule=every("1 hour"), execute=count_run)
machine = Task(state=Items, event=Item, on_event=count_event, execute=no_alarm)
jobs = DurableJobs(batch=batch, ticker=ticker, machine=machine)


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[JobsTestEnvironment]:
    args = [
        arg
        for key, value in LOWERED_LIMITS.items()
        for arg in ("--dynamic-config-value", f"{key}={value}")
    ]
    async with await JobsTestEnvironment.start_local(jobs, dev_server_extra_args=args) as env:
        yield env


async def runs_of(env: JobsTestEnvironment, workflow_id: str) -> int:
    """How many runs the instance has had, counted through its chain of continue-as-new."""
    description = await env.temporal_client.get_workflow_handle(workflow_id).describe()
    info = description.raw_description.workflow_execution_info
    runs, run_id = 1, description.run_id
    while run_id != info.first_run_id:
        history = await env.temporal_client.get_workflow_handle(
            workflow_id, run_id=run_id
        ).fetch_history()
        run_id = history.events[
            0
        ].workflow_execution_started_event_attributes.continued_execution_run_id
        runs += 1
    return runs


async def mixed_traffic(
    waiting_call: Callable[[Item], Awaitable[object]],
    firing_call: Callable[[Item], Awaitable[object]],
    *,
    waiting: int,
    firing: int,
    per: int,
) -> None:
    """Producers ``0..waiting-1`` use the waiting call, the rest the fire-and-forget one; each
    sends ``per`` items numbered in order, all producers at once. One failure stops them all."""

    async def produce(producer: int) -> None:
        call = waiting_call if producer < waiting else firing_call
        for seq in range(per):
            await call(Item(producer=producer, seq=seq))

    async with asyncio.TaskGroup() as producers:
        for p in range(waiting + firing):
            producers.create_task(produce(p))


def assert_each_once_in_order(items: list[tuple[int, int]], producers: int, per: int) -> None:
    assert len(items) == len(set(items)) == producers * per
    for producer in range(producers):
        assert [seq for p, seq in items if p == producer] == list(range(per))


async def test_debounce_10000_adds_through_many_runs(env: JobsTestEnvironment) -> None:
    h = env.client.debounce(batch)
    waiting, firing, per = 5, 3, 1_250  # 6,250 updates (31 runs' worth), 3,750 signals

    await mixed_traffic(
        lambda item: h.add(id="long", event=item),
        lambda item: h.add_nowait(id="long", event=item),
        waiting=waiting,
        firing=firing,
        per=per,
    )
    total = (waiting + firing) * per
    status = await eventually(lambda: h.status("long"), lambda s: s.event_count == total)
    assert status.event_count == total
    assert (await h.flush("long")).event_count == total
    assert delivered == [
        Tally(count=total, last={p: per - 1 for p in range(waiting + firing)}, out_of_order=0)
    ]
    assert await runs_of(env, "debounce:batch:long") >= 6_250 // 200


async def test_continuous_1000_runs_through_many_runs(env: JobsTestEnvironment) -> None:
    h = env.client.continuous(ticker)
    await h.start(id="long", input=Count())
    # About 11 history events per run: 1,000 runs need more than 10 workflow runs.
    signals = asyncio.gather(*(h.trigger_nowait("long") for _ in range(900)))
    waits = asyncio.gather(*(h.trigger("long") for _ in range(99)))
    await asyncio.gather(signals, waits)
    status = await eventually(lambda: h.status("long"), lambda s: s.run_count == 1_000, timeout=180)
    assert (status.status, status.run_count, status.last_error) == ("running", 1_000, None)
    assert (await h.get_state("long")).state == Count(n=1_000)
    assert await runs_of(env, "continuous:ticker:long") > 1_000 * 11 // HISTORY_EVENTS_LIMIT


async def test_task_1000_events_through_many_runs(env: JobsTestEnvironment) -> None:
    h = env.client.task(machine)
    waiting, firing, per = 1, 9, 100

    await mixed_traffic(
        lambda item: h.send(id="long", event=item),
        lambda item: h.send_nowait(id="long", event=item),
        waiting=waiting,
        firing=firing,
        per=per,
    )
    status = await eventually(
        lambda: h.status("long"), lambda s: s.event_count == 1_000, timeout=180
    )
    assert (status.event_count, status.last_error) == (1_000, None)
    state = (await h.get_state("long")).state
    assert state is not None
    assert_each_once_in_order(state.items, waiting + firing, per)
    assert await runs_of(env, "task:machine:long") > 1_000 * 6 // HISTORY_EVENTS_LIMIT
