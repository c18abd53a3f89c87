"""Scenarios whose workflow histories are kept in ``tests/histories/`` for replay tests.

Each scenario drives one kind through its main paths (runs, retries, trigger, pause, resume,
reschedule, flushes, held events, a sliding window, alarms, signals, idempotency keys, batched
calls, terminate, continue-as-new with messages queued). ``python -m tests.histories.scenarios
[name ...]`` records them again as ``{name}-{n}.json`` (only do that on purpose: the point of the
files is to hold what released code recorded). The files without a version tag are the 0.1
baseline; from the first release on, a change that alters the commands of a running instance
goes behind ``workflow.patched``, and the histories of the older code stay here, tagged. The
replay test runs the current workflow code over every file: a change that would break running
instances fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path

from pydantic import BaseModel
from temporalio.testing import WorkflowEnvironment

from durable_jobs import (
    Backoff,
    Continuous,
    Debounce,
    DurableJobs,
    ExecutionError,
    RetryConfig,
    Task,
    every,
)
from durable_jobs._servers import time_skipping_server_path
from durable_jobs.context import (
    ContinuousContext,
    DebounceEventContext,
    DebounceExecuteContext,
    TaskContext,
    TaskErrorContext,
    TaskEventContext,
    TaskIdleContext,
)
from durable_jobs.testing import JobsTestEnvironment

TASK_QUEUE = "replay-histories"
"""The task queue the scenarios run on; replay binds the registry to the same name."""

HERE = Path(__file__).parent


class Count(BaseModel):
    n: int = 0
    fail: int = 0


class Hit(BaseModel):
    n: int
    poison: bool = False


class Hits(BaseModel):
    items: list[int] = []


async def tick(ctx: ContinuousContext[Count]) -> None:
    ctx.set_state(Count(n=ctx.state.n + 1, fail=max(ctx.state.fail - 1, 0)))
    if ctx.state.fail > 0 and ctx.attempt == 1:
        raise RuntimeError("first attempt fails")
    if ctx.state.n >= 12:
        ctx.terminate("done")


def fold(ctx: DebounceEventContext[Hit, Hits]) -> Hits:
    if ctx.event.poison:
        raise ValueError("poison")
    return Hits(items=[*(ctx.state.items if ctx.state else []), ctx.event.n])


flush_failures = {"left": 1}


async def deliver(ctx: DebounceExecuteContext[Hits]) -> None:
    if flush_failures["left"] > 0:
        flush_failures["left"] -= 1
        raise ConnectionError("sink down")


async def on_event(event: Hit, ctx: TaskEventContext[Count]) -> None:
    if event.poison:
        raise ValueError("poison")
    ctx.set_state(Count(n=(ctx.state.n if ctx.state else 0) + event.n))
    ctx.schedule("30 seconds")


async def execute(ctx: TaskContext[Count]) -> None:
    ctx.update_state(lambda s: Count(n=s.n * 2))


async def on_idle(ctx: TaskIdleContext[Count]) -> None:
    if ctx.state is not None and ctx.state.n < 50:
        ctx.schedule("1 minute")


async def on_error(error: Exception, ctx: TaskErrorContext[Count]) -> None:
    ctx.set_state(Count(n=-1))


def total(ctx: DebounceEventContext[Hit, Count]) -> Count:
    return Count(n=(ctx.state.n if ctx.state else 0) + ctx.event.n)


async def refuse(ctx: DebounceExecuteContext[Count]) -> None:
    """Always fails, so the pile's batch is never emptied and the instance lives on."""
    raise ConnectionError("sink down")


async def quietly(ctx: DebounceExecuteContext[Count]) -> None:
    """Delivers the batch of a sliding window."""


retry = RetryConfig(max_attempts=3, delay=Backoff.constant("5 seconds"), jitter=True)
jobs = DurableJobs(
    ticker=Continuous(state=Count, schedule=every("1 minute"), execute=tick, retry=retry),
    batcher=Debounce(
        event=Hit,
        state=Hits,
        on_event=fold,
        execute=deliver,
        flush_after="10 seconds",
        max_events=5,
        retry=retry,
    ),
    pile=Debounce(event=Hit, state=Count, on_event=total, execute=refuse, flush_after="1 hour"),
    quiet=Debounce(
        event=Hit,
        state=Count,
        on_event=total,
        execute=quietly,
        flush_after="4 seconds",
        window="sliding",
        max_wait="8 seconds",
    ),
    machine=Task(
        state=Count,
        event=Hit,
        on_event=on_event,
        execute=execute,
        on_idle=on_idle,
        on_error=on_error,
        retry=retry,
    ),
    unpublished=Task(
        state=Count, event=Hit, on_event=on_event, execute=execute, publish_status=False
    ),
)


async def run_id(env: JobsTestEnvironment, workflow_id: str) -> str:
    """The run ID of the instance's current run."""
    return (await env.temporal_client.get_workflow_handle(workflow_id).describe()).run_id


async def continuous_scenario(env: JobsTestEnvironment) -> list[tuple[str, str]]:
    h = env.client.continuous("ticker")
    await h.start(id="replay", input=Count(fail=2))
    await env.sleep("3 minutes")
    await h.trigger("replay", idempotency_key="t-1")
    await h.trigger("replay", idempotency_key="t-1")  # the same answer, no second run
    workflow_id = "continuous:ticker:replay"
    first = await run_id(env, workflow_id)
    await h.pause("replay", reason="maintenance")
    await env.sleep("2 minutes")
    await h.trigger_nowait("replay")
    await h.resume("replay")
    await h.reschedule("replay", every("2 minutes"))
    await asyncio.gather(*(h.trigger("replay") for _ in range(3)))  # queued: one handler call
    await env.sleep("20 minutes")  # runs every 2 minutes until the run that terminates it
    return [(workflow_id, first)]


