"""Never stuck, never an answer for work not done (SPEC §10.3, issue 14), on the dev server.

The cases whose limit only the dev server has: Temporal's 2 MB payload limit (the time-skipping
server accepts any payload), history-driven continue-as-new (lowered with dynamic config),
deletion on ``terminate``, workers that come and go, task queue pollers, and workflow task
failures. Each test runs a worker of its own on a task queue of its own; a test that needs a
server setting of its own starts its own server. The time-skipping cases are in
``tests/integration/test_never_stuck.py``.

An exception expected from deep inside temporalio is reported with ``pytest.fail(pytrace=False)``:
formatting its long traceback while worker threads format theirs has crashed pytest here with
"SystemError: AST constructor recursion depth mismatch" (CPython 3.11.7, where ``ast`` keeps
its recursion count per interpreter, not per thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel
from temporalio import workflow
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    ExecuteWorkflowInput,
    HandleSignalInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from durable_jobs import (
    Backoff,
    Continuous,
    ContinuousContext,
    Debounce,
    DebounceEventContext,
    DebounceExecuteContext,
    DurableJobs,
    ExecutionError,
    JobNotFoundError,
    JobsClient,
    RetryConfig,
    Task,
    TaskContext,
    TaskEventContext,
    WorkerUnavailableError,
    every,
)
from durable_jobs._models import json_size
from durable_jobs.events import JobEvent, add_event_sink, remove_event_sink
from durable_jobs.protocol import (
    MAX_QUEUED_BYTES,
    MAX_REMEMBERED_CALL_BYTES,
    MAX_REMEMBERED_KEY_BYTES,
    MAX_REMEMBERED_KEYS,
    MAX_STATE_BYTES,
)
from durable_jobs.testing import JobsTestEnvironment
from durable_jobs.worker import build_worker
from tests.integration.helpers import eventually, history


class Num(BaseModel):
    n: int


class Items(BaseModel):
    items: list[int] = []


class Blob(BaseModel):
    data: str = ""
    n: int = 0


class Chunks(BaseModel):
    chunks: list[str] = []


class Grow(BaseModel):
    kb: int


class Parcel(BaseModel):
    seq: int
    payload: str = ""


class Seqs(BaseModel):
    seqs: list[int] = []


class Tally(BaseModel):
    count: int = 0


# --- what the handlers saw, per user id ---------------------------------------------------------

calls: list[tuple[str, str]] = []
"""Handler calls: (id, what)."""
gates: dict[str, asyncio.Event] = {}
"""A handler of the id waits for its gate (set by the test) the first time it runs."""
entered: dict[str, asyncio.Event] = {}
"""Set when a handler of the id reaches its gate."""

BLOB_BYTES = 2_300_000


async def pass_gate(id: str) -> None:
    gate = gates.pop(id, None)
    if gate is not None:
        entered.setdefault(id, asyncio.Event()).set()
        await gate.wait()


async def bloat(ctx: ContinuousContext[Blob]) -> None:
    """Sets a state of 2.3 MB: over the state budget, and over Temporal's 2 MB payload limit."""
    calls.append((ctx.id, f"bloat attempt {ctx.attempt}"))
    ctx.set_state(Blob(data="x" * BLOB_BYTES, n=ctx.state.n + 1))


async def grow(event: Grow, ctx: TaskEventContext[Chunks]) -> None:
    calls.append((ctx.id, f"grow {event.kb} KB"))
    ctx.set_state(Chunks(chunks=[*(ctx.state.chunks if ctx.state else []), "y" * event.kb * 1000]))
    ctx.schedule("1 hour")


async def unused(ctx: Any) -> None:
    return None


async def on_parcel(event: Parcel, ctx: TaskEventContext[Seqs]) -> None:
    calls.append((ctx.id, f"parcel {event.seq}"))
    ctx.set_state(Seqs(seqs=[*(ctx.state.seqs if ctx.state else []), event.seq]))


async def slow_execute(ctx: TaskContext[Seqs]) -> None:
    calls.append((ctx.id, "execute"))
    await pass_gate(ctx.id)


def append(ctx: DebounceEventContext[Num, Items]) -> Items:
    """A reducer that appends to a list in the state, in place: O(1) per event."""
    state = ctx.state if ctx.state is not None else Items()
    state.items.append(ctx.event.n)
    return state


async def deliver(ctx: DebounceExecuteContext[Items]) -> None:
    calls.append((ctx.id, f"flush {ctx.event_count}"))


async def tick(ctx: ContinuousContext[Items]) -> None:
    calls.append((ctx.id, "tick"))


