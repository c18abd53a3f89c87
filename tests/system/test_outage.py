"""A run missed while no worker ran is skipped with catch_up_window, run late without it."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from temporalio.testing import WorkflowEnvironment

from durable_jobs import Continuous, ContinuousContext, DurableJobs, JobsClient, every
from durable_jobs.events import JobEvent, add_event_sink, remove_event_sink
from durable_jobs.worker import build_worker
from tests.integration.helpers import eventually


class Count(BaseModel):
    n: int = 0


async def tick(ctx: ContinuousContext[Count]) -> None:
    ctx.set_state(Count(n=ctx.state.n + 1))


punctual = Continuous(
    state=Count, schedule=every("3 seconds"), execute=tick, catch_up_window="1 second"
)
late_is_fine = Continuous(state=Count, schedule=every("3 seconds"), execute=tick)
jobs = DurableJobs(punctual=punctual, late_is_fine=late_is_fine)


async def test_a_run_missed_in_an_outage_is_skipped_only_with_a_catch_up_window(
    dev_env: WorkflowEnvironment, uid: str
) -> None:
    events: list[JobEvent] = []
    add_event_sink(events.append)
    client = JobsClient.from_client(dev_env.client, jobs, task_queue=uid)
    skipping, catching_up = client.continuous(punctual), client.continuous(late_is_fine)
    try:
        async with build_worker(dev_env.client, jobs, task_queue=uid):
            await skipping.start(id=uid, input=Count())
            await catching_up.start(id=uid, input=Count())
            for h in (skipping, catching_up):
                await eventually(lambda h=h: h.status(uid), lambda s: s.run_count == 1)
        await asyncio.sleep(5)  # the outage: no worker while the run due at 3 s falls due
        async with build_worker(dev_env.client, jobs, task_queue=uid):
            caught_up = await eventually(
                lambda: catching_up.status(uid), lambda s: s.run_count == 2
            )
            assert caught_up.run_count == 2  # run once, late
            skipped = await eventually(lambda: _skipped(events, uid), lambda found: len(found) == 1)
            assert len(skipped) == 1 and skipped[0].fields["reason"] == "missed"
            status = await skipping.status(uid)
            assert status.run_count == 1 and status.next_run_at is not None  # next one planned
            await eventually(lambda: skipping.status(uid), lambda s: s.run_count == 2)
            await asyncio.gather(skipping.terminate(uid), catching_up.terminate(uid))
    finally:
        remove_event_sink(events.append)


async def _skipped(events: list[JobEvent], uid: str) -> list[JobEvent]:
    return [e for e in events if e.name == "job.skipped" and e.id == uid]