async def debounce_scenario(env: JobsTestEnvironment) -> list[tuple[str, str]]:
    h = env.client.debounce("batcher")
    workflow_id = "debounce:batcher:replay"
    runs = []
    for n in range(3):
        await h.add(id="replay", event=Hit(n=n))
    runs.append((workflow_id, await run_id(env, workflow_id)))
    await h.add_nowait(id="replay", event=Hit(n=3))
    with contextlib.suppress(ExecutionError):
        await h.add(id="replay", event=Hit(n=99, poison=True))
    await env.sleep("11 seconds")  # flush fails once, retried
    await env.sleep("10 seconds")
    for n in range(6):  # max_events flush, the sixth event starts the next batch
        await h.add(id="replay", event=Hit(n=n))
    runs.append((workflow_id, await run_id(env, workflow_id)))
    await env.sleep("1 second")
    await h.add(id="replay", event=Hit(n=7))
    await h.flush("replay")
    await h.add(id="replay", event=Hit(n=8), idempotency_key="a-8")
    await h.add(id="replay", event=Hit(n=8), idempotency_key="a-8")  # applied once
    runs.append((workflow_id, await run_id(env, workflow_id)))
    await h.clear("replay")
    quiet = env.client.debounce("quiet")
    for n in range(3):  # each event moves the deadline, until max_wait caps it
        await quiet.add(id="replay", event=Hit(n=n))
        await env.sleep("3 seconds")
    runs.append(("debounce:quiet:replay", await run_id(env, "debounce:quiet:replay")))
    await env.sleep("10 seconds")
    return runs


async def task_scenario(env: JobsTestEnvironment) -> list[tuple[str, str]]:
    h = env.client.task("machine")
    workflow_id = "task:machine:replay"
    await h.send(id="replay", event=Hit(n=3))
    first = await run_id(env, workflow_id)
    await env.sleep("31 seconds")
    await h.send_nowait(id="replay", event=Hit(n=1), idempotency_key="s-1")
    await h.send_nowait(id="replay", event=Hit(n=1), idempotency_key="s-1")  # dropped
    await h.send(id="replay", event=Hit(n=0, poison=True))
    await h.trigger("replay")
    await asyncio.gather(*(h.send(id="replay", event=Hit(n=1)) for _ in range(4)))
    await env.sleep("3 minutes")
    await h.terminate("replay")
    return [(workflow_id, first)]


async def pile_scenario(env: JobsTestEnvironment) -> list[tuple[str, str]]:
    """Past the 1,500 messages of a run with flushes still queued: continue-as-new with a queue."""
    h = env.client.debounce("pile")
    workflow_id = "debounce:pile:replay"
    await h.add(id="replay", event=Hit(n=1))
    first = await run_id(env, workflow_id)
    limit = asyncio.Semaphore(50)

    async def send(n: int) -> None:
        async with limit:
            if n % 100 == 95:
                await h.flush_nowait("replay")
            else:
                await h.add_nowait(id="replay", event=Hit(n=1))

    await asyncio.gather(*(send(n) for n in range(1_100)))
    # Answered after the 1,100 before it: the run is past 1,000 messages, the cap before
    # MESSAGE_CAP_PATCH, and goes on to 1,500 with the patch marked.
    await h.add(id="replay", event=Hit(n=1))
    await env.sleep("10 seconds")  # the run settles, and checks its cap
    await asyncio.gather(*(send(n) for n in range(500)))
    while (await run_id(env, workflow_id)) == first:
        await env.sleep("1 second")
    await env.sleep("1 second")
    return [(workflow_id, first)]


async def unpublished_scenario(env: JobsTestEnvironment) -> list[tuple[str, str]]:
    """A Task that does not publish its status: alarms, an idle spell, a failed event."""
    h = env.client.task("unpublished")
    workflow_id = "task:unpublished:replay"
    await h.send(id="replay", event=Hit(n=3))
    first = await run_id(env, workflow_id)
    await env.sleep("31 seconds")
    await h.send_nowait(id="replay", event=Hit(n=1))
    with contextlib.suppress(Exception):
        await h.send(id="replay", event=Hit(n=0, poison=True))
    await h.send(id="replay", event=Hit(n=1))
    await env.sleep("1 minute")
    await h.terminate("replay")
    return [(workflow_id, first)]


SCENARIOS = {
    "continuous": continuous_scenario,
    "debounce": debounce_scenario,
    "task": task_scenario,
    "debounce-pile": pile_scenario,
    "task-unpublished": unpublished_scenario,
}


async def record() -> None:
    """Run every scenario on a fresh time-skipping server and write its history file."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=time_skipping_server_path()
    )
    async with await JobsTestEnvironment.attach(env, jobs, task_queue=TASK_QUEUE) as jobs_env:
        scenarios = sys.argv[1:] or list(SCENARIOS)
        for kind in scenarios:
            scenario = SCENARIOS[kind]
            for number, (workflow_id, run) in enumerate(await scenario(jobs_env), start=1):
                handle = env.client.get_workflow_handle(workflow_id, run_id=run)
                history = await handle.fetch_history()
                name = f"{kind}-{number}"
                data = {"workflow_id": workflow_id, "history": json.loads(history.to_json())}
                (HERE / f"{name}.json").write_text(json.dumps(data, indent=1))
                print(f"recorded {name}: {len(history.events)} events", flush=True)
    await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())
    sys.stdout.flush()
    os._exit(0)