async def note(event: Num, ctx: TaskEventContext[Items]) -> None:
    calls.append((ctx.id, f"note {event.n}"))
    ctx.set_state(Items(items=[*(ctx.state.items if ctx.state else []), event.n]))


def count_parcel(ctx: DebounceEventContext[Parcel, Tally]) -> Tally:
    return Tally(count=(ctx.state.count if ctx.state else 0) + 1)


async def deliver_tally(ctx: DebounceExecuteContext[Tally]) -> None:
    calls.append((ctx.id, f"tally {ctx.state.count}"))


bloating = Continuous(state=Blob, schedule=every("1 hour"), execute=bloat)
bloating_twice = Continuous(
    state=Blob,
    schedule=every("1 hour"),
    execute=bloat,
    retry=RetryConfig(max_attempts=2, delay=Backoff.constant("500 millis"), jitter=False),
)
growing = Task(state=Chunks, event=Grow, on_event=grow, execute=unused)
parcels = Task(state=Seqs, event=Parcel, on_event=on_parcel, execute=slow_execute)
piling = Debounce(event=Num, state=Items, on_event=append, execute=deliver, flush_after="1 hour")
ticking = Continuous(state=Items, schedule=every("100 millis"), execute=tick)
notes = Task(state=Items, event=Num, on_event=note, execute=unused)

counting = Debounce(
    event=Parcel, state=Tally, on_event=count_parcel, execute=deliver_tally, flush_after="1 hour"
)
orphan = Debounce(event=Num, state=Items, on_event=append, execute=deliver, flush_after="1 hour")

jobs = DurableJobs(
    bloating=bloating,
    bloating_twice=bloating_twice,
    growing=growing,
    parcels=parcels,
    piling=piling,
    ticking=ticking,
    notes=notes,
    counting=counting,
    orphan=orphan,
)
worker_jobs = DurableJobs(
    {name: definition for name, definition in jobs.items() if name != "orphan"}
)
"""The jobs a worker of case 10 has: all but ``orphan``, which only the client knows."""


@pytest.fixture(autouse=True)
def clean() -> None:
    calls.clear()
    gates.clear()
    entered.clear()


@pytest.fixture
async def env(dev_env: WorkflowEnvironment) -> AsyncIterator[JobsTestEnvironment]:
    async with await JobsTestEnvironment.attach(dev_env, jobs) as jobs_env:
        yield jobs_env


@pytest.fixture
def lifecycle() -> Iterator[list[JobEvent]]:
    """Every lifecycle event emitted in this process during the test."""
    seen: list[JobEvent] = []
    add_event_sink(seen.append)
    yield seen
    remove_event_sink(seen.append)


def continue_as_new_every(events: int) -> list[str]:
    """Dev server arguments that make Temporal suggest continue-as-new after ``events``."""
    return ["--dynamic-config-value", f"limit.historyCount.suggestContinueAsNew={events}"]


# --- helpers ---------------------------------------------------------------------------------


def mine(uid: str) -> list[str]:
    return [what for id, what in calls if id == uid]


async def all_runs(client: Client, workflow_id: str) -> list[list[HistoryEvent]]:
    """The histories of every run of the current chain, first run first."""
    runs_back: list[list[HistoryEvent]] = []
    run_id: str | None = None
    while True:
        events = await history(client, workflow_id, run_id)
        runs_back.append(events)
        previous = events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        if not previous:
            return runs_back[::-1]
        run_id = previous


def count_events(events: list[HistoryEvent], event_type: int) -> int:
    return sum(1 for e in events if e.event_type == event_type)


CLOSE_RACES = (
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND,
)
"""Workflow task failures the server makes when signals arrive while a run continues as new:
it refuses the close and hands out a new task with the signals (Temporal's own mechanism)."""


async def failed_workflow_tasks(
    client: Client, workflow_id: str, *, ignore_close_races: bool = False
) -> list[str]:
    """The workflow task failures of every run of the chain, as "run N: cause: message"."""
    failures = []
    for number, events in enumerate(await all_runs(client, workflow_id), start=1):
        for event in events:
            if event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                continue
            failed = event.workflow_task_failed_event_attributes
            if ignore_close_races and failed.cause in CLOSE_RACES:
                continue
            cause = WorkflowTaskFailedCause.Name(failed.cause)
            failures.append(f"run {number}: {cause}: {failed.failure.message}")
    return failures


async def is_running(client: Client, workflow_id: str) -> bool:
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return description.status == WorkflowExecutionStatus.RUNNING


