"""``terminate`` deletes the instance on a server that supports deletion (the dev server)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import BaseModel
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from durable_jobs import Continuous, DurableJobs, every
from durable_jobs.context import ContinuousContext
from durable_jobs.testing import JobsTestEnvironment
from tests.integration.helpers import eventually


class Secret(BaseModel):
    token: str


async def keep(ctx: ContinuousContext[Secret]) -> None:
    return None


holder = Continuous(state=Secret, schedule=every("1 hour"), execute=keep)
jobs = DurableJobs(holder=holder)


@pytest.fixture
async def env(dev_env: WorkflowEnvironment) -> AsyncIterator[JobsTestEnvironment]:
    async with await JobsTestEnvironment.attach(dev_env, jobs) as jobs_env:
        yield jobs_env


async def history_exists(env: JobsTestEnvironment, workflow_id: str, run_id: str) -> bool:
    try:
        await env.temporal_client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def test_terminate_deletes_the_history_and_frees_the_id(env: JobsTestEnvironment) -> None:
    h = env.client.continuous(holder)
    user = f"user-{uuid.uuid4().hex[:8]}"
    workflow_id = f"continuous:holder:{user}"
    await h.start(id=user, input=Secret(token="s3cr3t-token"))
    await eventually(lambda: h.status(user), lambda s: s.run_count == 1)
    run_id = (await env.temporal_client.get_workflow_handle(workflow_id).describe()).run_id
    result = await h.terminate(user, reason="account closed")
    assert (result.terminated, result.reason) == (True, "account closed")
    assert not await eventually(
        lambda: history_exists(env, workflow_id, run_id), lambda exists: not exists
    )
    assert (await h.get_state(user)).state is None
    assert (await h.status(user)).status == "not_found"
    assert (await h.start(id=user, input=Secret(token="new"))).created is True
    assert (await h.get_state(user)).state == Secret(token="new")
