"""Fire-and-forget calls (signals) against their waiting twins (SPEC §5.4)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import BaseModel

from durable_jobs import Continuous, Debounce, DurableJobs, JobValidationError, Task, every
from durable_jobs.context import (
    ContinuousContext,
    DebounceEventContext,
    DebounceExecuteContext,
    TaskContext,
    TaskEventContext,
)
from durable_jobs.events import JobEvent, add_event_sink, remove_event_sink
from durable_jobs.testing import JobsTestEnvironment
from tests.integration.helpers import eventually, workflow_exists


class Item(BaseModel):
    producer: int = 0
    seq: int = 0
    poison: bool = False


class Items(BaseModel):
    items: list[Item] = []


def fold(ctx: DebounceEventContext[Item, Items]) -> Items:
    if ctx.event.poison:
        raise ValueError("poison event")
    return Items(items=[*(ctx.state.items if ctx.state else []), ctx.event])


delivered: list[Items] = []


async def deliver(ctx: DebounceExecuteContext[Items]) -> None:
    delivered.append(ctx.state)


async def on_item(event: Item, ctx: TaskEventContext[Items]) -> None:
    if event.poison:
        ctx.set_state(Items(items=[event]))
        raise ValueError("on_event refused a poison item")
    ctx.set_state(Items(items=[*(ctx.state.items if ctx.state else []), event]))
    ctx.schedule("10 minutes")


executes: list[str] = []


async def task_execute(ctx: TaskContext[Items]) -> None:
    executes.append(ctx.id)


async def tick(ctx: ContinuousContext[Items]) -> None:
    executes.append(ctx.id)


batch = Debounce(event=Item, state=Items, on_event=fold, execute=deliver, flush_after="1 hour")
machine = Task(state=Items, event=Item, on_event=on_item, execute=task_execute)
ticker = Continuous(state=Items, schedule=every("1 hour"), execute=tick)
jobs = DurableJobs(batch=batch, machine=machine, ticker=ticker)


@pytest.fixture
async def env() -> AsyncIterator[JobsTestEnvironment]:
    delivered.clear()
    executes.clear()
    async with await JobsTestEnvironment.start_time_skipping(jobs) as jobs_env:
        yield jobs_env


async def test_add_nowait_matches_add(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.debounce(batch)
    for seq in range(3):
        await h.add(id=f"{uid}-wait", event=Item(seq=seq))
        assert await h.add_nowait(id=f"{uid}-nowait", event=Item(seq=seq)) is None
    waited = await h.status(f"{uid}-wait")
    fired = await eventually(lambda: h.status(f"{uid}-nowait"), lambda s: s.event_count == 3)
    assert (fired.status, fired.event_count) == (waited.status, waited.event_count)
    assert fired.started_at is not None and fired.will_flush_at is not None
    assert waited.started_at is not None and waited.will_flush_at is not None
    assert fired.will_flush_at - fired.started_at == waited.will_flush_at - waited.started_at
    assert (await h.get_state(f"{uid}-nowait")).state == (await h.get_state(f"{uid}-wait")).state


async def test_flush_nowait(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.debounce(batch)
    assert await h.flush_nowait(uid) is False
    await h.add(id=uid, event=Item(seq=1))
    assert await h.flush_nowait(uid) is True
    status = await eventually(lambda: h.status(uid), lambda s: s.status == "not_found")
    assert status.status == "not_found"
    assert delivered == [Items(items=[Item(seq=1)])]


async def test_send_nowait_matches_send(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.task(machine)
    for seq in range(2):
        await h.send(id=f"{uid}-wait", event=Item(seq=seq))
        await h.send_nowait(id=f"{uid}-nowait", event=Item(seq=seq))
    waited = await h.status(f"{uid}-wait")
    fired = await eventually(lambda: h.status(f"{uid}-nowait"), lambda s: s.event_count == 2)
    assert (fired.status, fired.event_count, fired.execute_count) == (
        waited.status,
        waited.event_count,
        waited.execute_count,
    )
    assert fired.scheduled_at is not None and waited.scheduled_at is not None
    assert abs(fired.scheduled_at - waited.scheduled_at) < timedelta(seconds=2)
    assert (await h.get_state(f"{uid}-nowait")).state == (await h.get_state(f"{uid}-wait")).state


async def test_trigger_nowait_for_continuous_and_task(env: JobsTestEnvironment, uid: str) -> None:
    c, t = env.client.continuous(ticker), env.client.task(machine)
    assert await c.trigger_nowait(uid) is False
    assert await t.trigger_nowait(uid) is False
    await c.start(id=uid, input=Items())
    await env.sleep("1 second")
    assert await c.trigger_nowait(uid) is True
    status = await eventually(lambda: c.status(uid), lambda s: s.run_count == 2)
    assert status.run_count == 2
    await t.send(id=uid, event=Item())
    assert await t.trigger_nowait(uid) is True
    task_status = await eventually(lambda: t.status(uid), lambda s: s.execute_count == 1)
    assert (task_status.execute_count, task_status.status) == (1, "active")  # alarm kept


async def test_invalid_input_is_refused_before_sending(env: JobsTestEnvironment, uid: str) -> None:
    with pytest.raises(JobValidationError, match="debounce job 'batch'"):
        await env.client.debounce(batch).add_nowait(id=uid, event={"seq": "x"})
    with pytest.raises(JobValidationError, match="task job 'machine'"):
        await env.client.task(machine).send_nowait(id=uid, event="nope")
    with pytest.raises(JobValidationError):
        await env.client.continuous(ticker).trigger_nowait("")
    assert not await workflow_exists(env.temporal_client, f"debounce:batch:{uid}")
    assert not await workflow_exists(env.temporal_client, f"task:machine:{uid}")


async def test_concurrent_first_add_nowait_calls_all_land(
    env: JobsTestEnvironment, uid: str
) -> None:
    # Racing signal-with-starts of a new instance: one starts it, the others must signal it.
    h = env.client.debounce(batch)
    keys = [f"{uid}-{k}" for k in range(20)]
    await asyncio.gather(
        *(h.add_nowait(id=key, event=Item(producer=p)) for key in keys for p in range(10))
    )
    for key in keys:
        status = await eventually(lambda k=key: h.status(k), lambda s: s.event_count == 10)
        assert status.event_count == 10


async def test_mixed_traffic_to_one_key_keeps_every_event_once_in_order(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.debounce(batch)

    async def fire_and_forget(producer: int) -> None:
        for seq in range(150):
            await h.add_nowait(id=uid, event=Item(producer=producer, seq=seq))

    async def waiting() -> None:
        for seq in range(100):
            await h.add(id=uid, event=Item(producer=99, seq=seq))

    await asyncio.gather(waiting(), *(fire_and_forget(p) for p in range(10)))
    status = await eventually(lambda: h.status(uid), lambda s: s.event_count == 1_600)
    assert status.event_count == 1_600
    description = await env.temporal_client.get_workflow_handle(f"debounce:batch:{uid}").describe()
    info = description.raw_description.workflow_execution_info
    assert description.run_id != info.first_run_id  # signals crossed continue-as-new (1,500)
    assert (await h.flush(uid)).event_count == 1_600
    items = [(i.producer, i.seq) for b in delivered for i in b.items]
    assert len(items) == len(set(items)) == 1_600
    for producer in range(10):
        assert [s for p, s in items if p == producer] == list(range(150))
    assert [s for p, s in items if p == 99] == list(range(100))


async def test_send_nowait_failure_is_not_lost(env: JobsTestEnvironment, uid: str) -> None:
    events: list[JobEvent] = []
    add_event_sink(events.append)
    try:
        h = env.client.task(machine)
        await h.send(id=uid, event=Item(seq=1))
        before = await h.status(uid)
        await h.send_nowait(id=uid, event=Item(seq=2, poison=True))
        status = await eventually(lambda: h.status(uid), lambda s: s.last_error is not None)
    finally:
        remove_event_sink(events.append)
    assert status.last_error is not None
    assert "on_event refused a poison item" in status.last_error.message
    assert (status.event_count, status.scheduled_at) == (before.event_count, before.scheduled_at)
    assert (await h.get_state(uid)).state == Items(items=[Item(seq=1)])
    failed = [
        e for e in events if e.name == "job.failed" and e.instance_id == f"task:machine:{uid}"
    ]
    assert len(failed) == 1
    assert failed[0].fields["will_retry"] is False
    assert "poison" in failed[0].fields["error"]