async def wait_for(event: asyncio.Event, what: str, timeout: float = 15.0) -> None:
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def gather_limited(thunks: list[Callable[[], Awaitable[object]]], limit: int = 64) -> None:
    """Run ``thunks`` with at most ``limit`` in flight."""
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[object]]) -> None:
        async with semaphore:
            await call()

    await asyncio.gather(*(one(t) for t in thunks))


# --- 1. a Continuous run whose state is over the budget ---------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("job", "attempts"), [("bloating", 1), ("bloating_twice", 2)])
async def test_a_run_that_sets_too_large_a_state_fails_once_per_attempt(
    env: JobsTestEnvironment, uid: str, job: str, attempts: int
) -> None:
    h = env.client.continuous(job)
    await h.start(id=uid, input=Blob(n=1))
    status = await eventually(
        lambda: h.status(uid),
        lambda s: s.last_error is not None and s.last_error.attempt == attempts,
        timeout=30,
    )
    error = status.last_error
    assert error is not None and error.attempt == attempts, status
    assert error.error_type == "StateTooLarge"
    size = json_size(Blob(data="x" * BLOB_BYTES, n=2).model_dump(mode="json"))
    assert f"{size:,}" in error.message and f"{MAX_STATE_BYTES:,}" in error.message, error
    # The attempts are done (the failure is committed), and nothing re-ran the handler.
    assert mine(uid) == [f"bloat attempt {a}" for a in range(1, attempts + 1)]
    assert (await h.get_state(uid)).state == Blob(n=1)  # nothing committed
    assert (status.status, status.run_count) == ("running", 1)  # the schedule goes on
    assert status.next_run_at is not None
    assert status.next_run_at - datetime.now(UTC) > timedelta(minutes=55)
    events = await history(env.temporal_client, f"continuous:{job}:{uid}")
    assert count_events(events, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) == attempts
    assert count_events(events, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED) == 0
    assert count_events(events, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED) == 0


@pytest.mark.timeout(60)
async def test_a_state_over_the_budget_is_reported_naming_the_handler(
    env: JobsTestEnvironment, uid: str
) -> None:
    """SPEC §10.3: "last_error names the size, the limit and the handler"."""
    continuous = env.client.continuous(bloating)
    await continuous.start(id=uid, input=Blob(n=1))
    status = await eventually(
        lambda: continuous.status(uid), lambda s: s.last_error is not None, timeout=30
    )
    assert status.last_error is not None
    message = status.last_error.message
    task = env.client.task(growing)
    await task.send(id=uid, event=Grow(kb=900))
    with pytest.raises(ExecutionError) as raised:
        await task.send(id=uid, event=Grow(kb=200))
    assert "execute" in message, f"Continuous last_error does not name the handler: {message}"
    assert "on_event" in raised.value.error_message, (
        f"Task error does not name the handler: {raised.value.error_message}"
    )


# --- 2. a Task on_event that grows the state past the budget ----------------------------------


