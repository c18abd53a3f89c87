"""Many instances at once: list, count, terminate_all, and their command line (SPEC §10.4).

On the dev server with the job search attributes (visibility is eventually consistent: every
read polls with a deadline). Also the schedule commands of the CLI, and the time-skipping
server's refusal to list.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio.testing import WorkflowEnvironment

from durable_jobs import (
    Continuous,
    ContinuousContext,
    DurableJobs,
    JobsError,
    JobValidationError,
    every,
)
from durable_jobs.testing import JobsTestEnvironment
from tests.integration.helpers import eventually
from tests.system.test_cli import cli_for


class Counter(BaseModel):
    n: int = 0


async def count(ctx: ContinuousContext[Counter]) -> None:
    ctx.set_state(Counter(n=ctx.state.n + 1))


jobs = DurableJobs(
    fleet=Continuous(state=Counter, schedule=every("1 hour"), execute=count),
    other=Continuous(state=Counter, schedule=every("1 hour"), execute=count),
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
