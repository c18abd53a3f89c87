"""Workers for durable jobs: :func:`build_worker`, :func:`build_replayer`, :func:`run_worker`.

``build_worker(client, jobs)`` is the shortcut for a worker that runs only the jobs; to host them
on a worker that also runs your own workflows, use :class:`~durable_jobs.DurableJobsPlugin`.
:func:`run_worker` is the worker process that ``durable-jobs worker`` and the repository's
``worker.py`` run: it connects (the standard Temporal environment configuration, default
``localhost:7233``; or an embedded dev server persisted under ``.temporal/``) and runs until
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Replayer, Worker

from durable_jobs._registry import DurableJobs
from durable_jobs.client import DEFAULT_TASK_QUEUE, JobsClient
from durable_jobs.errors import JobsError
from durable_jobs.plugin import DurableJobsPlugin

__all__ = [
    "DEV_DATABASE",
    "DEV_METRICS_PORT",
    "DEV_SERVER_PORT",
    "DEV_UI_PORT",
    "build_replayer",
    "build_worker",
    "load_jobs",
    "prometheus_runtime",
    "run_worker",
]

DEV_SERVER_PORT = 7233
DEV_UI_PORT = 8233
DEV_METRICS_PORT = 9464
"""Where ``make run`` serves the worker's Prometheus metrics."""
DEV_DATABASE = Path(".temporal") / "dev.db"

log = logging.getLogger("durable_jobs.worker")


def build_worker(
    temporal_client: Client,
    jobs: DurableJobs,
    task_queue: str = DEFAULT_TASK_QUEUE,
    **worker_options: Any,
) -> Worker:
    """A ``temporalio`` worker that runs the three job workflows and the activities of ``jobs``.

    ``worker_options`` go to ``temporalio.worker.Worker``.
    """
    plugins = [*worker_options.pop("plugins", []), DurableJobsPlugin(jobs, task_queue=task_queue)]
    return Worker(temporal_client, task_queue=task_queue, plugins=plugins, **worker_options)


REPLAY_BUILD_ID = "durable-jobs-replay"


def build_replayer(jobs: DurableJobs, **replayer_options: Any) -> Replayer:
    """A ``temporalio`` ``Replayer`` for the job workflows of ``jobs``, as the worker runs them."""
    replayer_options.setdefault("build_id", REPLAY_BUILD_ID)
    plugins = [*replayer_options.pop("plugins", []), DurableJobsPlugin(jobs)]
    return Replayer(workflows=[], plugins=plugins, **replayer_options)


def load_jobs(spec: str) -> DurableJobs:
    """The registry named by ``package.module:attribute``; raises :class:`JobsError`.

    The module is imported as ``python -m`` would, so it may live in the current directory.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise JobsError(f"--jobs {spec!r}: expected package.module:attribute")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise JobsError(f"--jobs {spec!r}: cannot import {module_name!r}: {err}") from err
    registry = getattr(module, attribute, None)
    if not isinstance(registry, DurableJobs):
        raise JobsError(
            f"--jobs {spec!r}: expected a DurableJobs, found {type(registry).__name__} {registry!r}"
        )
    return registry


async def run_worker(
    jobs: DurableJobs,
    *,
    task_queue: str = DEFAULT_TASK_QUEUE,
    dev: bool = False,
    then: Callable[[JobsClient], Coroutine[Any, Any, None]] | None = None,
    metrics_port: int | None = None,
    codec: PayloadCodec | None = None,
    dev_port: int = DEV_SERVER_PORT,
    dev_other_ports: str = "--dev-port N (its web UI takes N + 1000)",
    **worker_options: Any,
) -> None:
    """Run a worker until the process gets Ctrl-C or SIGTERM.

    ``dev`` starts an embedded dev server first on ``dev_port`` (persisted under ``.temporal/``,
    with its web UI on ``dev_port + 1000`` and the job search attributes); its banner is printed
    before anything else, and a port that is already taken (another dev server) is a
    :class:`JobsError` naming it, with ``dev_other_ports`` as the way to choose others.
    ``then``, if given, runs once the worker is polling (the demo uses it) with a client for
    ``jobs``; the worker keeps running after it returns. ``metrics_port`` serves Prometheus
    metrics (Temporal's worker metrics and the jobs' own). ``codec`` (e.g.
    :class:`~durable_jobs.codec.AesGcmCodec`) encodes every payload, as in ``JobsClient.connect``.
    ``worker_options`` go to :func:`build_worker` (``interceptors``, ``max_cached_workflows``...).
    """
    from durable_jobs._servers import DevServer, check_ports_free

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = None
    ui_port = dev_port + (DEV_UI_PORT - DEV_SERVER_PORT)
    if dev:
        # All of them before anything starts: a taken one means another server is running.
        ports = {"dev server's gRPC port": dev_port, "dev server's web UI port": ui_port}
        if metrics_port is not None:
            ports["worker's metrics port"] = metrics_port
        check_ports_free(ports, dev_other_ports)
    elif metrics_port is not None:
        check_ports_free({"worker's metrics port": metrics_port}, "--metrics-port N")
    runtime = prometheus_runtime(metrics_port) if metrics_port is not None else None
    if dev:
        DEV_DATABASE.parent.mkdir(exist_ok=True)
        server = await DevServer.start(
            port=dev_port,
            ui_port=ui_port,
            database=str(DEV_DATABASE),
            other_ports=dev_other_ports,
        )
    try:
        if server is not None:
            options: dict[str, Any] = {"namespace": "default"}
            if runtime is not None:
                options["runtime"] = runtime
            if codec is not None:
                options["data_converter"] = dataclasses.replace(
                    DataConverter.default, payload_codec=codec
                )
            temporal_client = await Client.connect(server.target, **options)
            log.info("dev server on localhost:%s, web UI http://localhost:%s", dev_port, ui_port)
        else:
            options = {} if runtime is None else {"runtime": runtime}
            temporal_client = (
                await JobsClient.connect(jobs, task_queue=task_queue, codec=codec, **options)
            ).temporal_client
        async with build_worker(temporal_client, jobs, task_queue=task_queue, **worker_options):
            log.info("worker for %s on task queue %r; Ctrl-C to stop", sorted(jobs), task_queue)
            if then is not None:
                demo = asyncio.create_task(
                    then(JobsClient.from_client(temporal_client, jobs, task_queue=task_queue))
                )
                demo.add_done_callback(lambda task: task.cancelled() or task.exception())
            await stop.wait()
            log.info("stopping: finishing or handing back in-flight work")
    finally:
        if server is not None:
            await server.stop()


def prometheus_runtime(port: int, host: str = "0.0.0.0") -> Runtime:
    """A Temporal runtime that serves its metrics for Prometheus on ``host:port``/metrics."""
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"{host}:{port}"))
    )
