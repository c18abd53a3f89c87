"""What the library sets on a worker and what it leaves alone (docs, Operating and Design).

- The job workflows run outside the sandbox (``sandboxed=False``), whatever runner the worker
  has, while an application's own workflow on the same worker stays in it.
- ``DurableJobsPlugin`` on an application's worker leaves its runner and pollers as they were.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from durable_jobs import (
    Debounce,
    DebounceEventContext,
    DebounceExecuteContext,
    DurableJobs,
    DurableJobsPlugin,
    JobsClient,
)


class Seen(BaseModel):
    in_sandbox: list[bool] = []


class Ping(BaseModel):
    n: int


def record_sandbox(ctx: DebounceEventContext[Ping, Seen]) -> Seen:
    """A reducer runs in the Debounce workflow: it reports where that workflow runs."""
    seen = ctx.state.in_sandbox if ctx.state is not None else []
    return Seen(in_sandbox=[*seen, workflow.unsafe.in_sandbox()])


async def nothing(ctx: DebounceExecuteContext[Seen]) -> None:
    return None


jobs = DurableJobs(
    probe=Debounce(
        event=Ping, state=Seen, on_event=record_sandbox, execute=nothing, flush_after="1 hour"
    )
)


@workflow.defn(name="ApplicationWorkflow")
class ApplicationWorkflow:
    """An application's own workflow, hosted beside the jobs."""

    @workflow.run
    async def run(self) -> bool:
        return workflow.unsafe.in_sandbox()


def _queue() -> str:
    return f"worker-defaults-{uuid.uuid4().hex[:8]}"


async def test_job_workflows_leave_the_sandbox_and_application_workflows_keep_it(
    dev_env: WorkflowEnvironment,
) -> None:
    client, task_queue = dev_env.client, _queue()
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[ApplicationWorkflow],
        plugins=[DurableJobsPlugin(jobs)],
        workflow_runner=SandboxedWorkflowRunner(),
    )
    async with worker:
        sandboxed = await client.execute_workflow(
            ApplicationWorkflow.run, id=f"app-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        probe = JobsClient.from_client(client, jobs, task_queue=task_queue).debounce("probe")
        key = uuid.uuid4().hex[:8]
        await probe.add(id=key, event=Ping(n=1))
        state = (await probe.get_state(key)).state
    assert sandboxed is True
    assert state is not None and state.in_sandbox == [False]


async def test_the_plugin_leaves_an_application_workers_runner_and_pollers_alone(
    dev_env: WorkflowEnvironment,
) -> None:
    runner = SandboxedWorkflowRunner()
    config = Worker(
        dev_env.client,
        task_queue=_queue(),
        workflows=[ApplicationWorkflow],
        plugins=[DurableJobsPlugin(jobs)],
        workflow_runner=runner,
    ).config()
    assert config["workflow_runner"] is runner
    assert config["workflow_task_poller_behavior"] == PollerBehaviorSimpleMaximum(5)
