"""How often the status summary is written: once per alarm or run, not again while it runs.

The memo summary is written at once when the status, the last error or the next time shown
changes, and otherwise at most every ``SUMMARY_INTERVAL``. An alarm or a scheduled run that
comes more than that after the last write used to write the memo twice: when its handler call
started (only the interval had passed) and when it returned (the status or the next time
changed). Each write is a history event and a visibility update; the first said nothing the
second did not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from durable_jobs import Continuous, ContinuousContext, DurableJobs, Task, TaskContext, every
from durable_jobs.context import TaskEventContext
from durable_jobs.protocol import STATUS_MEMO
from durable_jobs.testing import JobsTestEnvironment
from durable_jobs.workflows.engine import SUMMARY_AFTER_CALL_PATCH
from tests.integration.helpers import history

MEMO_WRITTEN = EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED


class Count(BaseModel):
    n: int = 0


class Arm(BaseModel):
    hours: float


async def tick(ctx: ContinuousContext[Count]) -> None:
    ctx.update_state(lambda s: s.model_copy(update={"n": s.n + 1}))


async def arm(event: Arm, ctx: TaskEventContext[Count]) -> None:
    ctx.schedule(timedelta(hours=event.hours))


async def fire(ctx: TaskContext[Count]) -> None:
    ctx.set_state(Count(n=1))


jobs = DurableJobs(
    hourly=Continuous(state=Count, schedule=every("1 hour"), execute=tick),
    reminder=Task(state=Count, event=Arm, on_event=arm, execute=fire),
)


@pytest.fixture
async def env() -> AsyncIterator[JobsTestEnvironment]:
    async with await JobsTestEnvironment.start_time_skipping(jobs) as env:
        yield env


def fired(events: list[HistoryEvent]) -> list[int]:
    """The indexes of the alarm timers that fired."""
    return [i for i, e in enumerate(events) if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED]


def between(events: list[HistoryEvent], start: int, end: int | None) -> list[int]:
    """The types of the events after index ``start`` and before index ``end``."""
    return [event.event_type for event in events[start + 1 : end]]


def patch_markers(events: list[HistoryEvent]) -> int:
    return sum(
        1
        for event in events
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and SUMMARY_AFTER_CALL_PATCH.encode() in event.SerializeToString()
    )


async def test_an_hourly_run_writes_the_memo_once_after_it_ran(env: JobsTestEnvironment) -> None:
    await env.client.continuous("hourly").start(id="u1", input=Count())
    await env.sleep(timedelta(hours=4, minutes=30))
    status = await env.client.continuous("hourly").status("u1")
    assert status.run_count == 5

    events = await history(env.temporal_client, "continuous:hourly:u1")
    runs = fired(events)
    assert len(runs) == 4
    for start, end in zip(runs, [*runs[1:], None], strict=True):
        run = between(events, start, end)
        # One write, and only once the run is over: the next run time changed then.
        assert run.count(MEMO_WRITTEN) == 1, run
        assert run.index(MEMO_WRITTEN) > run.index(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
    assert patch_markers(events) == 1


async def test_an_alarm_that_leaves_a_task_idle_writes_the_memo_once(
    env: JobsTestEnvironment,
) -> None:
    reminder = env.client.task("reminder")
    await reminder.send(id="o1", event=Arm(hours=2))  # active: written at once
    # The alarm moved earlier while the summary still shows one ahead: that waits for the
    # interval, which has long passed when the alarm fires.
    await reminder.send(id="o1", event=Arm(hours=1))
    await env.sleep(timedelta(hours=3))
    status = await reminder.status("o1")
    assert (status.status, status.event_count, status.execute_count) == ("idle", 2, 1)

    events = await history(env.temporal_client, "task:reminder:o1")
    alarms = fired(events)
    assert len(alarms) == 1
    after = between(events, alarms[0], None)
    assert after.count(MEMO_WRITTEN) == 1, after
    assert after.index(MEMO_WRITTEN) > after.index(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
    description = await env.temporal_client.get_workflow_handle("task:reminder:o1").describe()
    assert (await description.memo_value(STATUS_MEMO))["status"] == "idle"