@pytest.mark.timeout(60)
async def test_an_on_event_growing_the_state_past_the_budget_fails_the_send_at_once(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.task(growing)
    first = await h.send(id=uid, event=Grow(kb=900))
    assert first.created is True and first.scheduled_at is not None
    before = await h.status(uid)
    started = time.monotonic()
    with pytest.raises(ExecutionError) as raised:
        await h.send(id=uid, event=Grow(kb=200))
    assert time.monotonic() - started < 10
    assert raised.value.error_type == "StateTooLarge", raised.value
    assert f"{MAX_STATE_BYTES:,}" in raised.value.error_message
    state = await h.get_state(uid)
    assert state.state is not None and [len(c) for c in state.state.chunks] == [900_000]
    assert state.scheduled_at == first.scheduled_at
    after = await h.status(uid)
    assert (after.event_count, after.execute_count, after.scheduled_at) == (
        before.event_count,
        before.execute_count,
        before.scheduled_at,
    )
    assert after.event_count == 1
    assert mine(uid) == ["grow 900 KB", "grow 200 KB"]


# --- 3. acknowledged-but-unhandled messages are bounded ---------------------------------------


@pytest.mark.timeout(90)
async def test_queued_messages_beyond_the_budget_are_refused_and_the_rest_carried_over(
    uid: str, lifecycle: list[JobEvent]
) -> None:
    async with await JobsTestEnvironment.start_local(
        jobs, dev_server_extra_args=continue_as_new_every(30)
    ) as env:
        h = env.client.task(parcels)
        workflow_id = f"task:parcels:{uid}"
        assert (await h.send(id=uid, event=Parcel(seq=-1))).created is True
        gate = gates[uid] = asyncio.Event()
        running = asyncio.ensure_future(h.trigger(uid))
        await wait_for(entered.setdefault(uid, asyncio.Event()), "execute to start")
        payload = "p" * 100_000
        size = json_size(Parcel(seq=0, payload=payload).model_dump(mode="json"))
        fits = MAX_QUEUED_BYTES // size  # 5 of about 100 KB fit in 512,000 bytes
        assert fits == 5
        for seq in range(8):
            await h.send_nowait(id=uid, event=Parcel(seq=seq, payload=payload))

        def refused() -> list[JobEvent]:
            return [e for e in lifecycle if e.name == "job.failed" and e.id == uid]

        async def read_refused() -> list[JobEvent]:
            return refused()

        await eventually(read_refused, lambda r: len(r) >= 8 - fits, timeout=20)
        status = await h.status(uid)
        assert (
            status.last_error is not None and f"{MAX_QUEUED_BYTES:,}" in status.last_error.message
        )
        gate.set()
        assert (await running).triggered is True
        status = await eventually(
            lambda: h.status(uid), lambda s: s.event_count == 1 + fits, timeout=20
        )
        assert status.event_count == 1 + fits
        assert mine(uid) == ["parcel -1", "execute", *[f"parcel {s}" for s in range(fits)]]
        state = (await h.get_state(uid)).state
        assert state is not None and state.seqs == [-1, *range(fits)]
        errors = [str(e.fields.get("error")) for e in refused()]
        assert len(errors) == 8 - fits, errors
        assert all(f"{MAX_QUEUED_BYTES:,}" in e for e in errors), errors
        # Continue-as-new happened with the queued messages, and no workflow task failed.
        assert await failed_workflow_tasks(env.temporal_client, workflow_id) == []
        chain = await all_runs(env.temporal_client, workflow_id)
        carried = [
            len(
                json.loads(e[0].workflow_execution_started_event_attributes.input.payloads[0].data)[
                    "carried"
                ]
            )
            for e in chain[1:]
        ]
        assert fits in carried, carried  # the five queued calls crossed continue-as-new
        assert await is_running(env.temporal_client, workflow_id)


@pytest.mark.timeout(90)
async def test_a_debounce_backlog_never_takes_continue_as_new_over_the_payload_limit(
    dev_env: WorkflowEnvironment, uid: str, lifecycle: list[JobEvent]
) -> None:
    """600 events of 10 KB (6 MB) reach a Debounce instance while no worker runs.

    The first activation folds 250 and holds the rest; the history (6 MB) makes Temporal
    suggest continue-as-new. Held events are acknowledged-but-unhandled messages: they must be
    bounded (refused and reported beyond ``MAX_QUEUED_BYTES``) or folded before the run
    continues as new, never carried into an input over Temporal's 2 MB limit.
    """
    task_queue = f"held-bytes-{uid}"
    workflow_id = f"debounce:counting:{uid}"
    client = JobsClient.from_client(
        dev_env.client, jobs, task_queue=task_queue, worker_patience=timedelta(seconds=3)
    )
    h = client.debounce(counting)
    total = 600
    async with build_worker(dev_env.client, jobs, task_queue=task_queue):
        assert (await h.add(id=uid, event=Parcel(seq=0))).created is True
    await gather_limited(
        [
            lambda n=n: h.add_nowait(id=uid, event=Parcel(seq=n, payload="z" * 10_000))
            for n in range(1, total + 1)
        ]
    )
    try:
        async with build_worker(dev_env.client, jobs, task_queue=task_queue):

            def refused() -> int:
                return sum(1 for e in lifecycle if e.name == "job.failed" and e.id == uid)

            async def progress() -> tuple[list[str], int]:
                failures = await failed_workflow_tasks(dev_env.client, workflow_id)
                if failures:
                    return failures, -1
                return failures, (await h.status(uid)).event_count + refused()

            failures, accounted = await eventually(
                progress, lambda p: bool(p[0]) or p[1] == total + 1, timeout=60
            )
            assert failures == []
            assert accounted == total + 1  # every event folded, or refused and reported
            assert await is_running(dev_env.client, workflow_id)
    finally:
        with contextlib.suppress(RPCError):
            await dev_env.client.get_workflow_handle(workflow_id).terminate()


# --- 4. folding is O(1) and a backlog never trips the deadlock detector -------------------------


@pytest.mark.timeout(90)
async def test_folding_2000_events_into_a_list_is_quick(env: JobsTestEnvironment, uid: str) -> None:
    h = env.client.debounce(piling)
    workflow_id = f"debounce:piling:{uid}"
    await h.add(id=uid, event=Num(n=0))
    await gather_limited(
        [lambda n=n: h.add_nowait(id=uid, event=Num(n=n)) for n in range(1, 2_000)]
    )
    sent = time.monotonic()
    status = await eventually(lambda: h.status(uid), lambda s: s.event_count == 2_000, timeout=30)
    folded = time.monotonic() - sent
    assert status.event_count == 2_000
    state = (await h.get_state(uid)).state
    assert state is not None and sorted(state.items) == list(range(2_000))
    # No deadlock (TMPRL1101) or other failure of the workflow code; the server's refusals of
    # a continue-as-new that signals raced are Temporal's own and cost only a retried task.
    failures = await failed_workflow_tasks(
        env.temporal_client, workflow_id, ignore_close_races=True
    )
    assert failures == []
    assert folded < 10, f"folding the last events took {folded:.1f} s"


# --- 6. terminate stops every run, even one that continued as new meanwhile ---------------------


@pytest.mark.timeout(120)
async def test_terminate_stops_the_instance_while_it_continues_as_new(uid: str) -> None:
    async with await JobsTestEnvironment.start_local(
        jobs, dev_server_extra_args=continue_as_new_every(20)
    ) as env:
        h = env.client.continuous(ticking)
        for round in range(8):
            user = f"{uid}-{round}"
            workflow_id = f"continuous:ticking:{user}"
            await h.start(id=user, input=Items())
            stop = asyncio.Event()

            async def traffic(user: str = user, stop: asyncio.Event = stop) -> None:
                while not stop.is_set():
                    await h.trigger_nowait(user)
                    await asyncio.sleep(0.01)

            sender = asyncio.ensure_future(traffic())

            async def chain_length(workflow_id: str = workflow_id) -> int:
                return len(await all_runs(env.temporal_client, workflow_id))

            assert await eventually(chain_length, lambda n: n >= 3, timeout=30) >= 3
            result = await h.terminate(user, reason="closing")
            running_after = await is_running(env.temporal_client, workflow_id)
            stop.set()
            await sender
            assert (result.terminated, result.reason) == (True, "closing")
            assert not running_after, f"round {round}: a run still runs after terminate"
            assert not await is_running(env.temporal_client, workflow_id)
            assert (await h.status(user)).status == "not_found"


# --- 10. a job the worker does not have; no worker at all --------------------------------------


@pytest.fixture
async def worker_without_orphan(
    dev_env: WorkflowEnvironment, uid: str
) -> AsyncIterator[tuple[JobsClient, str]]:
    """A client that knows ``orphan`` and a worker on its task queue that does not."""
    task_queue = f"no-orphan-{uid}"
    client = JobsClient.from_client(
        dev_env.client, jobs, task_queue=task_queue, worker_patience=timedelta(seconds=30)
    )
    async with build_worker(dev_env.client, worker_jobs, task_queue=task_queue):
        yield client, task_queue


@pytest.mark.timeout(60)
async def test_an_add_for_a_job_the_worker_lacks_fails_at_once_naming_it(
    worker_without_orphan: tuple[JobsClient, str], uid: str
) -> None:
    client, task_queue = worker_without_orphan
    h = client.debounce(orphan)
    started = time.monotonic()
    with pytest.raises(JobNotFoundError) as raised:
        await h.add(id=uid, event=Num(n=1))
    assert time.monotonic() - started < 10
    message = str(raised.value)
    assert "'orphan'" in message and task_queue in message, message
    assert "piling" in message, f"the worker's jobs are not named: {message}"
    status = await eventually(lambda: h.status(uid), lambda s: s.status == "not_found")
    assert status.status == "not_found"  # no instance left behind


@pytest.mark.timeout(60)
async def test_an_add_nowait_for_a_job_the_worker_lacks_is_reported_and_leaves_nothing(
    worker_without_orphan: tuple[JobsClient, str], uid: str, lifecycle: list[JobEvent]
) -> None:
    client, task_queue = worker_without_orphan
    h = client.debounce(orphan)
    await h.add_nowait(id=uid, event=Num(n=1))

    async def failures() -> list[JobEvent]:
        return [e for e in lifecycle if e.name == "job.failed" and e.id == uid]

    failed = await eventually(failures, bool, timeout=20)
    assert len(failed) == 1, failed
    error = str(failed[0].fields.get("error"))
    assert "'orphan'" in error and task_queue in error, error
    status = await eventually(lambda: h.status(uid), lambda s: s.status == "not_found")
    assert status.status == "not_found"


@pytest.mark.timeout(60)
async def test_a_waiting_add_with_no_worker_polling_fails_after_the_patience(
    dev_env: WorkflowEnvironment, uid: str
) -> None:
    task_queue = f"nobody-{uid}"
    client = JobsClient.from_client(
        dev_env.client, jobs, task_queue=task_queue, worker_patience=timedelta(seconds=1)
    )
    h = client.debounce(piling)
    started = time.monotonic()
    with pytest.raises(WorkerUnavailableError) as raised:
        await h.add(id=uid, event=Num(n=7), idempotency_key="first-add")
    waited = time.monotonic() - started
    assert 0.9 <= waited < 5, waited
    message = str(raised.value)
    assert "no worker polls task queue" in message and task_queue in message, message
    assert "applied when a worker polls" in message, message
    # As it says: once a worker polls, the call is applied (once).
    async with build_worker(dev_env.client, jobs, task_queue=task_queue):
        status = await eventually(lambda: h.status(uid), lambda s: s.event_count >= 1, timeout=30)
        assert status.event_count == 1
        assert (await h.get_state(uid)).state == Items(items=[7])
        again = await h.add(id=uid, event=Num(n=7), idempotency_key="first-add")
        assert again.event_count == 1
        await h.clear(uid)


@pytest.mark.timeout(120)
async def test_a_read_behind_a_backlog_waits_while_a_worker_polls(
    dev_env: WorkflowEnvironment, uid: str
) -> None:
    # 300 new instances take the worker several seconds (about 30 a second here); the last
    # one's get_state waits behind them for longer than the 1 s patience, while a worker polls.
    task_queue = f"busy-{uid}"
    client = JobsClient.from_client(
        dev_env.client, jobs, task_queue=task_queue, worker_patience=timedelta(seconds=1)
    )
    h = client.task("notes")
    keys = [f"{uid}-{i}" for i in range(300)]
    async with build_worker(dev_env.client, jobs, task_queue=task_queue):
        await gather_limited(
            [lambda k=k: h.send_nowait(id=k, event=Num(n=1)) for k in keys], limit=100
        )
        started = time.monotonic()
        state = await h.get_state(keys[-1])
        status = await h.status(keys[-2])
        waited = time.monotonic() - started
    # Answered by the worker once it reached the instance (its on_event may still be running).
    assert state.state in (None, Items(items=[1]))
    assert status.as_of is None  # live, not from the memo
    assert waited > 1, f"the backlog was gone in {waited:.2f} s: the test proves nothing"


@pytest.mark.timeout(120)
async def test_a_call_to_an_instance_that_ended_since_starts_the_next(
    dev_env: WorkflowEnvironment, uid: str
) -> None:
    # An instance this client called ended meanwhile (terminated by another client, or ended by
    # itself): the next call starts the next instance, and is applied once.
    task_queue = f"ended-{uid}"
    client = JobsClient.from_client(dev_env.client, jobs, task_queue=task_queue)
    other = JobsClient.from_client(dev_env.client, jobs, task_queue=task_queue)
    tasks, batches = client.task("notes"), client.debounce("piling")
    async with build_worker(dev_env.client, jobs, task_queue=task_queue):
        assert (await tasks.send(id=uid, event=Num(n=1))).created
        assert not (await tasks.send(id=uid, event=Num(n=2))).created
        assert (await other.task("notes").terminate(uid)).terminated
        again = await tasks.send(id=uid, event=Num(n=3))
        assert again.created
        assert (await tasks.get_state(uid)).state == Items(items=[3])
        await tasks.terminate(uid)
        await tasks.send_nowait(id=uid, event=Num(n=4))
        await other.task("notes").terminate(uid)
        await tasks.send_nowait(id=uid, event=Num(n=5))
        state = await eventually(lambda: tasks.get_state(uid), lambda s: s.state is not None)
        assert state.state == Items(items=[5])

        assert (await batches.add(id=uid, event=Num(n=1))).created
        await batches.flush(uid)  # the batch ends, and with it the instance
        await eventually(lambda: batches.status(uid), lambda s: s.status == "not_found")
        added = await batches.add(id=uid, event=Num(n=2))
        assert added.created and added.event_count == 1
        await batches.clear(uid)


# --- 11. an instance whose workflow task keeps failing says so ---------------------------------

INJECTED = "injected: this instance's workflow tasks fail"


class FailWorkflowTasks(Interceptor):
    """Fails every workflow task of one workflow ID (its start and its signals)."""

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return type("FailingTasks", (_FailingTasks,), {"doomed": self.workflow_id})


class _FailingTasks(WorkflowInboundInterceptor):
    doomed: ClassVar[str]

    def _fail_if_doomed(self) -> None:
        if workflow.info().workflow_id == self.doomed:
            raise RuntimeError(INJECTED)

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        self._fail_if_doomed()
        return await super().execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        self._fail_if_doomed()
        await super().handle_signal(input)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "healthy_first", [False, True], ids=["from-its-start", "after-healthy-runs"]
)
async def test_an_instance_whose_workflow_task_keeps_failing_shows_a_problem(
    dev_env: WorkflowEnvironment, uid: str, healthy_first: bool
) -> None:
    task_queue = f"failing-{uid}"
    workflow_id = f"task:notes:{uid}"
    client = JobsClient.from_client(dev_env.client, jobs, task_queue=task_queue)  # patience 5 s
    h = client.task(notes)
    healthy = f"{uid}-healthy"
    if healthy_first:  # its workflow tasks completed before; then a worker that fails them
        async with build_worker(dev_env.client, jobs, task_queue=task_queue):
            await h.send(id=uid, event=Num(n=1))
    worker = build_worker(
        dev_env.client, jobs, task_queue=task_queue, interceptors=[FailWorkflowTasks(workflow_id)]
    )
    try:
        async with worker:
            await h.send(id=healthy, event=Num(n=1))  # the same worker serves other instances
            await h.send_nowait(id=uid, event=Num(n=2))

            async def described_attempt() -> int:
                raw = (
                    await dev_env.client.get_workflow_handle(workflow_id).describe()
                ).raw_description
                return raw.pending_workflow_task.attempt

            # From its third attempt on, the server refuses queries at once ("Workflow Task in
            # failed state") instead of holding them: status must still answer.
            await eventually(described_attempt, lambda attempt: attempt >= 3, timeout=30)
            try:
                status = await h.status(uid)
            except Exception as err:  # reported plainly: see the module's note on tracebacks
                pytest.fail(
                    f"status raised {type(err).__module__}.{type(err).__name__}: {err} "
                    "instead of answering with a problem",
                    pytrace=False,
                )
            assert status.problem is not None, status
            assert INJECTED in status.problem.message, status.problem
            assert status.problem.attempt >= 2
            assert (await h.status(healthy)).problem is None
    finally:
        with contextlib.suppress(RPCError):
            await dev_env.client.get_workflow_handle(workflow_id).terminate()


