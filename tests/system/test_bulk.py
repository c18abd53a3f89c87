"""Many instances at once: list, count, terminate_all, and their command line (SPEC §10.4).

On the dev server with the job search attributes (visibility is eventually consistent: every
read polls with a deadline). Also the schedule commands of the CLI, and the time-skipping
server's refusal to list.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from durable_jobs import (
    Continuous,
    ContinuousContext,
    DurableJobs,
    JobsClient,
    JobsError,
    JobValidationError,
    Task,
    TaskEventContext,
    WorkerUnavailableError,
    every,
)
from durable_jobs.protocol import JOB_NAME, JOB_STATUS, STATUS_MEMO
from durable_jobs.testing import JobsTestEnvironment
from tests.integration.helpers import eventually
from tests.system.test_cli import cli_for


class Counter(BaseModel):
    n: int = 0


async def count(ctx: ContinuousContext[Counter]) -> None:
    ctx.set_state(Counter(n=ctx.state.n + 1))


class Ping(BaseModel):
    n: int = 0


async def arm(event: Ping, ctx: TaskEventContext[Counter]) -> None:
    ctx.set_state(Counter(n=event.n))
    ctx.schedule("1 hour")


async def ring(ctx: Any) -> None:
    return None


jobs = DurableJobs(
    fleet=Continuous(state=Counter, schedule=every("1 hour"), execute=count),
    other=Continuous(state=Counter, schedule=every("1 hour"), execute=count),
    loud=Task(state=Counter, event=Ping, on_event=arm, execute=ring),
    quiet=Task(state=Counter, event=Ping, on_event=arm, execute=ring, publish_status=False),
)


@pytest.fixture
async def env(dev_env: WorkflowEnvironment) -> Any:
    async with await JobsTestEnvironment.attach(dev_env, jobs) as jobs_env:
        yield jobs_env


async def test_list_count_and_terminate_all_by_status(env: JobsTestEnvironment) -> None:
    run = uuid.uuid4().hex[:8]
    fleet, other = env.client.continuous("fleet"), env.client.continuous("other")
    ids = [f"{run}-{n}" for n in range(6)]
    await asyncio.gather(*(fleet.start(id=i, input=Counter()) for i in ids))
    await other.start(id=f"{run}-other", input=Counter())
    for i in ids[:2]:
        await fleet.pause(i)

    async def mine(status: str | None = None) -> list[tuple[str, str]]:
        return sorted([(s.id, s.status) async for s in fleet.list(status) if s.id.startswith(run)])

    listed = await eventually(mine, lambda rows: len(rows) == 6, timeout=20)
    assert {i for i, _ in listed} == set(ids)
    paused = await eventually(lambda: mine("paused"), lambda rows: len(rows) == 2, timeout=20)
    assert paused == [(ids[0], "paused"), (ids[1], "paused")]
    assert await eventually(lambda: fleet.count("paused"), lambda n: n >= 2, timeout=20) >= 2

    terminated = await fleet.terminate_all("paused", reason="retired")
    assert terminated >= 2
    for i in ids[:2]:
        assert (await fleet.status(i)).status == "not_found"
    assert [(await fleet.status(i)).status for i in ids[2:]] == ["running"] * 4
    assert (await other.status(f"{run}-other")).status == "running"  # another job: untouched

    with pytest.raises(JobValidationError, match="expected one of"):
        await fleet.count("debouncing")
    await fleet.terminate_all()
    await other.terminate(f"{run}-other")
    assert await eventually(lambda: mine(), lambda rows: rows == [], timeout=20) == []


VISIBILITY_WRITES = {
    EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
}
"""The history events of a status summary's write (the memo, ``JobStatus``)."""


