"""Task jobs end to end on the time-skipping server (SPEC §4, §5.3, §6)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from durable_jobs import Backoff, DurableJobs, ExecutionError, JobValidationError, RetryConfig, Task
from durable_jobs.context import TaskContext, TaskErrorContext, TaskEventContext, TaskIdleContext
from durable_jobs.testing import JobsTestEnvironment
from tests.integration.helpers import virtual_now, workflow_exists


class Note(BaseModel):
    kind: Literal["note"] = "note"
    n: int = 0


class Plan(BaseModel):
    """Schedule the alarm: each entry of ``after`` in turn (last wins), ``at``, maybe cancel."""

    kind: Literal["plan"] = "plan"
    after: list[str] = []
    at: datetime | None = None
    cancel: bool = False
    rearm: bool = False


class Fail(BaseModel):
    kind: Literal["fail"] = "fail"


class Break(BaseModel):
    """Make the following executes fail (until on_error repairs the state)."""

    kind: Literal["break"] = "break"


class End(BaseModel):
    kind: Literal["end"] = "end"
    on: Literal["on_event", "execute", "on_idle"] = "on_event"


Event = Annotated[Note | Plan | Fail | Break | End, Field(discriminator="kind")]


class Machine(BaseModel):
    notes: list[int] = []
    executes: int = 0
    end_on: str | None = None
    rearm: bool = False
    fail_executes: int = 0


seen: list[tuple[str, object]] = []


async def on_event(event: Note | Plan | Fail | Break | End, ctx: TaskEventContext[Machine]) -> None:
    seen.append(("on_event", ctx.is_first_event))
    state = ctx.state or Machine()
    if isinstance(event, Note):
        ctx.set_state(state.model_copy(update={"notes": [*state.notes, event.n]}))
    elif isinstance(event, Plan):
        ctx.set_state(state.model_copy(update={"rearm": event.rearm}))
        for after in event.after:
            ctx.schedule(after)
        if event.at is not None:
            ctx.schedule(event.at)
        if event.cancel:
            ctx.cancel_schedule()
    elif isinstance(event, Fail):
        ctx.set_state(state.model_copy(update={"notes": [*state.notes, -1]}))
        ctx.schedule("1 hour")
        raise RuntimeError("on_event refused the event")
    elif isinstance(event, Break):
        ctx.set_state(state.model_copy(update={"fail_executes": 1}))
    else:
        if event.on == "on_event":
            ctx.terminate()
        ctx.set_state(state.model_copy(update={"end_on": event.on}))
        if event.on == "execute":
            ctx.schedule("1 second")


async def execute(ctx: TaskContext[Machine]) -> None:
    seen.append(("execute", virtual_now()))
    assert ctx.state is not None
    if ctx.state.end_on == "execute":
        ctx.terminate()
    ctx.update_state(lambda s: s.model_copy(update={"executes": s.executes + 1}))
    if ctx.state.fail_executes > 0:
        raise ConnectionError(f"downstream down (attempt {ctx.attempt})")


async def on_idle(ctx: TaskIdleContext[Machine]) -> None:
    seen.append(("on_idle", ctx.idle_reason))
    if ctx.state is not None and ctx.state.end_on == "on_idle":
        ctx.terminate()
    if ctx.state is not None and ctx.state.rearm:
        ctx.schedule("1 minute")


async def on_error(error: Exception, ctx: TaskErrorContext[Machine]) -> None:
    seen.append(("on_error", (ctx.error_source, type(error).__name__, str(error))))
    assert ctx.state is not None
    ctx.set_state(ctx.state.model_copy(update={"fail_executes": 0}))


retry = RetryConfig(max_attempts=3, delay=Backoff.constant("10 seconds"), jitter=False)
machine = Task(
    state=Machine,
    event=Event,
    on_event=on_event,
    execute=execute,
    on_idle=on_idle,
    on_error=on_error,
    retry=retry,
)
bare = Task(state=Machine, event=Event, on_event=on_event, execute=execute, retry=retry)


jobs = DurableJobs(machine=machine, bare=bare)


@pytest.fixture
async def env() -> AsyncIterator[JobsTestEnvironment]:
    seen.clear()
    async with await JobsTestEnvironment.start_time_skipping(jobs) as jobs_env:
        yield jobs_env


def calls(name: str) -> list[object]:
    return [value for handler, value in seen if handler == name]


async def test_send_creates_then_counts(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.task(bare)
    first = await h.send(id=uid, event=Note(n=1))
    assert (first.created, first.instance_id, first.scheduled_at) == (
        True,
        f"task:bare:{uid}",
        None,
    )
    second = await h.send(id=uid, event={"kind": "note", "n": 2})
    assert second.created is False
    status = await h.status(uid)
    assert (status.status, status.event_count, status.execute_count) == ("idle", 2, 0)
    assert status.created_at is not None
    assert calls("on_event") == [True, False]
    result = await h.get_state(uid)
    assert (result.state, result.scheduled_at) == (Machine(notes=[1, 2]), None)


async def test_alarm_fires_once_is_consumed_then_on_idle(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.task(machine)
    before = await env.environment.get_current_time()
    sent = await h.send(id=uid, event=Plan(after=["5 seconds"]))
    assert sent.scheduled_at is not None
    assert timedelta(seconds=5) <= sent.scheduled_at - before < timedelta(seconds=6)
    assert (await h.status(uid)).status == "active"
    assert calls("on_idle") == []  # something is scheduled
    await env.sleep("4 seconds")
    assert calls("execute") == []
    await env.sleep("2 seconds")
    assert len(calls("execute")) == 1
    status = await h.status(uid)
    assert (status.status, status.execute_count, status.scheduled_at) == ("idle", 1, None)
    assert calls("on_idle") == ["execute"]
    assert (await h.get_state(uid)).scheduled_at is None
    await env.sleep("1 minute")
    assert len(calls("execute")) == 1


async def test_schedule_then_cancel_absolute_and_last_wins(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.task(bare)
    cancelled = await h.send(id=uid, event=Plan(after=["5 seconds"], cancel=True))
    assert cancelled.scheduled_at is None
    assert (await h.status(uid)).status == "idle"
    at = (await env.environment.get_current_time()) + timedelta(hours=3)
    absolute = await h.send(id=uid, event=Plan(at=at))
    assert absolute.scheduled_at is not None
    assert abs(absolute.scheduled_at - at) < timedelta(milliseconds=1)
    before = await env.environment.get_current_time()
    last = await h.send(id=uid, event=Plan(after=["1 hour", "10 minutes", "30 seconds"]))
    assert last.scheduled_at is not None
    assert timedelta(seconds=30) <= last.scheduled_at - before < timedelta(seconds=31)


async def test_on_idle_runs_after_on_event_and_may_rearm(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.task(machine)
    await h.send(id=uid, event=Note(n=1))
    assert calls("on_idle") == ["on_event"]
    sent = await h.send(id=uid, event=Plan())  # nothing scheduled: on_idle runs again
    assert sent.scheduled_at is None
    assert calls("on_idle") == ["on_event", "on_event"]


async def test_on_idle_rearms_the_alarm(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.task(machine)
    before = await env.environment.get_current_time()
    sent = await h.send(id=uid, event=Plan(rearm=True))
    assert calls("on_idle") == ["on_event"]
    assert sent.scheduled_at is not None
    assert timedelta(minutes=1) <= sent.scheduled_at - before < timedelta(minutes=1, seconds=1)
    await env.sleep("61 seconds")
    assert len(calls("execute")) == 1
    assert calls("on_idle") == ["on_event", "execute"]
    assert (await h.status(uid)).status == "active"  # on_idle re-armed after the execute


async def test_trigger_runs_now_and_keeps_the_alarm(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.task(bare)
    assert (await h.trigger("nobody")).triggered is False
    sent = await h.send(id=uid, event=Plan(after=["1 hour"]))
    assert (await h.trigger(uid)).triggered is True
    assert len(calls("execute")) == 1
    status = await h.status(uid)
    assert (status.status, status.execute_count, status.scheduled_at) == (
        "active",
        1,
        sent.scheduled_at,
    )
    state = (await h.get_state(uid)).state
    assert state is not None and state.executes == 1


@pytest.mark.parametrize("where", ["on_event", "execute", "on_idle"])
async def test_ctx_terminate_removes_the_task(
    env: JobsTestEnvironment, uid: str, where: str
) -> None:
    h = env.client.task(machine)
    await h.send(id=uid, event=Note(n=1))
    await h.send(id=uid, event=End(on=where))  # type: ignore[arg-type]
    await env.sleep("2 seconds")
    assert (await h.status(uid)).status == "not_found"
    result = await h.get_state(uid)
    assert (result.state, result.scheduled_at) == (None, None)
    again = await h.send(id=uid, event=Note(n=5))
    assert again.created is True
    assert (await h.status(uid)).event_count == 1


async def test_on_event_failure_without_on_error_changes_nothing(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.task(bare)
    sent = await h.send(id=uid, event=Plan(after=["10 minutes"]))
    before = await h.status(uid)
    with pytest.raises(ExecutionError, match="on_event refused the event") as caught:
        await h.send(id=uid, event=Fail())
    assert caught.value.instance_id == f"task:bare:{uid}"
    after = await h.status(uid)
    assert (after.event_count, after.execute_count, after.scheduled_at) == (
        before.event_count,
        before.execute_count,
        sent.scheduled_at,
    )
    assert (await h.get_state(uid)).state == Machine()


async def test_a_refused_first_send_leaves_no_instance(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.task(bare)
    with pytest.raises(ExecutionError, match="on_event refused the event"):
        await h.send(id=uid, event=Fail())
    # The send that would have created the instance changed nothing: no instance is left.
    await env.sleep("1 second")
    assert (await h.status(uid)).status == "not_found"
    sent = await h.send(id=uid, event=Plan(after=["10 minutes"]))
    assert sent.created is True


async def test_on_event_failure_with_on_error_keeps_changes(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.task(machine)
    await h.send(id=uid, event=Note(n=1))
    sent = await h.send(id=uid, event=Fail())
    assert sent.scheduled_at is not None  # the alarm set before the failure is kept
    [(source, error_type, message)] = calls("on_error")  # type: ignore[misc]
    assert (source, error_type) == ("on_event", "ExecutionError")
    assert "RuntimeError: on_event refused the event" in message
    state = (await h.get_state(uid)).state
    assert state is not None and state.notes == [1, -1]
    assert (await h.status(uid)).event_count == 2


async def test_execute_retries_then_on_error(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.task(machine)
    await h.send(id=uid, event=Break())
    await h.send(id=uid, event=Plan(after=["5 seconds"]))
    await env.sleep("6 seconds")
    status = await h.status(uid)
    assert status.last_error is not None and status.last_error.error_type == "ConnectionError"
    assert status.status == "active" and status.scheduled_at is not None
    await env.sleep("25 seconds")
    times = calls("execute")
    assert len(times) == 3
    offsets = [round((t - times[0]).total_seconds()) for t in times]  # type: ignore[operator]
    assert offsets == [0, 10, 20]
    assert [c[0] for c in calls("on_error")] == ["execute"]  # type: ignore[index]
    status = await h.status(uid)
    assert (status.status, status.execute_count) == ("idle", 1)
    state = (await h.get_state(uid)).state
    assert state is not None and state.fail_executes == 0


async def test_execute_retries_then_last_error_without_on_error(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.task(bare)
    await h.send(id=uid, event=Break())
    await h.send(id=uid, event=Plan(after=["5 seconds"]))
    await env.sleep("40 seconds")
    assert len(calls("execute")) == 3
    status = await h.status(uid)
    assert (status.status, status.execute_count) == ("idle", 1)
    assert status.last_error is not None and status.last_error.attempt == 3
    assert "attempt 3" in status.last_error.message


async def test_invalid_event_creates_nothing(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.task(bare)
    for bad in ({"kind": "nope"}, {"kind": "note", "n": "x"}, Machine(), None):
        with pytest.raises(JobValidationError, match="task job 'bare'"):
            await h.send(id=uid, event=bad)
    assert not await workflow_exists(env.temporal_client, f"task:bare:{uid}")
