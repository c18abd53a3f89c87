"""``DurableJobsPlugin``: host the job workflows and activities on any Temporal worker.

    client = await Client.connect("localhost:7233", plugins=[DurableJobsPlugin(jobs)])
    worker = Worker(client, task_queue="durable-jobs", workflows=[MyWorkflow], activities=[...])

Every ``Worker`` built on that client (or given the plugin itself) then also runs the three job
workflows and the handler activities for ``jobs``, beside the application's own. A
:class:`~durable_jobs.JobsClient` for ``jobs`` must use the same task queue as that worker.

The plugin leaves the worker's sandbox settings alone: the job workflows are defined with
``sandboxed=False`` and run outside whatever sandbox the application's own workflows use
(docs, Design decisions).
"""

from __future__ import annotations

from temporalio.plugin import SimplePlugin
from temporalio.worker import ReplayerConfig, WorkerConfig

from durable_jobs._registry import DurableJobs, bind_task_queue
from durable_jobs.activities import HandlerActivities, emit_step_events
from durable_jobs.workflows import ALL_WORKFLOWS


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
