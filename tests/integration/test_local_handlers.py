"""Handlers run as local activities with ``local=True`` (issue 15): same answers, fewer events."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType

from durable_jobs import (
    Backoff,
    Continuous,
    ContinuousContext,
    Debounce,
    DebounceExecuteContext,
    DurableJobs,
    JobDefinitionError,
    RetryConfig,
    Task,
    TaskContext,
    TaskEventContext,
    every,
)
from durable_jobs.testing import JobsTestEnvironment


class Count(BaseModel):
    n: int = 0


flaky_left: dict[str, int] = {}
delivered: list[int] = []


async def tick(ctx: ContinuousContext[Count]) -> None:
    if flaky_left.get(ctx.id, 0) > 0:
        flaky_left[ctx.id] -= 1
        raise ConnectionError("downstream blip")
    ctx.set_state(Count(n=ctx.state.n + 1))


async def deliver(ctx: DebounceExecuteContext[Count]) -> None:
    delivered.append(ctx.state.n)


async def on_event(event: Count, ctx: TaskEventContext[Count]) -> None:
    ctx.set_state(Count(n=(ctx.state.n if ctx.state else 0) + event.n))
    ctx.schedule("1 minute")


async def alarm(ctx: TaskContext[Count]) -> None:
    ctx.update_state(lambda s: Count(n=s.n * 10))


retry = RetryConfig(max_attempts=2, delay=Backoff.constant("5 seconds"), jitter=False)
jobs = DurableJobs(
    ticker=Continuous(
        state=Count, schedule=every("1 hour"), execute=tick, local=True, timeout="10s", retry=retry
    ),
    batcher=Debounce(
        event=Count, execute=deliver, flush_after="5 seconds", local=True, timeout="10s"
    ),
    machine=Task(
        state=Count, event=Count, on_event=on_event, execute=alarm, local=True, timeout="10s"
    ),
)


@pytest.fixture
async def env() -> AsyncIterator[JobsTestEnvironment]:
    flaky_left.clear()
    delivered.clear()
    async with await JobsTestEnvironment.start_time_skipping(jobs) as jobs_env:
        yield jobs_env


async def event_types(env: JobsTestEnvironment, workflow_id: str) -> set[int]:
    handle = env.temporal_client.get_workflow_handle(workflow_id)
    return {event.event_type async for event in handle.fetch_history_events()}


async def test_local_handlers_answer_as_activities_do_without_activity_events(
    env: JobsTestEnvironment, uid: str
) -> None:
    ticker, batcher, machine = (
        env.client.continuous("ticker"),
        env.client.debounce("batcher"),
        env.client.task("machine"),
    )
    flaky_left[uid] = 1
    await ticker.start(id=uid, input=Count())
    await env.sleep("6 seconds")  # attempt 1 fails, the retry 5 s later succeeds
    status = await ticker.status(uid)
    assert (status.run_count, status.last_error) == (1, None)
    assert (await ticker.trigger(uid)).succeeded is True
    assert (await ticker.get_state(uid)).state == Count(n=2)
    await batcher.add(id=uid, event=Count(n=7))
    await env.sleep("6 seconds")
    assert delivered == [7]
    sent = await machine.send(id=uid, event=Count(n=3))
    assert sent.scheduled_at is not None
    await env.sleep("61 seconds")
    assert (await machine.get_state(uid)).state == Count(n=30)
    for workflow_id in (f"continuous:ticker:{uid}", f"task:machine:{uid}"):
        types = await event_types(env, workflow_id)
        assert EventType.EVENT_TYPE_MARKER_RECORDED in types
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in types


def test_local_handlers_must_be_short() -> None:
    with pytest.raises(JobDefinitionError, match="local=True"):
        Continuous(state=Count, schedule=every("1 hour"), execute=tick, local=True, timeout="5m")