# --- issue 14 point 9: the remembered calls of one instance are capped -------------------------


@pytest.mark.timeout(120)
async def test_remembered_keys_are_capped_and_the_oldest_go_first(
    env: JobsTestEnvironment, uid: str
) -> None:
    h = env.client.debounce(piling)
    total = 1_600  # past a run's 1,500 messages, and more than 1,000 keys or 256,000 bytes hold
    assert (await h.add(id=uid, event=Num(n=0), idempotency_key="key-0")).event_count == 1
    # Waiting adds: each is answered (and its key remembered) once its event is folded.
    await gather_limited(
        [
            lambda n=n: h.add(id=uid, event=Num(n=n), idempotency_key=f"key-{n}")
            for n in range(1, total - 1)
        ],
        limit=8,
    )
    last = await h.add(id=uid, event=Num(n=total - 1), idempotency_key=f"key-{total - 1}")
    assert last.event_count == total
    # The newest key is remembered: its duplicate gets the first answer and applies nothing.
    again = await h.add(id=uid, event=Num(n=total - 1), idempotency_key=f"key-{total - 1}")
    assert again == last
    # The oldest key was forgotten: its duplicate applies again.
    oldest = await h.add(id=uid, event=Num(n=0), idempotency_key="key-0")
    assert oldest.event_count == total + 1
    state = (await h.get_state(uid)).state
    assert state is not None and len(state.items) == total + 1
    assert state.items.count(0) == 2 and state.items.count(total - 1) == 1
    # What the instance carried over continue-as-new stays within both caps.
    chain = await all_runs(env.temporal_client, f"debounce:piling:{uid}")
    assert len(chain) >= 2  # 1,500 messages per run: it continued as new
    for events in chain[1:]:
        started = events[0].workflow_execution_started_event_attributes
        answers = json.loads(started.input.payloads[0].data)["answers"]
        assert sum(1 for a in answers if a["user_key"]) <= MAX_REMEMBERED_KEYS
        for keyed, cap in ((True, MAX_REMEMBERED_KEY_BYTES), (False, MAX_REMEMBERED_CALL_BYTES)):
            sizes = [len(json.dumps(a, separators=(",", ":"))) for a in answers]
            assert (
                sum(s for s, a in zip(sizes, answers, strict=True) if a["user_key"] == keyed) <= cap
            )


