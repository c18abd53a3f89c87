"""Lifecycle events of workflow steps and of terminate (SPEC §8, issue 7 point 3).

``job.started`` and ``debounce.started`` come from workflow steps, through the step-events
activity; ``task.scheduled`` and ``job.terminated`` by ``ctx.terminate()`` from the handler
activity; ``job.terminated`` by a client's ``terminate`` from the client. A replay emits nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio.client import WorkflowHistory

from durable_jobs import Continuous, Debounce, DurableJobs, Task, every
from durable_jobs.context import (
    ContinuousContext,
    DebounceExecuteContext,
    TaskContext,
    TaskEventContext,
)
from durable_jobs.events import JobEvent, add_event_sink, remove_event_sink
from durable_jobs.testing import JobsTestEnvironment
from durable_jobs.worker import build_replayer
from tests.histories import scenarios
from tests.integration.helpers import eventually


class Hit(BaseModel):
    n: int


class Count(BaseModel):
    n: int = 0


async def deliver(ctx: DebounceExecuteContext[Hit]) -> None:
    return None


async def last_run(ctx: ContinuousContext[Count]) -> None:
    ctx.terminate("done for good")


async def remind(event: Hit, ctx: TaskEventContext[Count]) -> None:
    ctx.set_state(Count(n=event.n))
    ctx.schedule(f"{event.n} minutes")


async def nothing(ctx: TaskContext[Count]) -> None:
    return None


jobs = DurableJobs(
    batcher=Debounce(event=Hit, execute=deliver, flush_after="5 seconds"),
    once=Continuous(state=Count, schedule=every("1 hour"), execute=last_run),
    reminder=Task(state=Count, event=Hit, on_event=remind, execute=nothing),
)


@pytest.fixture
async def env() -> AsyncIterator[JobsTestEnvironment]:
    async with await JobsTestEnvironment.start_time_skipping(jobs) as jobs_env:
        yield jobs_env


@pytest.fixture
def events() -> Iterator[list[JobEvent]]:
    seen: list[JobEvent] = []
    add_event_sink(seen.append)
    yield seen
    remove_event_sink(seen.append)


def names(events: list[JobEvent], instance_id: str) -> list[str]:
    return [e.name for e in events if e.instance_id == instance_id]


async def test_debounce_emits_started_for_the_instance_and_each_batch(
    env: JobsTestEnvironment, events: list[JobEvent], uid: str
) -> None:
    h = env.client.debounce("batcher")
    first = await h.add(id=uid, event=Hit(n=1))
    await h.add(id=uid, event=Hit(n=2))
    await h.flush(uid)  # the batch ends, and with it the instance
    second = await h.add(id=uid, event=Hit(n=3))
    await env.sleep("6 seconds")
    instance = f"debounce:batcher:{uid}"
    assert Counter(names(events, instance)) == {
        "job.started": 2,
        "debounce.started": 2,
        "job.executed": 2,
        "debounce.flushed": 2,
    }
    executed = [e for e in events if e.instance_id == instance and e.name == "job.executed"]
    assert [e.fields["run_count"] for e in executed] == [1, 1]  # each instance's first flush
    started = [e for e in events if e.instance_id == instance and e.name == "debounce.started"]
    assert [e.fields["will_flush_at"] for e in started] == [
        first.will_flush_at.isoformat() if first.will_flush_at else None,
        second.will_flush_at.isoformat() if second.will_flush_at else None,
    ]
    # A step's event carries the step's workflow time: the batch started flush_after earlier.
    assert first.will_flush_at is not None
    assert started[0].timestamp == first.will_flush_at - timedelta(seconds=5)
    assert all(
        e.id == uid and e.job_kind == "debounce" and e.job_name == "batcher" for e in started
    )


async def test_task_emits_scheduled_and_terminated(
    env: JobsTestEnvironment, events: list[JobEvent], uid: str
) -> None:
    h = env.client.task("reminder")
    sent = await h.send(id=uid, event=Hit(n=30))
    instance = f"task:reminder:{uid}"
    assert (await h.terminate(uid, reason="order cancelled")).terminated
    # job.started rode with the on_event call the same step scheduled, so it comes first.
    assert names(events, instance) == ["job.started", "task.scheduled", "job.terminated"]
    scheduled = next(e for e in events if e.instance_id == instance and e.name == "task.scheduled")
    assert sent.scheduled_at is not None
    assert scheduled.fields == {
        "scheduled_at": sent.scheduled_at.isoformat(),
        "trigger": "on_event",
    }
    terminated = next(e for e in events if e.instance_id == instance and e.name == "job.terminated")
    assert terminated.fields == {"reason": "order cancelled"}


async def test_ctx_terminate_emits_terminated_with_its_reason(
    env: JobsTestEnvironment, events: list[JobEvent], uid: str
) -> None:
    h = env.client.continuous("once")
    await h.start(id=uid, input=Count())
    instance = f"continuous:once:{uid}"
    seen = await eventually(
        lambda: names_now(events, instance), lambda seen: "job.terminated" in seen
    )
    assert seen == ["job.started", "job.terminated"]
    terminated = next(e for e in events if e.instance_id == instance and e.name == "job.terminated")
    assert terminated.fields == {"reason": "done for good"}
    # The activity emits before the workflow has taken its outcome and ended.
    gone = await eventually(lambda: h.status(uid), lambda s: s.status == "not_found")
    assert gone.status == "not_found"


async def test_replaying_a_history_emits_nothing(events: list[JobEvent]) -> None:
    histories = Path(scenarios.__file__).parent
    for name in ("debounce-1", "task-1", "continuous-1"):
        recorded = json.loads((histories / f"{name}.json").read_text())
        history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
        await build_replayer(scenarios.jobs).replay_workflow(history)
    assert events == []


async def names_now(events: list[JobEvent], instance_id: str) -> list[str]:
    return names(events, instance_id)
