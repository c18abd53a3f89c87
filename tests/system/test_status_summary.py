"""Status without a worker (memo summary) and listing by status (search attributes), issue 7.

Each instance keeps its ``status`` answer in its memo and ``JobStatus`` current. These tests run a
worker, stop it, and check that ``status`` still answers, from the memo, and that ``get_state``
says it needs a worker; and that visibility finds instances by ``JobStatus``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from durable_jobs import Continuous, Debounce, DurableJobs, Task, WorkerUnavailableError, every
from durable_jobs.client import JobsClient
from durable_jobs.context import (
    ContinuousContext,
    DebounceExecuteContext,
    TaskContext,
    TaskEventContext,
)
from durable_jobs.protocol import JOB_KIND, JOB_NAME, JOB_STATUS
from durable_jobs.worker import build_worker
from durable_jobs.workflows import engine
from tests.integration.helpers import eventually, history

CLI = str(Path(sys.executable).parent / "durable-jobs")


class Counter(BaseModel):
    n: int = 0


class Hit(BaseModel):
    n: int


async def count(ctx: ContinuousContext[Counter]) -> None:
    ctx.set_state(Counter(n=ctx.state.n + 1))


async def broken(ctx: ContinuousContext[Counter]) -> None:
    raise RuntimeError("the token endpoint said no")


async def deliver(ctx: DebounceExecuteContext[Hit]) -> None:
    return None


async def note(event: Hit, ctx: TaskEventContext[Counter]) -> None:
    ctx.set_state(Counter(n=(ctx.state.n if ctx.state else 0) + event.n))
    ctx.schedule("1 hour")


async def nothing(ctx: TaskContext[Counter]) -> None:
    return None


async def slow_note(event: Hit, ctx: TaskEventContext[Counter]) -> None:
    await asyncio.sleep(0.2)
    await note(event, ctx)


jobs = DurableJobs(
    ticker=Continuous(state=Counter, schedule=every("1 hour"), execute=count),
    broken=Continuous(
        state=Counter, schedule=every("1 hour"), execute=broken, pause_on_failure=True
    ),
    hits=Debounce(event=Hit, execute=deliver, flush_after="1 hour"),
    notes=Task(state=Counter, event=Hit, on_event=note, execute=nothing),
    slow_notes=Task(state=Counter, event=Hit, on_event=slow_note, execute=nothing),
)


def client_for(temporal_client: Client, task_queue: str) -> JobsClient:
    return JobsClient.from_client(
        temporal_client, jobs, task_queue=task_queue, worker_patience=timedelta(seconds=1)
    )


async def test_status_answers_from_the_memo_when_no_worker_runs(
    dev_env: WorkflowEnvironment, uid: str
) -> None:
    task_queue = f"summary-{uid}"
    client = client_for(dev_env.client, task_queue)
    ticker, failing = client.continuous("ticker"), client.continuous("broken")
    hits, notes = client.debounce("hits"), client.task("notes")
    async with build_worker(dev_env.client, jobs, task_queue=task_queue):
        await ticker.start(id=uid, input=Counter(n=41))
        await failing.start(id=uid, input=Counter())
        for n in range(3):
            await hits.add(id=uid, event=Hit(n=n))
        await notes.send(id=uid, event=Hit(n=2))
        await notes.send(id=uid, event=Hit(n=3))
        await eventually(lambda: ticker.status(uid), lambda s: s.run_count == 1)
        await eventually(lambda: failing.status(uid), lambda s: s.status == "stopped")
        live = [
            await ticker.status(uid),
            await failing.status(uid),
            await hits.status(uid),
            await notes.status(uid),
        ]
        assert [s.as_of for s in live] == [None] * 4
    # No worker polls the task queue any more: the same answers come from the memo.
    answered = [
        await ticker.status(uid),
        await failing.status(uid),
        await hits.status(uid),
        await notes.status(uid),
    ]
    assert all(s.as_of is not None for s in answered)
    # A new status, a new last error, or a next time that has passed is written at once:
    # the ticker's first run passed the time the summary showed, the failing job stopped.
    for index in (0, 1):
        assert answered[index].model_copy(update={"as_of": None}) == live[index]
    assert answered[0].run_count == 1
    assert [s.status for s in answered] == ["running", "stopped", "debouncing", "active"]
    assert answered[1].last_error is not None
    assert answered[1].last_error.message == "the token endpoint said no"
    # Counts, and an alarm moved later, wait (a minute, or the next such change): the batch as
    # its first add wrote it with the start request (the client's clock, a moment before the
    # workflow's), the task as of its first send. Exact as of as_of.
    batch, task = answered[2], answered[3]
    assert (batch.event_count, batch.as_of) == (1, batch.started_at)
    assert batch.started_at is not None and live[2].started_at is not None
    assert timedelta(0) <= live[2].started_at - batch.started_at < timedelta(seconds=2)
    assert (batch.status, batch.last_error) == (live[2].status, live[2].last_error)
    assert (task.event_count, task.status) == (1, "active")
    assert task.scheduled_at is not None and live[3].scheduled_at is not None
    assert task.scheduled_at < live[3].scheduled_at
    assert (await ticker.status("never-started")).status == "not_found"

    with pytest.raises(WorkerUnavailableError) as refused:
        await ticker.get_state(uid)
    message = str(refused.value)
    assert f"continuous:ticker:{uid}" in message
    assert f"task queue {task_queue!r}" in message
    with pytest.raises(WorkerUnavailableError):
        await notes.get_state(uid)
    await asyncio.gather(*(h.terminate(uid) for h in (ticker, failing, notes)))


async def test_instances_carry_job_search_attributes_kept_current(
    dev_env: WorkflowEnvironment, uid: str
) -> None:
    task_queue = f"attributes-{uid}"
    client = client_for(dev_env.client, task_queue)
    failing, hits = client.continuous("broken"), client.debounce("hits")
    async with build_worker(dev_env.client, jobs, task_queue=task_queue):
        await failing.start(id=uid, input=Counter())
        await hits.add_nowait(id=uid, event=Hit(n=1))
        await eventually(lambda: failing.status(uid), lambda s: s.status == "stopped")

        async def attributes(workflow_id: str) -> Any:
            described = await dev_env.client.get_workflow_handle(workflow_id).describe()
            return described.typed_search_attributes

        stopped = await eventually(
            lambda: attributes(f"continuous:broken:{uid}"),
            lambda found: found.get(JOB_STATUS) == "stopped",
        )
        assert (stopped.get(JOB_KIND), stopped.get(JOB_NAME)) == ("continuous", "broken")

        async def listed(query: str) -> list[str]:
            return [e.id async for e in dev_env.client.list_workflows(query)]

        stopped_ids = await eventually(
            lambda: listed(
                f'JobName = "broken" AND JobStatus = "stopped" AND WorkflowId = "continuous:broken:{uid}"'
            ),
            lambda ids: bool(ids),
        )
        assert stopped_ids == [f"continuous:broken:{uid}"]
        debouncing = await eventually(
            lambda: listed(
                f'JobKind = "debounce" AND JobStatus = "debouncing" AND WorkflowId = "debounce:hits:{uid}"'
            ),
            lambda ids: bool(ids),
        )
        assert debouncing == [f"debounce:hits:{uid}"]
        await failing.terminate(uid)
        await hits.clear(uid)


async def test_cli_lists_instances_by_status(dev_env: WorkflowEnvironment, uid: str) -> None:
    task_queue = f"cli-list-{uid}"
    client = client_for(dev_env.client, task_queue)
    ticker, failing = client.continuous("ticker"), client.continuous("broken")
    address = dev_env.client.service_client.config.target_host
    base = ["--jobs", "tests.system.test_status_summary:jobs", "--address", address, "--json"]

    async def cli(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            CLI, *base, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await process.communicate()
        return process.returncode or 0, out.decode(), err.decode()

    async with build_worker(dev_env.client, jobs, task_queue=task_queue):
        await failing.start(id=f"{uid}-a", input=Counter())
        await failing.start(id=f"{uid}-b", input=Counter())
        await ticker.start(id=uid, input=Counter())
        for id in (f"{uid}-a", f"{uid}-b"):
            await eventually(lambda id=id: failing.status(id), lambda s: s.status == "stopped")

        async def stopped_here() -> list[Any]:
            code, out, err = await cli("list", "broken", "--status", "stopped")
            assert code == 0, err
            return [row for row in json.loads(out) if row["id"].startswith(uid)]

        rows = await eventually(stopped_here, lambda rows: len(rows) == 2)
        assert [(r["id"], r["status"]) for r in rows] == [
            (f"{uid}-a", "stopped"),
            (f"{uid}-b", "stopped"),
        ]
        code, _, err = await cli("list", "broken", "--status", "debouncing")
        assert code == 2
        assert "one of ('running', 'stopped', 'paused')" in err
        for handle, id in ((failing, f"{uid}-a"), (failing, f"{uid}-b"), (ticker, uid)):
            await handle.terminate(id)


async def test_a_key_kept_busy_still_refreshes_its_summary(
    dev_env: WorkflowEnvironment, uid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A summary write held back for a step under way waits one more interval at most.

    Eight senders keep a handler call in flight at every workflow task, so a write that only
    the interval made due is always held back; without the bound, the counts in the memo would
    stay as they were for as long as the key stays busy. The worker runs in this process, so
    the interval can be shortened to keep the test short.
    """
    monkeypatch.setattr(engine, "SUMMARY_INTERVAL", timedelta(seconds=1))
    task_queue = f"busy-{uid}"
    slow = client_for(dev_env.client, task_queue).task("slow_notes")
    async with build_worker(dev_env.client, jobs, task_queue=task_queue):
        await slow.send(id=uid, event=Hit(n=1))  # idle -> active: written at once
        loop = asyncio.get_running_loop()
        busy_until = loop.time() + 8

        async def sender() -> None:
            while loop.time() < busy_until:
                await slow.send(id=uid, event=Hit(n=1))

        await asyncio.gather(*(sender() for _ in range(8)))
        events = [e.event_type for e in await history(dev_env.client, f"task:slow_notes:{uid}")]
        await slow.terminate(uid)
    memo_writes = events.count(EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED)
    # The first send's write and the last (once idle), and between them one at least every
    # two intervals of the eight busy seconds (four under a CPU burner);
    # without the bound, none between them.
    assert memo_writes >= 3, (memo_writes, events)