@pytest.mark.timeout(120)
async def test_keys_of_events_still_held_at_continue_as_new_stay_remembered(
    dev_env: WorkflowEnvironment, uid: str
) -> None:
    """SPEC §10.2: a key is applied once within the window, across continue-as-new.

    1,600 ``add_nowait`` (900 keyed: fewer than the 1,000 keys an instance remembers, and 700
    without a key) reach the instance while no worker runs; the first activation folds 250 of
    them, holds the rest and (past 1,500 messages) continues as new with them.
    """
    task_queue = f"held-keys-{uid}"
    client = JobsClient.from_client(
        dev_env.client, jobs, task_queue=task_queue, worker_patience=timedelta(seconds=10)
    )
    h = client.debounce(piling)
    total = 1_600
    async with build_worker(dev_env.client, jobs, task_queue=task_queue):
        assert (await h.add(id=uid, event=Num(n=0), idempotency_key="key-0")).created is True
    keyed = 900
    await gather_limited(
        [
            lambda n=n: h.add_nowait(
                id=uid, event=Num(n=n), idempotency_key=f"key-{n}" if n <= keyed else None
            )
            for n in range(1, total + 1)
        ]
    )
    async with build_worker(dev_env.client, jobs, task_queue=task_queue):
        await eventually(lambda: h.status(uid), lambda s: s.event_count == total + 1, timeout=60)
        chain = await all_runs(dev_env.client, f"debounce:piling:{uid}")
        assert len(chain) >= 2
        # Keys folded before and after continue-as-new: a duplicate applies nothing.
        for n in (1, keyed // 2, keyed):
            duplicate = await h.add(id=uid, event=Num(n=n), idempotency_key=f"key-{n}")
            assert duplicate.event_count <= total + 1, f"key-{n} was applied twice"
        state = (await h.get_state(uid)).state
        assert state is not None and sorted(state.items) == list(range(total + 1))
        await h.clear(uid)


# --- 4. (last in the module: a worker whose workflow tasks deadlock leaves threads running)

SHUTDOWN_PATIENCE = 20.0
"""Seconds a worker gets to shut down at the end of a test."""


@pytest.mark.timeout(150)
async def test_10000_events_sent_while_no_worker_runs_fold_without_a_failed_workflow_task(
    dev_env: WorkflowEnvironment, uid: str
) -> None:
    task_queue = f"backlog-{uid}"
    client = JobsClient.from_client(
        dev_env.client, jobs, task_queue=task_queue, worker_patience=timedelta(seconds=3)
    )
    h = client.debounce(piling)
    workflow_id = f"debounce:piling:{uid}"
    total = 10_000
    async with build_worker(dev_env.client, jobs, task_queue=task_queue):
        assert (await h.add(id=uid, event=Num(n=0))).created is True
    await gather_limited(
        [lambda n=n: h.add_nowait(id=uid, event=Num(n=n)) for n in range(1, total + 1)]
    )
    # The worker runs beside the test, so that a worker that cannot shut down (a workflow
    # task still deadlocked in its thread) fails the test instead of hanging it.
    worker = build_worker(dev_env.client, jobs, task_queue=task_queue)
    running = asyncio.ensure_future(worker.run())
    problems: list[str] = []
    try:

        async def progress() -> tuple[list[str], int]:
            try:  # (status of an instance whose workflow task fails: see case 11)
                folded = (await h.status(uid)).event_count
            except (RPCError, WorkerUnavailableError):
                folded = -1
            return await failed_workflow_tasks(dev_env.client, workflow_id), folded

        failures, folded = await eventually(
            progress, lambda p: bool(p[0]) or p[1] == total + 1, timeout=90
        )
        problems += [f"workflow task failed: {f}" for f in failures]
        if not failures:
            state = (await h.get_state(uid)).state
            items = [] if state is None else state.items
            if folded != total + 1 or sorted(items) != list(range(total + 1)):
                problems.append(f"folded {folded} events, state holds {len(items)}")
    finally:
        with contextlib.suppress(RPCError):
            await dev_env.client.get_workflow_handle(workflow_id).terminate()
        stopping = asyncio.ensure_future(worker.shutdown())
        done, _ = await asyncio.wait({stopping, running}, timeout=SHUTDOWN_PATIENCE)
        if stopping not in done:
            problems.append(f"the worker did not shut down within {SHUTDOWN_PATIENCE:g} s")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)