async def test_a_job_that_does_not_publish_its_status_writes_no_summary(
    env: JobsTestEnvironment, dev_env: WorkflowEnvironment
) -> None:
    """``publish_status=False``: the same sends as a publishing twin, without one visibility
    write; listing works without a status and refuses one; ``status`` needs a worker."""
    run = uuid.uuid4().hex[:8]
    loud, quiet = env.client.task("loud"), env.client.task("quiet")
    ids = [f"{run}-{n}" for n in range(3)]
    for h in (loud, quiet):
        for i in ids:
            await h.send(id=i, event=Ping(n=1))  # idle -> active: a status change
        assert (await h.status(ids[0])).status == "active"  # the workflow's own answer
    for h, publishes in ((loud, True), (quiet, False)):
        handle = env.temporal_client.get_workflow_handle(h.instance_id(ids[0]))
        events = {e.event_type for e in (await handle.fetch_history()).events}
        assert events.issuperset(VISIBILITY_WRITES) is publishes, h.name
        assert events.isdisjoint(VISIBILITY_WRITES) is not publishes, h.name
        description = await handle.describe()
        assert (STATUS_MEMO in await description.memo()) is publishes
        attributes = description.typed_search_attributes
        assert attributes.get(JOB_NAME) == h.name
        assert attributes.get(JOB_STATUS) == ("active" if publishes else None)

    async def mine() -> list[tuple[str, str]]:
        return sorted([(s.id, s.status) async for s in quiet.list() if s.id.startswith(run)])

    listed = await eventually(mine, lambda rows: len(rows) == 3, timeout=20)
    assert listed == [(i, "") for i in ids]
    assert await eventually(quiet.count, lambda n: n >= 3, timeout=20) >= 3
    for by_status in (
        lambda: quiet.count("active"),
        lambda: quiet.terminate_all("active"),
        lambda: quiet.list("idle").__anext__(),
    ):
        with pytest.raises(JobValidationError, match=r"task job 'quiet' .*publish_status=False"):
            await by_status()
    assert [(await quiet.status(i)).status for i in ids] == ["active"] * 3  # none terminated

    # Without a worker, status answers from the summary: the quiet job has none to give.
    no_worker = JobsClient.from_client(
        dev_env.client, jobs, task_queue=f"nobody-{run}", worker_patience=timedelta(seconds=1)
    )
    for name in ("loud", "quiet"):
        await no_worker.task(name).send_nowait(id=f"{run}-alone", event=Ping(n=1))
    assert (await no_worker.task("loud").status(f"{run}-alone")).status == "idle"
    with pytest.raises(WorkerUnavailableError):
        await no_worker.task("quiet").status(f"{run}-alone")
    for h in (loud, quiet):
        await h.terminate_all()
    for name in ("loud", "quiet"):
        await no_worker.task(name).terminate(f"{run}-alone")


async def test_the_command_line_terminates_all_and_steers_schedules(
    env: JobsTestEnvironment,
) -> None:
    cli = cli_for(env, module=__name__)
    run = uuid.uuid4().hex[:8]
    fleet = env.client.continuous("fleet")
    for n in range(3):
        await fleet.start(id=f"{run}-{n}", input=Counter())

    paused = await cli("--json", "pause", "fleet", f"{run}-0", "--reason", "maintenance")
    assert paused.code == 0, paused.err
    assert paused.json() == {"paused": True}
    assert (await fleet.status(f"{run}-0")).status == "paused"
    resumed = (await cli("--json", "resume", "fleet", f"{run}-0")).json()
    assert resumed["resumed"] is True and resumed["next_run_at"]
    rescheduled = await cli("--json", "reschedule", "fleet", f"{run}-0", "--every", "5 minutes")
    assert rescheduled.json()["rescheduled"] is True
    bad = await cli("reschedule", "fleet", f"{run}-0", "--every", "5")
    assert bad.code == 2 and "cannot read '5'" in bad.err
    neither = await cli("reschedule", "fleet", f"{run}-0")
    assert neither.code == 2 and "--every or --cron" in neither.err

    counted = await eventually(
        lambda: cli("--json", "count", "fleet", "--status", "running"),
        lambda r: r.code == 0 and r.json()["count"] >= 3,
        timeout=20,
    )
    assert counted.json()["count"] >= 3
    usage = await cli("terminate", "fleet")
    assert usage.code == 2 and "an instance id or --all" in usage.err
    wrong = await cli("terminate", "fleet", "--all", "--status", "idle")
    assert wrong.code == 2 and "one of ('running', 'stopped', 'paused')" in wrong.err
    everything = await cli("--json", "terminate", "fleet", "--all", "--reason", "cleanup")
    assert everything.code == 0, everything.err
    assert everything.json()["terminated"] >= 3
    for n in range(3):
        assert (await fleet.status(f"{run}-{n}")).status == "not_found"
    for command in ("pause", "resume", "reschedule", "count", "terminate"):
        helped = await cli(command, "--help")
        assert helped.code == 0 and "Usage" in helped.out


async def test_the_time_skipping_server_cannot_list_and_says_so() -> None:
    async with await JobsTestEnvironment.start_time_skipping(jobs) as env:
        with pytest.raises(JobsError, match="needs Temporal visibility"):
            await env.client.continuous("fleet").count()
        with pytest.raises(JobsError, match="needs Temporal visibility"):
            _ = [s async for s in env.client.continuous("fleet").list()]
