"""``DurableJobsPlugin``: host the job workflows and activities on any Temporal worker.

    client = await Client.connect("localhost:7233", plugins=[DurableJobsPlugin(jobs)])
    worker = Worker(client, task_queue="durable-jobs", workflows=[MyWorkflow], activities=[...])

Every ``Worker`` built on that client (or given the plugin itself) then also runs the three job
workflows and the handler activities for ``jobs``, beside the application's own, with the
sandbox settings they need. A :class:`~durable_jobs.JobsClient` for ``jobs`` must use the same
task queue as that worker.
"""

from __future__ import annotations

import dataclasses

from temporalio.plugin import SimplePlugin
from temporalio.worker import ReplayerConfig, WorkerConfig, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from durable_jobs._registry import DurableJobs, bind_task_queue
from durable_jobs.activities import HandlerActivities, emit_step_events
from durable_jobs.workflows import ALL_WORKFLOWS

PASSED_THROUGH_MODULES = (
    "durable_jobs",
    "cronsim",
    "pydantic",
    "opentelemetry",  # for Temporal's TracingInterceptor, when the tracing extra is installed
)
"""Modules the workflow sandbox shares instead of re-importing for every workflow run.

The library's own workflow modules are among them: the sandbox would otherwise import the
workflows package (the engine and all three kinds) again for every instance, which doubled the
worker's memory and CPU per new instance (docs, Performance). They keep no module state, and
the replay tests guard their determinism.
"""


def job_workflow_runner(runner: WorkflowRunner | None = None) -> WorkflowRunner:
    """``runner`` (default: Temporal's sandbox) with the library's modules passed through.

    A runner that is not the sandbox (``UnsandboxedWorkflowRunner``) is returned as it is.
    """
    if runner is None:
        runner = SandboxedWorkflowRunner()
    if not isinstance(runner, SandboxedWorkflowRunner):
        return runner
    return dataclasses.replace(
        runner,
        restrictions=runner.restrictions.with_passthrough_modules(*PASSED_THROUGH_MODULES),
    )


class DurableJobsPlugin(SimplePlugin):
    """A Temporal client and worker plugin that hosts the jobs of ``jobs`` on workers.

    ``task_queue`` limits it to workers of that task queue; by default every worker built on the
    client hosts them. Give it to ``Client.connect(plugins=[...])`` (workers built on the client
    inherit it) or to one ``Worker(plugins=[...])``. A ``Replayer`` given the plugin replays job
    histories.
    """

    def __init__(self, jobs: DurableJobs, *, task_queue: str | None = None) -> None:
        super().__init__(
            "durable_jobs.DurableJobsPlugin",
            workflows=list(ALL_WORKFLOWS),
            activities=[HandlerActivities(jobs).run_handler, emit_step_events],
            workflow_runner=job_workflow_runner,
        )
        self.jobs = jobs
        self.task_queue = task_queue

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        """Add the job workflows and activities, and bind ``jobs`` to the worker's task queue.

        Debounce reducers run in the workflow, which finds them through that binding.
        """
        task_queue = config.get("task_queue")
        if task_queue is None or (self.task_queue is not None and task_queue != self.task_queue):
            return config
        bind_task_queue(task_queue, self.jobs)
        return super().configure_worker(config)

    def configure_replayer(self, config: ReplayerConfig) -> ReplayerConfig:
        """Add the job workflows, and bind ``jobs`` to the replayer's task queue."""
        # A Replayer's task queue is ``replay-{build_id}`` (``replay-None`` without one).
        bind_task_queue(f"replay-{config.get('build_id')}", self.jobs)
        return super().configure_replayer(config)
