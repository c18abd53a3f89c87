"""The job definitions the harness drives through the library (``bench/baseline`` mirrors them).

Handlers are trivial on purpose, so the numbers are the library's and Temporal's cost. The Task
and Continuous handlers record wall-clock times in their state, from which the load process
computes alarm and schedule lateness.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from pydantic import BaseModel

from durable_jobs import Continuous, Debounce, DurableJobs, Task, every
from durable_jobs.context import (
    ContinuousContext,
    DebounceEventContext,
    DebounceExecuteContext,
    TaskContext,
    TaskEventContext,
)

FLUSH_AFTER = "1 hour"
"""Debounce batches never flush during a run: the bench measures ``add``."""

FAR_ALARM = "1 hour"
"""The alarm a Task event without ``due_at`` sets: armed, never due during a run."""

TICK_EVERY_SECONDS = 5.0
"""The schedule of the ``ticker`` job, whose lateness the ``ticks`` scenario measures."""

MAX_LATENESS_SAMPLES = 20
"""Lateness samples kept in a ticker's state."""


class Event(BaseModel):
    """A Debounce event."""

    n: int


class Count(BaseModel):
    """A Debounce batch: how many events it folded."""

    count: int = 0


def fold(ctx: DebounceEventContext[Event, Count]) -> Count:
    """The reducer: count the events."""
    return Count(count=ctx.event_count)


async def deliver(ctx: DebounceExecuteContext[Count]) -> None:
    """The flush: nothing to deliver to."""
    return None


class Arm(BaseModel):
    """A Task event: set the alarm to ``due_at`` (epoch seconds), or an hour out."""

    due_at: float | None = None


class Alarm(BaseModel):
    """A Task's state: events seen, when its alarm is due, when ``execute`` started."""

    events: int = 0
    due_at: float | None = None
    fired_at: float | None = None


async def arm(event: Arm, ctx: TaskEventContext[Alarm]) -> None:
    """``on_event``: count the event and (re)arm the alarm."""
    if event.due_at is None:
        ctx.schedule(FAR_ALARM)
    else:
        ctx.schedule(datetime.fromtimestamp(event.due_at, UTC))
    assert ctx.scheduled_at is not None
    events = 1 if ctx.state is None else ctx.state.events + 1
    ctx.set_state(Alarm(events=events, due_at=ctx.scheduled_at.timestamp()))


async def fire(ctx: TaskContext[Alarm]) -> None:
    """``execute``: record when the alarm's handler actually ran."""
    fired_at = time.time()
    if ctx.state is not None:
        ctx.set_state(ctx.state.model_copy(update={"fired_at": fired_at}))


class Ticks(BaseModel):
    """A Continuous state: runs, when the last run finished, how late each later run started."""

    interval_s: float
    runs: int = 0
    last_finished: float | None = None
    lateness: list[float] = []


async def tick(ctx: ContinuousContext[Ticks]) -> None:
    """``execute``: count the run and how late it started after the previous one finished."""
    started = time.time()
    state = ctx.state
    lateness = state.lateness
    if state.last_finished is not None and len(lateness) < MAX_LATENESS_SAMPLES:
        lateness = [*lateness, started - state.last_finished - state.interval_s]
    ctx.set_state(
        state.model_copy(
            update={"runs": state.runs + 1, "last_finished": time.time(), "lateness": lateness}
        )
    )


jobs = DurableJobs(
    batcher=Debounce(
        event=Event, state=Count, on_event=fold, execute=deliver, flush_after=FLUSH_AFTER
    ),
    alarm=Task(state=Alarm, event=Arm, on_event=arm, execute=fire),
    # The same job with its handlers as local activities: what ``local=True`` gives a hot key.
    alarm_local=Task(
        state=Alarm, event=Arm, on_event=arm, execute=fire, local=True, timeout="10 seconds"
    ),
    hourly=Continuous(state=Ticks, schedule=every("1 hour"), execute=tick),
    # The same jobs without the status summary's visibility writes: what the summary costs.
    alarm_unpublished=Task(
        state=Alarm, event=Arm, on_event=arm, execute=fire, publish_status=False
    ),
    hourly_unpublished=Continuous(
        state=Ticks, schedule=every("1 hour"), execute=tick, publish_status=False
    ),
    ticker=Continuous(state=Ticks, schedule=every(f"{TICK_EVERY_SECONDS} seconds"), execute=tick),
)
"""The registry the durable worker serves."""
