"""Calls applied exactly once: idempotency keys, timeouts, failures nobody waits for (SPEC §10.2).

On the time-skipping server; the chaos harness (tests/chaos) checks the same promises under
faults on the dev server, and tests/system/test_long_life.py across many runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pydantic import BaseModel

from durable_jobs import (
    CallRefusedError,
    CallTimeoutError,
    Continuous,
    ContinuousContext,
    Debounce,
    DebounceEventContext,
    DebounceExecuteContext,
    DurableJobs,
    ExecutionError,
    JobValidationError,
    Task,
    TaskContext,
    TaskEventContext,
    every,
)
from durable_jobs.events import JobEvent, add_event_sink, remove_event_sink
from durable_jobs.testing import JobsTestEnvironment
from tests.integration.helpers import eventually, workflow_exists


class Item(BaseModel):
    n: int
    poison: bool = False


class Items(BaseModel):
    items: list[int] = []


runs: dict[str, int] = {}
delivered: list[Items] = []
release = asyncio.Event()


def fold(ctx: DebounceEventContext[Item, Items]) -> Items:
    if ctx.event.poison:
        raise ValueError("the reducer refuses poison")
    return Items(items=[*(ctx.state.items if ctx.state else []), ctx.event.n])


async def deliver(ctx: DebounceExecuteContext[Items]) -> None:
    delivered.append(ctx.state)


async def on_item(event: Item, ctx: TaskEventContext[Items]) -> None:
    if event.poison:
        raise ValueError("on_event refuses poison")
    if event.n < 0:
        await release.wait()  # a slow send, for a caller that times out
    ctx.set_state(Items(items=[*(ctx.state.items if ctx.state else []), event.n]))


async def execute(ctx: TaskContext[Items]) -> None:
    runs[ctx.id] = runs.get(ctx.id, 0) + 1


async def tick(ctx: ContinuousContext[Items]) -> None:
    runs[ctx.id] = runs.get(ctx.id, 0) + 1


batcher = Debounce(
    event=Item,
    state=Items,
    on_event=fold,
    execute=deliver,
    flush_after="10 seconds",
    idempotency_window="1 minute",
)
machine = Task(state=Items, event=Item, on_event=on_item, execute=execute)
ticker = Continuous(state=Items, schedule=every("1 day"), execute=tick, start_immediately=False)
jobs = DurableJobs(batcher=batcher, machine=machine, ticker=ticker)


@pytest.fixture
async def env() -> AsyncIterator[JobsTestEnvironment]:
    runs.clear()
    delivered.clear()
    release.clear()
    async with await JobsTestEnvironment.start_time_skipping(jobs) as jobs_env:
        yield jobs_env


async def test_a_key_applies_once_and_answers_the_first_answer(
    env: JobsTestEnvironment, uid: str
) -> None:
    d, t, c = env.client.debounce(batcher), env.client.task(machine), env.client.continuous(ticker)
    first = await d.add(id=uid, event=Item(n=1), idempotency_key="k1")
    again = await d.add(id=uid, event=Item(n=99), idempotency_key="k1")
    assert again == first and (first.created, first.event_count) == (True, 1)
    await d.add_nowait(id=uid, event=Item(n=98), idempotency_key="k1")  # dropped
    assert (await d.add(id=uid, event=Item(n=2))).event_count == 2
    assert (await d.get_state(uid)).state == Items(items=[1, 2])

    sent = await t.send(id=uid, event=Item(n=1), idempotency_key="s1")
    assert await t.send(id=uid, event=Item(n=1), idempotency_key="s1") == sent
    await t.send_nowait(id=uid, event=Item(n=1), idempotency_key="s1")  # dropped
    await t.trigger(uid, idempotency_key="t1")
    await t.trigger(uid, idempotency_key="t1")
    await t.trigger_nowait(uid, idempotency_key="t1")  # dropped
    # Calls without a key, queued behind the dropped signals: once answered, those were seen.
    await t.send(id=uid, event=Item(n=2))
    await t.trigger(uid)
    status = await t.status(uid)
    assert (status.event_count, status.execute_count, runs[uid]) == (2, 2, 2)

    await c.start(id=uid, input=Items())
    triggered = await c.trigger(uid, idempotency_key="c1")
    assert await c.trigger(uid, idempotency_key="c1") == triggered
    await c.trigger_nowait(uid, idempotency_key="c1")  # dropped
    await c.trigger(uid)
    assert (await c.status(uid)).run_count == 2


async def test_a_key_for_another_kind_of_call_is_refused(
    env: JobsTestEnvironment, uid: str
) -> None:
    d = env.client.debounce(batcher)
    await d.add(id=uid, event=Item(n=1), idempotency_key="same")
    with pytest.raises(CallRefusedError, match="'add' call"):
        await d.flush(uid, idempotency_key="same")
    assert (await d.status(uid)).event_count == 1  # nothing flushed
    with pytest.raises(JobValidationError, match="idempotency_key"):
        await d.add(id=uid, event=Item(n=1), idempotency_key="x" * 129)


async def test_a_key_holds_across_a_flush_and_expires_after_its_window(
    env: JobsTestEnvironment, uid: str
) -> None:
    d = env.client.debounce(batcher)
    await d.add(id=uid, event=Item(n=1), idempotency_key="k")
    await env.sleep("11 seconds")
    assert delivered == [Items(items=[1])]
    # The batch is flushed, but the key is younger than the window: the instance stays idle.
    assert (await d.status(uid)).status == "idle"
    duplicate = await d.add(id=uid, event=Item(n=1), idempotency_key="k")
    assert duplicate.created is True and duplicate.event_count == 1  # the first answer
    assert (await d.status(uid)).event_count == 0
    fresh = await d.add(id=uid, event=Item(n=2))
    assert (fresh.created, fresh.event_count) == (True, 1)  # a new batch answers as new
    await env.sleep("11 seconds")
    assert delivered == [Items(items=[1]), Items(items=[2])]
    await env.sleep("1 minute")  # the window passes; with no key left the instance ends
    assert (await d.status(uid)).status == "not_found"
    again = await d.add(id=uid, event=Item(n=1), idempotency_key="k")
    assert (again.created, again.event_count) == (True, 1)  # applied again: a new call


async def test_a_key_holds_across_continue_as_new(env: JobsTestEnvironment, uid: str) -> None:
    t = env.client.task(machine)
    await t.send(id=uid, event=Item(n=0), idempotency_key="early")
    workflow_id = f"task:machine:{uid}"
    first_run = (await env.temporal_client.get_workflow_handle(workflow_id).describe()).run_id
    # More sends than a run takes (1,500): the instance continues as new.
    for start in range(0, 1_550, 50):
        await asyncio.gather(
            *(t.send_nowait(id=uid, event=Item(n=n)) for n in range(start, start + 50))
        )
    await t.trigger(uid)  # queued behind every send: answered once all are handled
    assert (await t.status(uid)).event_count == 1_551
    described = await env.temporal_client.get_workflow_handle(workflow_id).describe()
    assert described.run_id != first_run
    await t.send(id=uid, event=Item(n=0), idempotency_key="early")
    assert (await t.status(uid)).event_count == 1_551


async def test_a_caller_that_times_out_and_retries_with_its_key_applies_once(
    env: JobsTestEnvironment, uid: str
) -> None:
    t = env.client.task(machine)
    await t.send(id=uid, event=Item(n=1))
    with pytest.raises(CallTimeoutError, match="same idempotency_key is safe"):
        await t.send(id=uid, event=Item(n=-1), idempotency_key="slow", timeout="200ms")
    retry = asyncio.create_task(t.send(id=uid, event=Item(n=-1), idempotency_key="slow"))
    await asyncio.sleep(0.2)
    assert not retry.done()  # it waits for the first call, still in its handler
    release.set()
    await retry
    state = (await t.get_state(uid)).state
    assert state == Items(items=[1, -1]) and (await t.status(uid)).event_count == 2


async def test_failures_nobody_waits_for_are_reported(env: JobsTestEnvironment, uid: str) -> None:
    events: list[JobEvent] = []
    add_event_sink(events.append)
    try:
        d = env.client.debounce(batcher)
        await d.add_nowait(id=f"{uid}-new", event=Item(n=1, poison=True))

        async def refusal() -> list[JobEvent]:
            return _failed(events, f"debounce:batcher:{uid}-new")

        await eventually(refusal, lambda found: bool(found))
        # The refused add was the instance's only call: no instance is left behind. The
        # job.failed event comes from an activity; the run ends in the workflow task after it.
        gone = await eventually(lambda: d.status(f"{uid}-new"), lambda s: s.status == "not_found")
        assert gone.status == "not_found"
        await d.add(id=uid, event=Item(n=1))
        await d.add_nowait(id=uid, event=Item(n=2, poison=True))
        status = await eventually(lambda: d.status(uid), lambda s: s.last_error is not None)
        assert status.last_error is not None and "poison" in status.last_error.message
        assert status.event_count == 1
        with pytest.raises(ExecutionError, match="poison"):
            await d.add(id=uid, event=Item(n=3, poison=True))
    finally:
        remove_event_sink(events.append)
    failed = _failed(events, f"debounce:batcher:{uid}")
    assert len(failed) == 1 and "poison" in failed[0].fields["error"]
    assert await workflow_exists(env.temporal_client, f"debounce:batcher:{uid}")


def _failed(events: list[JobEvent], instance_id: str) -> list[JobEvent]:
    return [e for e in events if e.name == "job.failed" and e.instance_id == instance_id]
