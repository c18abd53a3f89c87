"""Debounce under Temporal's real per-workflow limits, on the dev server.

The time-skipping server enforces neither the 10 updates in flight nor the 2,000 updates per
run, so these run where both are real.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import BaseModel
from temporalio.testing import WorkflowEnvironment

from durable_jobs import Debounce, DurableJobs
from durable_jobs.context import DebounceEventContext, DebounceExecuteContext
from durable_jobs.testing import JobsTestEnvironment


class Hit(BaseModel):
    n: int


class Seen(BaseModel):
    items: list[int] = []


def fold(ctx: DebounceEventContext[Hit, Seen]) -> Seen:
    return Seen(items=[*(ctx.state.items if ctx.state else []), ctx.event.n])


delivered: list[Seen] = []


async def deliver(ctx: DebounceExecuteContext[Seen]) -> None:
    delivered.append(ctx.state)


hot = Debounce(event=Hit, state=Seen, on_event=fold, execute=deliver, flush_after="1 hour")
jobs = DurableJobs(hot=hot)


@pytest.fixture
async def env(dev_env: WorkflowEnvironment) -> AsyncIterator[JobsTestEnvironment]:
    delivered.clear()
    async with await JobsTestEnvironment.attach(dev_env, jobs) as jobs_env:
        yield jobs_env


async def test_200_concurrent_adds_to_one_key_all_succeed(env: JobsTestEnvironment) -> None:
    h = env.client.debounce(hot)
    key = f"burst-{uuid.uuid4().hex[:8]}"
    results = await asyncio.gather(*(h.add(id=key, event=Hit(n=n)) for n in range(200)))
    assert sorted(r.event_count for r in results) == list(range(1, 201))
    assert sum(r.created for r in results) == 1
    assert (await h.flush(key)).event_count == 200
    assert sorted(delivered[0].items) == list(range(200))


async def test_adds_past_2000_per_run_cross_continue_as_new(env: JobsTestEnvironment) -> None:
    h = env.client.debounce(hot)
    key = f"long-{uuid.uuid4().hex[:8]}"
    producers, per_producer = 8, 320
    total = producers * per_producer  # 2,560: past one run's 2,000 updates

    async def produce(p: int) -> None:
        for i in range(per_producer):
            await h.add(id=key, event=Hit(n=p * per_producer + i))

    await asyncio.gather(*(produce(p) for p in range(producers)))
    state = (await h.get_state(key)).state
    assert state is not None and sorted(state.items) == list(range(total))
    for p in range(producers):  # each producer's events stay in its own order
        own = [n for n in state.items if n // per_producer == p]
        assert own == sorted(own)
    description = await env.temporal_client.get_workflow_handle(f"debounce:hot:{key}").describe()
    assert description.run_id != description.raw_description.workflow_execution_info.first_run_id
    assert (await h.flush(key)).event_count == total
    assert sorted(delivered[0].items) == list(range(total))
