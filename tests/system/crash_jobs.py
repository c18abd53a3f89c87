"""Jobs for the worker-crash tests; the worker runs them in a separate OS process.

Each handler appends a line to ``$JOBS_TEST_DIR/<job>.log`` when it starts, and the first call
of each job then blocks, so the test can kill the worker in the middle of it.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from pydantic import BaseModel

from durable_jobs import Continuous, Debounce, DurableJobs, Task, every
from durable_jobs.context import (
    ContinuousContext,
    DebounceExecuteContext,
    TaskContext,
    TaskEventContext,
)


class Counter(BaseModel):
    n: int = 0


class Hit(BaseModel):
    n: int


def _log(job: str, line: str) -> int:
    """Record a handler start; return how many starts were recorded before it."""
    path = Path(os.environ["JOBS_TEST_DIR"]) / f"{job}.log"
    before = len(path.read_text().splitlines()) if path.exists() else 0
    with path.open("a") as file:
        file.write(f"{os.getpid()} {line}\n")
    return before


def starts(directory: Path, job: str) -> list[str]:
    """The lines ``job``'s handlers have logged in ``directory`` (the test's ``JOBS_TEST_DIR``)."""
    path = directory / f"{job}.log"
    return path.read_text().splitlines() if path.exists() else []


async def _block_first_time(job: str, line: str) -> None:
    if _log(job, line) == 0:
        await asyncio.Event().wait()  # killed here


async def run(ctx: ContinuousContext[Counter]) -> None:
    ctx.set_state(Counter(n=ctx.state.n + 1))
    await _block_first_time("continuous", f"attempt={ctx.attempt} run={ctx.run_count}")


async def flush(ctx: DebounceExecuteContext[Counter]) -> None:
    await _block_first_time("debounce", f"attempt={ctx.attempt} events={ctx.event_count}")


async def on_event(event: Hit, ctx: TaskEventContext[Counter]) -> None:
    ctx.set_state(Counter(n=event.n))
    ctx.schedule("1 second")


async def execute(ctx: TaskContext[Counter]) -> None:
    ctx.update_state(lambda s: Counter(n=s.n * 10))
    await _block_first_time("task", f"attempt={ctx.attempt}")


async def tick(ctx: ContinuousContext[Counter]) -> None:
    """Log the run's interval (wall clock, this process) to check that runs never overlap."""
    started = time.time()
    await asyncio.sleep(0.3)
    _log("ticks", f"{ctx.id} {ctx.run_count} {started:.3f} {time.time():.3f}")
    ctx.set_state(Counter(n=ctx.state.n + 1))


async def beat(ctx: ContinuousContext[Counter]) -> None:
    _log("beat", f"run={ctx.run_count}")


async def flushed(ctx: DebounceExecuteContext[Counter]) -> None:
    _log("flushed", f"events={ctx.event_count}")


async def arm(event: Hit, ctx: TaskEventContext[Counter]) -> None:
    ctx.schedule("4 seconds")


async def ring(ctx: TaskContext[Counter]) -> None:
    _log("ring", f"executes={ctx.execute_count}")


jobs = DurableJobs(
    beat=Continuous(
        state=Counter, schedule=every("4 seconds"), execute=beat, start_immediately=False
    ),
    later=Debounce(event=Hit, execute=flushed, flush_after="4 seconds"),
    alarm=Task(state=Counter, event=Hit, on_event=arm, execute=ring),
    ticker=Continuous(state=Counter, schedule=every("200 millis"), execute=tick),
    slowRun=Continuous(state=Counter, schedule=every("1 hour"), execute=run),
    slowFlush=Debounce(event=Hit, execute=flush, flush_after="1 second"),
    slowTask=Task(state=Counter, event=Hit, on_event=on_event, execute=execute),
)
