"""The worker process of durable jobs, and :func:`build_worker` for embedding one (SPEC §9).

    python worker.py [--jobs package.module:attribute] [--task-queue Q] [--dev]

Loads a :class:`~jobs.DurableJobs` registry (default: the examples), connects to Temporal (the
standard environment configuration, default ``localhost:7233``; with ``--dev`` an embedded dev
server persisted under ``.temporal/``) and runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import HandlerActivities, emit_step_events
from client.jobs_client import DEFAULT_TASK_QUEUE, JobsClient
from jobs.errors import JobsError
from jobs.registry import DurableJobs, bind_task_queue
from workflows import ALL_WORKFLOWS

PASSED_THROUGH_MODULES = (
    "jobs",
    "activities",
    "workflows",
    "cronsim",
    "pydantic",
    "opentelemetry",  # for Temporal's TracingInterceptor, when the tracing extra is installed
)
"""Modules the workflow sandbox shares instead of re-importing for every workflow run.

The library's own workflow modules are among them: the sandbox would otherwise import the
``workflows`` package (the engine and all three kinds) again for every instance, which doubled
the worker's memory and CPU per new instance (README, Performance). They keep no module state,
and the replay tests guard their determinism.
"""

DEV_SERVER_PORT = 7233
DEV_UI_PORT = 8233
DEV_METRICS_PORT = 9464
"""Where ``make run`` serves the worker's Prometheus metrics."""
DEV_DATABASE = Path(".temporal") / "dev.db"

log = logging.getLogger("jobs.worker")


def build_worker(
    temporal_client: Client,
    jobs: DurableJobs,
    task_queue: str = DEFAULT_TASK_QUEUE,
    **worker_options: Any,
) -> Worker:
    """A ``temporalio`` worker running the three job workflows and the handler activity for ``jobs``."""
    bind_task_queue(task_queue, jobs)
    options: dict[str, Any] = {"workflow_runner": workflow_runner()}
    options.update(worker_options)
    return Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=list(ALL_WORKFLOWS),
        activities=[HandlerActivities(jobs).run_handler, emit_step_events],
        **options,
    )


def workflow_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox of job workers; a ``Replayer`` of their histories uses it too."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH_MODULES)
    return SandboxedWorkflowRunner(restrictions=restrictions)


REPLAY_BUILD_ID = "durable-jobs-replay"


def build_replayer(jobs: DurableJobs, **replayer_options: Any) -> Replayer:
    """A ``temporalio`` ``Replayer`` for the job workflows of ``jobs``, with the worker's sandbox.

    Debounce reducers run in the workflow and are found through the registry bound to the
    workflow's task queue; a replayer names its task queue ``replay-{build_id}``, so that is
    where ``jobs`` is bound.
    """
    bind_task_queue(f"replay-{REPLAY_BUILD_ID}", jobs)
    return Replayer(
        workflows=list(ALL_WORKFLOWS),
        workflow_runner=workflow_runner(),
        build_id=REPLAY_BUILD_ID,
        **replayer_options,
    )


def load_jobs(spec: str) -> DurableJobs:
    """The registry named by ``package.module:attribute``."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise JobsError(f"--jobs {spec!r}: expected package.module:attribute")
    registry = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(registry, DurableJobs):
        raise JobsError(f"--jobs {spec!r}: expected a DurableJobs, found {registry!r}")
    return registry


async def run_worker(
    jobs: DurableJobs,
    *,
    task_queue: str,
    dev: bool,
    then: Callable[[JobsClient], Coroutine[Any, Any, None]] | None = None,
    metrics_port: int | None = None,
) -> None:
    """Run a worker until the process gets Ctrl-C or SIGTERM.

    ``then``, if given, runs once the worker is polling (the demo uses it) with a client for
    ``jobs``; the worker keeps running after it returns. ``metrics_port`` serves Prometheus
    metrics (Temporal's worker metrics and the jobs' own, see ``activities/metrics.py``).
    """
    from temporalio.testing import WorkflowEnvironment

    from jobs.servers import dev_server_path, dev_server_search_attribute_args

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    environment = None
    runtime = prometheus_runtime(metrics_port) if metrics_port is not None else None
    if dev:
        DEV_DATABASE.parent.mkdir(exist_ok=True)
        environment = await WorkflowEnvironment.start_local(
            dev_server_existing_path=dev_server_path(),
            dev_server_database_filename=str(DEV_DATABASE),
            port=DEV_SERVER_PORT,
            ui=True,
            ui_port=DEV_UI_PORT,
            runtime=runtime,
            dev_server_extra_args=dev_server_search_attribute_args(),
        )
        temporal_client = environment.client
        log.info(
            "dev server on localhost:%s, web UI http://localhost:%s", DEV_SERVER_PORT, DEV_UI_PORT
        )
    else:
        options: dict[str, Any] = {} if runtime is None else {"runtime": runtime}
        temporal_client = (
            await JobsClient.connect(jobs, task_queue=task_queue, **options)
        ).temporal_client
    try:
        async with build_worker(temporal_client, jobs, task_queue=task_queue):
            log.info("worker for %s on task queue %r; Ctrl-C to stop", sorted(jobs), task_queue)
            if then is not None:
                demo = asyncio.create_task(
                    then(JobsClient.from_client(temporal_client, jobs, task_queue=task_queue))
                )
                demo.add_done_callback(lambda task: task.cancelled() or task.exception())
            await stop.wait()
            log.info("stopping: finishing or handing back in-flight work")
    finally:
        if environment is not None:
            await environment.shutdown()


def prometheus_runtime(port: int, host: str = "0.0.0.0") -> Runtime:
    """A Temporal runtime that serves its metrics for Prometheus on ``host:port``/metrics."""
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"{host}:{port}"))
    )


def main(argv: list[str] | None = None) -> int:
    """The process entry: parse arguments, run the worker, return the exit status."""
    parser = argparse.ArgumentParser(description="Run a durable jobs worker.")
    parser.add_argument("--jobs", default="examples:jobs", help="package.module:attribute")
    parser.add_argument("--task-queue", default=DEFAULT_TASK_QUEUE)
    parser.add_argument("--dev", action="store_true", help="start an embedded dev server")
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(
            run_worker(
                load_jobs(args.jobs),
                task_queue=args.task_queue,
                dev=args.dev,
                metrics_port=args.metrics_port,
            )
        )
    except JobsError as err:
        print(f"worker: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # temporalio's bridge threads can abort the interpreter at exit (sdk-python issue 300).
    os._exit(status)
