"""Long life (issue 5.4): 10,000 Continuous runs and 10,000 Task events, exact to the end.

Each handler call is an activity, one after another for one instance: about 20 ms a round trip
here against 48 ms on the dev server (measured for hand-written ``temporalio`` code too), so the
literal 10,000 run on the time-skipping server, the two instances side by side on servers of
their own. Debounce's 10,000 adds, and all three kinds under lowered real limits, are in
``tests/system/test_long_life.py``.
"""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from durable_jobs import Continuous, DurableJobs, Task, every
from durable_jobs.context import ContinuousContext, TaskContext, TaskEventContext
from durable_jobs.testing import JobsTestEnvironment
from tests.integration.helpers import eventually

RUNS = EVENTS = 10_000


class Count(BaseModel):
    n: int = 0
    seen: list[int] = []  # run_count of each run: proves none repeated or skipped


class Machine(BaseModel):
    events: int = 0
    executes: int = 0


async def count_run(ctx: ContinuousContext[Count]) -> None:
    # Keep the last few only: the state stays small however long the instance lives.
    ctx.set_state(Count(n=ctx.state.n + 1, seen=[*ctx.state.seen[-9:], ctx.run_count]))


async def count_event(event: Machine, ctx: TaskEventContext[Machine]) -> None:
    state = ctx.state or Machine()
    ctx.set_state(state.model_copy(update={"events": state.events + 1}))
    ctx.schedule("1 second")


async def count_execute(ctx: TaskContext[Machine]) -> None:
    ctx.update_state(lambda s: s.model_copy(update={"executes": s.executes + 1}))


ticker = Continuous(state=Count, schedule=every("30 minutes"), execute=count_run)
machine = Task(state=Machine, event=Machine, on_event=count_event, execute=count_execute)
jobs = DurableJobs(ticker=ticker, machine=machine)


async def first_run_differs(env: JobsTestEnvironment, workflow_id: str) -> bool:
    description = await env.temporal_client.get_workflow_handle(workflow_id).describe()
    return description.run_id != description.raw_description.workflow_execution_info.first_run_id


async def ten_thousand_runs() -> None:
    async with await JobsTestEnvironment.start_time_skipping(jobs) as env:
        h = env.client.continuous(ticker)
        await h.start(id="long", input=Count())
        for _ in range(RUNS // 100):  # 100 runs a sleep: well inside the 30 s RPC timeout
            await env.sleep("50 hours")
        status = await h.status("long")
        state = (await h.get_state("long")).state
        assert status.run_count is not None and status.run_count >= RUNS
        assert (status.status, status.last_error) == ("running", None)
        assert state is not None and state.n == status.run_count
        assert state.seen == list(range(status.run_count - 9, status.run_count + 1))
        assert await first_run_differs(env, "continuous:ticker:long")


async def ten_thousand_events() -> None:
    async with await JobsTestEnvironment.start_time_skipping(jobs) as env:
        h = env.client.task(machine)
        rounds = EVENTS // 10
        for _ in range(rounds):
            # Nine signals and one update each round; then the alarm that on_event set fires.
            await asyncio.gather(*(h.send_nowait(id="long", event=Machine()) for _ in range(9)))
            await h.send(id="long", event=Machine())
            await env.sleep("2 seconds")
        status = await eventually(lambda: h.status("long"), lambda s: s.event_count == EVENTS)
        assert (status.event_count, status.execute_count) == (EVENTS, rounds)
        assert (status.status, status.last_error) == ("idle", None)
        assert (await h.get_state("long")).state == Machine(events=EVENTS, executes=rounds)
        assert await first_run_differs(env, "task:machine:long")


# About 4.5 minutes on a quiet 2-core machine (20,000 handler calls, one after another per
# instance): the suite's 300 s limit would fail it under the CPU load it must withstand.
@pytest.mark.timeout(900)
async def test_10000_runs_and_10000_events_cross_continue_as_new_exactly() -> None:
    await asyncio.gather(ten_thousand_runs(), ten_thousand_events())
