"""Never stuck, never an answer for work not done (SPEC §10.3, issue 14), on the time-skipping server.

One test per case of issue 14 whose limit the time-skipping server has too: Debounce batches
capped at ``max_events`` and O(1) folding, attempts of a ``def`` handler that overran its
timeout, calls queued behind ``ctx.terminate()``, the handler timeout from the worker's
definition, Continuous schedules after a failed run, answers after a failed flush or a
terminating ``on_event``, the client's payload budgets and bounded memory under many keys. The
cases whose limit only the dev server enforces (payload sizes, update limits, workers that come
and go) are in ``tests/system/test_never_stuck.py``, and so are those that send over 1,000
signals to one instance: on this server a run that continues as new while signals keep coming
can close with a workflow task outstanding, after which its successor's timers never fire.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta

import pytest
from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from durable_jobs import (
    Backoff,
    Continuous,
    ContinuousContext,
    Debounce,
    DebounceEventContext,
    DebounceExecuteContext,
    DurableJobs,
    ExecutionError,
    JobsClient,
    JobValidationError,
    RetryConfig,
    Task,
    TaskContext,
    TaskEventContext,
    every,
)
from durable_jobs.client._in_flight import InFlightLimit
from durable_jobs.events import JobEvent, add_event_sink, remove_event_sink
from durable_jobs.protocol import (
    MAX_EVENT_BYTES,
    MAX_STATE_BYTES,
)
from durable_jobs.testing import JobsTestEnvironment
from tests.integration.helpers import eventually, history, workflow_exists


class Num(BaseModel):
    n: int


class Items(BaseModel):
    items: list[int] = []


class Note(BaseModel):
    text: str = ""


class Log(BaseModel):
    seen: list[str] = []


class Blob(BaseModel):
    data: str = ""


# --- what the handlers saw, per user id ---------------------------------------------------------

flushes: list[tuple[str, int, list[int], str]] = []
"""Debounce ``execute`` calls: (id, event_count, items, flush_reason)."""
gates: dict[str, asyncio.Event] = {}
"""A handler of the id waits for its gate (set by the test) the first time it runs."""
entered: dict[str, asyncio.Event] = {}
"""Set when a handler of the id reaches its gate."""
failures_left: dict[str, int] = {}
attempts: list[tuple[str, int, float, float]] = []
"""``def`` handler attempts: (id, attempt, started, ended), monotonic seconds."""
runs: list[tuple[str, int, int]] = []
"""Continuous runs: (id, run_count, attempt)."""
events_seen: list[tuple[str, str, bool]] = []
"""Task ``on_event`` calls: (id, text, is_first_event)."""
executes: list[str] = []


async def pass_gate(id: str) -> None:
    gate = gates.pop(id, None)
    if gate is not None:
        entered.setdefault(id, asyncio.Event()).set()
        await gate.wait()


def append(ctx: DebounceEventContext[Num, Items]) -> Items:
    """A reducer that appends to a list in the state, in place: O(1) per event."""
    state = ctx.state if ctx.state is not None else Items()
    state.items.append(ctx.event.n)
    return state


async def deliver(ctx: DebounceExecuteContext[Items]) -> None:
    flushes.append((ctx.id, ctx.event_count, list(ctx.state.items), ctx.flush_reason))
    await pass_gate(ctx.id)
    if failures_left.get(ctx.id, 0) > 0:
        failures_left[ctx.id] -= 1
        raise RuntimeError("the webhook endpoint said 503")


def overrun(ctx: ContinuousContext[Items]) -> None:
    """A plain ``def`` handler (a thread, which cannot be interrupted) that takes 3 s."""
    started = time.monotonic()
    time.sleep(3)
    attempts.append((ctx.id, ctx.attempt, started, time.monotonic()))


async def slow_run(ctx: ContinuousContext[Items]) -> None:
    await asyncio.sleep(2)
    ctx.set_state(Items(items=[*ctx.state.items, ctx.run_count]))


async def flaky_run(ctx: ContinuousContext[Items]) -> None:
    runs.append((ctx.id, ctx.run_count, ctx.attempt))
    if failures_left.get(ctx.id, 0) > 0:
        failures_left[ctx.id] -= 1
        raise RuntimeError(f"run {ctx.run_count} failed")
    ctx.set_state(Items(items=[*ctx.state.items, ctx.run_count]))


async def on_note(event: Note, ctx: TaskEventContext[Log]) -> None:
    events_seen.append((ctx.id, event.text, ctx.is_first_event))
    ctx.set_state(Log(seen=[*(ctx.state.seen if ctx.state else []), event.text]))
    if event.text == "alarm":
        ctx.schedule("1 hour")
    if event.text == "end":
        ctx.terminate(reason="on_event ended it")


async def end_after_gate(ctx: TaskContext[Log]) -> None:
    """``execute``: waits at the gate (once), then ends the instance."""
    await pass_gate(ctx.id)
    executes.append(ctx.id)
    ctx.terminate(reason="execute ended it")


async def keep(ctx: ContinuousContext[Blob]) -> None:
    return None


capped = Debounce(
    event=Num, state=Items, on_event=append, execute=deliver, flush_after="1 minute", max_events=10
)
piling = Debounce(event=Num, state=Items, on_event=append, execute=deliver, flush_after="1 hour")
refusing = Debounce(
    event=Num, state=Items, on_event=append, execute=deliver, flush_after="1 minute", max_events=3
)
overrunning = Continuous(
    state=Items,
    schedule=every("1 hour"),
    execute=overrun,
    timeout="1 second",
    retry=RetryConfig(max_attempts=2, delay=Backoff.constant("1 second"), jitter=False),
)
once = Continuous(state=Items, schedule=every("10 minutes"), execute=flaky_run)
pausing = Continuous(
    state=Items, schedule=every("10 minutes"), execute=flaky_run, pause_on_failure=True
)
ending = Task(state=Log, event=Note, on_event=on_note, execute=end_after_gate)
blobs = Continuous(state=Blob, schedule=every("1 hour"), execute=keep)


async def on_blob(event: Blob, ctx: TaskEventContext[Blob]) -> None:
    ctx.set_state(event)


async def drop(ctx: DebounceExecuteContext[Blob]) -> None:
    return None


async def nothing(ctx: TaskContext[Blob]) -> None:
    return None


blob_notes = Task(state=Blob, event=Blob, on_event=on_blob, execute=nothing)
blob_batches = Debounce(event=Blob, execute=drop, flush_after="1 hour")

jobs = DurableJobs(
    capped=capped,
    piling=piling,
    refusing=refusing,
    overrunning=overrunning,
    once=once,
    pausing=pausing,
    ending=ending,
    blobs=blobs,
    blob_notes=blob_notes,
    blob_batches=blob_batches,
)


@pytest.fixture
async def env() -> AsyncIterator[JobsTestEnvironment]:
    for recorded in (flushes, attempts, runs, events_seen, executes):
        recorded.clear()
    for table in (gates, entered, failures_left):
        table.clear()
    async with await JobsTestEnvironment.start_time_skipping(jobs) as jobs_env:
        yield jobs_env


@pytest.fixture
def lifecycle() -> Iterator[list[JobEvent]]:
    """Every lifecycle event emitted in this process during the test."""
    seen: list[JobEvent] = []
    add_event_sink(seen.append)
    yield seen
    remove_event_sink(seen.append)


def count_events(events: list[HistoryEvent], event_type: int) -> int:
    return sum(1 for e in events if e.event_type == event_type)


async def wait_for(event: asyncio.Event, what: str, timeout: float = 10.0) -> None:
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


# --- 4. a Debounce batch never holds more than max_events; folding is O(1) ---------------------


@pytest.mark.timeout(60)
async def test_events_held_during_a_slow_flush_become_batches_of_at_most_max_events(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.debounce(capped)
    gate = gates[uid] = asyncio.Event()
    for n in range(10):  # the tenth fills the batch: the flush starts at once, and waits
        await h.add_nowait(id=uid, event=Num(n=n))
    await wait_for(entered.setdefault(uid, asyncio.Event()), "the first flush to start")
    for n in range(10, 45):
        await h.add_nowait(id=uid, event=Num(n=n))
    held = await eventually(lambda: h.status(uid), lambda s: s.event_count == 35)
    assert (held.status, held.event_count) == ("debouncing", 35)  # held behind the flush
    gate.set()
    await env.sleep("3 minutes")  # the last, partial batch flushes after flush_after
    mine = [f for f in flushes if f[0] == uid]
    assert all(count <= 10 and len(items) == count for _, count, items, _ in mine), mine
    delivered = [n for _, _, items, _ in mine for n in items]
    assert delivered == list(range(45))  # every event exactly once, in order
    assert [reason for *_, reason in mine] == ["max_events"] * 4 + ["flush_after"]
    assert (await h.status(uid)).status == "not_found"


# --- 5. attempts of a def handler that overran its timeout never overlap -----------------------


@pytest.mark.timeout(60)
async def test_attempts_of_an_overrunning_def_handler_never_overlap(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.continuous(overrunning)
    await h.start(id=uid, input=Items())
    await env.sleep("20 seconds")  # two attempts of 3 s each (the clock waits for them)
    status = await eventually(
        lambda: h.status(uid),
        lambda s: s.last_error is not None and s.last_error.attempt == 2,
    )
    assert status.last_error is not None
    assert status.last_error.error_type == "TimeoutError", status.last_error
    mine = sorted((a for a in attempts if a[0] == uid), key=lambda a: a[2])
    assert [a[1] for a in mine] == [1, 2], mine
    for (_, _, start_a, end_a), (_, _, start_b, end_b) in itertools.combinations(mine, 2):
        assert end_a <= start_b or end_b <= start_a, f"attempts overlap: {mine}"
    assert (status.status, status.run_count) == ("running", 1)
    assert status.next_run_at is not None


# --- 7. a call queued behind ctx.terminate() goes to the next instance ------------------------


async def _terminate_with_queued(
    env: JobsTestEnvironment, uid: str, queue: Callable[[], Awaitable[object]], *, signal: bool
) -> object:
    """Create the instance, run an ``execute`` that waits and then terminates, queue a call
    behind it with ``queue()``, and open the gate once the instance holds the call."""
    h = env.client.task(ending)
    workflow_id = f"task:ending:{uid}"
    assert (await h.send(id=uid, event=Note(text="first"))).created is True
    gate = gates[uid] = asyncio.Event()
    running = asyncio.ensure_future(h.trigger(uid))
    await wait_for(entered.setdefault(uid, asyncio.Event()), "execute to start")
    before = await history(env.temporal_client, workflow_id)
    queued = asyncio.ensure_future(queue())
    if signal:
        await queued  # Temporal has it; wait until a workflow task took it

        async def taken() -> bool:
            events = await history(env.temporal_client, workflow_id)
            signalled = [
                i
                for i, e in enumerate(events)
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
            ]
            return bool(signalled) and any(
                e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
                for e in events[signalled[-1] :]
            )

        assert await eventually(taken, bool)
    else:
        accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        initially = count_events(before, accepted)
        await eventually(
            lambda: history(env.temporal_client, workflow_id),
            lambda events: count_events(events, accepted) > initially,
        )
    gate.set()
    triggered = await running
    assert (triggered.triggered, triggered.succeeded) == (True, True)
    assert executes == [uid]
    return queued.result() if signal else await queued


@pytest.mark.timeout(60)
async def test_a_send_queued_behind_terminate_creates_the_next_instance(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.task(ending)
    result = await _terminate_with_queued(
        env, uid, lambda: h.send(id=uid, event=Note(text="queued")), signal=False
    )
    assert getattr(result, "created", None) is True, result
    assert [(t, first) for i, t, first in events_seen if i == uid] == [
        ("first", True),
        ("queued", True),  # the first event of the next instance
    ]
    assert (await h.get_state(uid)).state == Log(seen=["queued"])
    status = await h.status(uid)
    assert (status.status, status.event_count, status.execute_count) == ("idle", 1, 0)


@pytest.mark.timeout(60)
async def test_a_send_nowait_queued_behind_terminate_creates_the_next_instance(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.task(ending)
    await _terminate_with_queued(
        env, uid, lambda: h.send_nowait(id=uid, event=Note(text="queued")), signal=True
    )
    status = await eventually(lambda: h.status(uid), lambda s: s.event_count == 1)
    assert (status.status, status.event_count, status.execute_count) == ("idle", 1, 0)
    assert [(t, first) for i, t, first in events_seen if i == uid] == [
        ("first", True),
        ("queued", True),
    ]
    assert (await h.get_state(uid)).state == Log(seen=["queued"])


@pytest.mark.timeout(60)
async def test_a_trigger_queued_behind_terminate_answers_not_triggered(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.task(ending)
    result = await _terminate_with_queued(env, uid, lambda: h.trigger(uid), signal=False)
    assert getattr(result, "triggered", None) is False, result
    assert executes == [uid]  # the queued trigger ran nothing
    assert (await h.status(uid)).status == "not_found"


async def close_after_gate(ctx: DebounceExecuteContext[Items]) -> None:
    """A flush that waits at the gate (once), then ends the instance."""
    flushes.append((ctx.id, ctx.event_count, list(ctx.state.items), ctx.flush_reason))
    await pass_gate(ctx.id)
    ctx.terminate(reason="flush ended it")


closing = Debounce(
    event=Num, state=Items, on_event=append, execute=close_after_gate, flush_after="1 minute"
)
more_jobs = DurableJobs(closing=closing)


@pytest.mark.timeout(60)
async def test_events_held_behind_a_flush_that_terminates_start_the_next_instance(
    uid: str,
) -> None:
    flushes.clear()
    async with await JobsTestEnvironment.start_time_skipping(more_jobs) as env:
        h = env.client.debounce(closing)
        await h.add(id=uid, event=Num(n=0))
        gate = gates[uid] = asyncio.Event()
        flushing = asyncio.ensure_future(h.flush(uid))
        await wait_for(entered.setdefault(uid, asyncio.Event()), "the flush to start")
        for n in (1, 2, 3):
            await h.add_nowait(id=uid, event=Num(n=n))
        await eventually(lambda: h.status(uid), lambda s: s.event_count == 3)
        gate.set()
        flushed = await flushing
        assert (flushed.flushed, flushed.event_count) == (True, 1)
        status = await eventually(
            lambda: h.status(uid), lambda s: s.status == "debouncing" and s.event_count == 3
        )
        assert (status.status, status.event_count) == ("debouncing", 3)
        assert (await h.get_state(uid)).state == Items(items=[1, 2, 3])
        await env.sleep("2 minutes")  # the next instance flushes them (and ends too)
        assert [(count, items) for i, count, items, _ in flushes if i == uid] == [
            (1, [0]),
            (3, [1, 2, 3]),
        ]


# --- 8. the handler timeout comes from the worker's definition ---------------------------------


def _patient(timeout: str) -> DurableJobs:
    return DurableJobs(
        patient=Continuous(state=Items, schedule=every("1 hour"), execute=slow_run, timeout=timeout)
    )


@pytest.mark.timeout(60)
async def test_the_handler_timeout_is_the_workers_definition(uid: str) -> None:
    async with await JobsTestEnvironment.start_time_skipping(_patient("5 seconds")) as env:
        client = JobsClient.from_client(
            env.temporal_client,
            _patient("1 second"),  # what the starting client thinks the job is
            task_queue=env.task_queue,
            worker_patience=timedelta(seconds=30),
        )
        h = client.continuous("patient")
        await h.start(id=uid, input=Items())
        status = await eventually(lambda: h.status(uid), lambda s: s.run_count == 1, timeout=20)
        assert status.last_error is None, status.last_error
        triggered = await h.trigger(uid)
        assert (triggered.triggered, triggered.succeeded) == (True, True)
        status = await h.status(uid)
        assert (status.run_count, status.last_error) == (2, None)
        assert (await h.get_state(uid)).state == Items(items=[1, 2])


# --- 9. a failed run without retry: the schedule goes on, or stops with pause_on_failure -------


@pytest.mark.timeout(60)
async def test_without_retry_a_failed_run_keeps_the_schedule(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.continuous(once)
    failures_left[uid] = 1
    await h.start(id=uid, input=Items())
    await env.sleep("1 second")
    status = await h.status(uid)
    assert (status.status, status.run_count) == ("running", 1)
    assert status.last_error is not None and status.last_error.message == "run 1 failed"
    assert status.next_run_at is not None
    assert (
        timedelta(minutes=9)
        < status.next_run_at - status.last_error.failed_at
        <= timedelta(minutes=10, seconds=1)
    )
    await env.sleep("10 minutes")
    assert [(r, a) for i, r, a in runs if i == uid] == [(1, 1), (2, 1)]
    status = await h.status(uid)
    assert (status.status, status.run_count, status.last_error) == ("running", 2, None)
    assert (await h.get_state(uid)).state == Items(items=[2])


@pytest.mark.timeout(60)
async def test_pause_on_failure_stops_until_resume_or_trigger(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.continuous(pausing)
    failures_left[uid] = 1
    await h.start(id=uid, input=Items())
    await env.sleep("1 second")
    status = await h.status(uid)
    assert (status.status, status.next_run_at) == ("stopped", None)
    assert status.last_error is not None and status.last_error.message == "run 1 failed"
    await env.sleep("1 hour")
    assert len([r for r in runs if r[0] == uid]) == 1  # stopped: nothing ran
    resumed = await h.resume(uid)
    assert resumed.resumed is True and resumed.next_run_at is not None
    assert (await h.status(uid)).status == "running"
    await env.sleep("11 minutes")
    assert [(r, a) for i, r, a in runs if i == uid] == [(1, 1), (2, 1)]
    assert (await h.status(uid)).last_error is None

    failures_left[uid] = 1
    await env.sleep("10 minutes")  # run 3 fails: stopped again
    status = await h.status(uid)
    assert (status.status, status.run_count, status.next_run_at) == ("stopped", 3, None)
    triggered = await h.trigger(uid)
    assert (triggered.triggered, triggered.succeeded) == (True, True)
    status = await h.status(uid)
    assert (status.status, status.run_count, status.last_error) == ("running", 4, None)
    assert status.next_run_at is not None
    assert (await h.get_state(uid)).state == Items(items=[2, 4])


# --- 12. answers describe the work that was done -----------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("first_reason", ["manual", "max_events"])
async def test_a_batch_rearmed_after_a_failed_flush_flushes_for_flush_after(
    env: JobsTestEnvironment, uid: str, lifecycle: list[JobEvent], first_reason: str
) -> None:
    h = env.client.debounce(refusing)
    failures_left[uid] = 1
    if first_reason == "manual":
        await h.add(id=uid, event=Num(n=0))
        with pytest.raises(ExecutionError, match="503"):
            await h.flush(uid)
        expected = [0]
    else:
        for n in range(3):  # max_events=3: the third starts the flush at once
            await h.add(id=uid, event=Num(n=n))
        await env.sleep("1 second")
        expected = [0, 1, 2]
    status = await h.status(uid)
    assert status.status == "debouncing"  # the batch is kept, a new flush armed
    assert status.last_error is not None and "503" in status.last_error.message
    assert status.will_flush_at is not None
    await env.sleep("2 minutes")
    mine = [(count, items, reason) for i, count, items, reason in flushes if i == uid]
    assert mine == [
        (len(expected), expected, first_reason),
        (len(expected), expected, "flush_after"),
    ]
    flushed = [e for e in lifecycle if e.name == "debounce.flushed" and e.id == uid]
    assert [e.fields["reason"] for e in flushed] == ["flush_after"]
    assert (await h.status(uid)).status == "not_found"


@pytest.mark.timeout(60)
async def test_a_send_whose_on_event_terminates_answers_no_alarm(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.task(ending)
    armed = await h.send(id=uid, event=Note(text="alarm"))
    assert armed.scheduled_at is not None
    ended = await h.send(id=uid, event=Note(text="end"))
    assert (ended.created, ended.scheduled_at) == (False, None)
    assert (await h.status(uid)).status == "not_found"


# --- 3. the client's payload budgets -------------------------------------------------------------


async def test_inputs_and_events_over_the_budgets_are_refused_in_the_client(
    env: JobsTestEnvironment, uid: str
) -> None:
    # JSON {"data":"..."} is 11 bytes more than the string.
    too_big_state = Blob(data="s" * (MAX_STATE_BYTES - 10))
    too_big_event = Blob(data="e" * (MAX_EVENT_BYTES - 10))
    with pytest.raises(JobValidationError, match=f"{MAX_STATE_BYTES:,}"):
        await env.client.continuous(blobs).start(id=uid, input=too_big_state)
    with pytest.raises(JobValidationError, match=f"{MAX_EVENT_BYTES:,}"):
        await env.client.task(blob_notes).send(id=uid, event=too_big_event)
    with pytest.raises(JobValidationError, match=f"{MAX_EVENT_BYTES:,}"):
        await env.client.task(blob_notes).send_nowait(id=uid, event=too_big_event)
    with pytest.raises(JobValidationError, match=f"{MAX_EVENT_BYTES:,}"):
        await env.client.debounce(blob_batches).add(id=uid, event=too_big_event)
    with pytest.raises(JobValidationError, match=f"{MAX_EVENT_BYTES:,}"):
        await env.client.debounce(blob_batches).add_nowait(id=uid, event=too_big_event)
    for kind, name in (
        ("continuous", "blobs"),
        ("task", "blob_notes"),
        ("debounce", "blob_batches"),
    ):
        assert not await workflow_exists(env.temporal_client, f"{kind}:{name}:{uid}")
    # Just within the budgets, the same calls go through.
    fits_state = Blob(data="s" * (MAX_STATE_BYTES - 11))
    assert (await env.client.continuous(blobs).start(id=uid, input=fits_state)).created is True
    fits_event = Blob(data="e" * (MAX_EVENT_BYTES - 11))
    assert (await env.client.task(blob_notes).send(id=uid, event=fits_event)).created is True


# --- issue 14 point 9: bounded memory under many keys --------------------------------------------


async def test_the_in_flight_limit_forgets_a_key_once_its_calls_end() -> None:
    limit = InFlightLimit()

    async def answer(round: int) -> int:
        await asyncio.sleep(0)
        return round

    async def fail(round: int) -> int:
        raise ValueError("refused")

    keys = [f"task:job:user-{i}" for i in range(1_000)]
    assert await asyncio.gather(*(limit.call(k, answer) for k in keys)) == [0] * 1_000
    assert len(limit) == 0
    results = await asyncio.gather(*(limit.call(k, fail) for k in keys), return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results)
    assert len(limit) == 0
    # Calls cancelled while they wait for a slot, or while they run, free it too.
    blocker = asyncio.Event()

    async def hang(round: int) -> int:
        await blocker.wait()
        return round

    waiting = [asyncio.ensure_future(limit.call("task:job:hot", hang)) for _ in range(20)]
    await asyncio.sleep(0.01)
    assert len(limit) == 1
    for call in waiting:
        call.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    assert len(limit) == 0


async def test_a_client_holds_no_slot_for_instances_it_no_longer_calls(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.debounce(piling)
    await asyncio.gather(*(h.add(id=f"{uid}-{i}", event=Num(n=i)) for i in range(50)))
    assert len(env.client._in_flight) == 0
