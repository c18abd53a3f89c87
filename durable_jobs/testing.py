"""Testing helper for users and for this project's own tests (SPEC §9).

>>> async with await JobsTestEnvironment.start_time_skipping(jobs) as env:
...     await env.client.continuous("tokenRefresher").start(id="u1", input=...)
...     await env.sleep("30 minutes")   # skips time on the test server

The servers start from the installed binaries (never a download; the ``testing`` extra installs
both). Each environment runs a worker for ``jobs`` on a task queue of its own, so several
environments can share one server. ``time_skipping_server_path()`` and ``dev_server_path()`` find
the binaries for a ``temporalio.testing.WorkflowEnvironment`` of your own. With pytest, the
``jobs_env`` fixture (``durable_jobs.pytest_plugin``) gives each test an environment.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from datetime import timedelta
from types import TracebackType
from typing import Any

from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    StartWorkflowUpdateWithStartInput,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateHandle,
)
from temporalio.converter import PayloadCodec
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from durable_jobs._registry import DurableJobs
from durable_jobs._servers import (
    dev_server_path,
    dev_server_search_attribute_args,
    time_skipping_server_path,
)
from durable_jobs.client import JobsClient
from durable_jobs.durations import Duration, parse_duration
from durable_jobs.worker import build_worker

TEST_WORKER_PATIENCE = timedelta(seconds=30)
"""How long the environment's client waits for its worker to answer a query."""

HANDLER_DRAIN_TIMEOUT = timedelta(seconds=15)
"""How long shutdown waits for running handlers before terminating the instances."""


__all__ = ["JobsTestEnvironment", "dev_server_path", "testing_runtime", "time_skipping_server_path"]

_SERVER_VERSION_WARNING = "Temporal Server 1.16.0 or newer is required"
"""The start of a warning Temporal's core logs for every worker on the time-skipping server.

That server does not advertise a capability newer servers have (heartbeat details kept on
activity failure); the library does not rely on it, and in test output the warning is noise.
"""


class _DropServerVersionWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _SERVER_VERSION_WARNING not in record.getMessage()


_testing_runtime: Runtime | None = None


def testing_runtime() -> Runtime:
    """The Temporal runtime of test environments: core logs go to Python logging.

    Core's own warnings and errors reach the logger ``temporalio.core`` (so pytest shows them
    with a failing test's logs), without the server-version warning above.
    """
    global _testing_runtime
    if _testing_runtime is None:
        logger = logging.getLogger("temporalio.core")
        logger.addFilter(_DropServerVersionWarning())
        _testing_runtime = Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=LoggingConfig.default.filter,
                    forwarding=LogForwardingConfig(logger=logger, append_target_to_name=False),
                )
            )
        )
    return _testing_runtime


class _StartedWorkflows(Interceptor):
    """Remembers the ID of every workflow started through the client it intercepts."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _RecordStarts(next, self.ids)


class _RecordStarts(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, ids: set[str]) -> None:
        super().__init__(next)
        self._ids = ids

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        self._ids.add(input.id)
        return await super().start_workflow(input)

    async def start_update_with_start_workflow(
        self, input: StartWorkflowUpdateWithStartInput
    ) -> WorkflowUpdateHandle[Any]:
        self._ids.add(input.start_workflow_input.id)
        return await super().start_update_with_start_workflow(input)


class JobsTestEnvironment:
    """A Temporal server, a worker for ``jobs`` and a :class:`~durable_jobs.JobsClient` for them.

    An environment that started its own server (:meth:`start_time_skipping`,
    :meth:`start_local`) stops it on shutdown, and every instance with it. One that was attached
    to a shared server terminates the instances started through ``client`` first: job instances
    never end on their own.

    Prefer a time-skipping server per test. Its clock is global, and it stops skipping for good
    when a workflow ends (is terminated, completes, continues as new) while one of its workflow
    tasks or activities is outstanding (sdk-java #1138, #3088); on a shared server one such leak
    makes every later :meth:`sleep` take wall-clock time.
    """

    def __init__(
        self,
        environment: WorkflowEnvironment,
        jobs: DurableJobs,
        *,
        owns_environment: bool,
        task_queue: str | None = None,
        codec: PayloadCodec | None = None,
        **worker_options: Any,
    ) -> None:
        self._environment = environment
        self._owns_environment = owns_environment
        self.task_queue = task_queue or f"jobs-test-{uuid.uuid4().hex[:12]}"
        self._started_workflows = _StartedWorkflows()
        config = environment.client.config()
        if codec is not None:
            config["data_converter"] = dataclasses.replace(
                config["data_converter"], payload_codec=codec
            )
        worker_client = Client(**config)
        config["interceptors"] = [*config["interceptors"], self._started_workflows]
        # A busy test machine can keep a worker from answering a query for seconds; a test
        # wants the live answer, not the memo summary a production client falls back to.
        self.client = JobsClient.from_client(
            Client(**config), jobs, task_queue=self.task_queue, worker_patience=TEST_WORKER_PATIENCE
        )
        self._worker: Worker = build_worker(
            worker_client, jobs, task_queue=self.task_queue, **worker_options
        )
        self._started = False

    @classmethod
    async def start_time_skipping(
        cls, jobs: DurableJobs, **worker_options: Any
    ) -> JobsTestEnvironment:
        """Start the time-skipping test server and a worker; time moves in :meth:`sleep`."""
        environment = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=time_skipping_server_path(), runtime=testing_runtime()
        )
        return await cls(environment, jobs, owns_environment=True, **worker_options)._start()

    @classmethod
    async def start_local(
        cls,
        jobs: DurableJobs,
        *,
        dev_server_extra_args: list[str] | None = None,
        **worker_options: Any,
    ) -> JobsTestEnvironment:
        """Start an in-memory dev server (real time, listing, deletion) and a worker.

        The server has the job search attributes, so instances can be listed by status.
        """
        environment = await WorkflowEnvironment.start_local(
            dev_server_existing_path=dev_server_path(),
            runtime=testing_runtime(),
            dev_server_extra_args=[
                *dev_server_search_attribute_args(),
                *(dev_server_extra_args or []),
            ],
        )
        return await cls(environment, jobs, owns_environment=True, **worker_options)._start()

    @classmethod
    async def attach(
        cls, environment: WorkflowEnvironment, jobs: DurableJobs, **worker_options: Any
    ) -> JobsTestEnvironment:
        """A worker for ``jobs`` on an already running environment, which it leaves running."""
        return await cls(environment, jobs, owns_environment=False, **worker_options)._start()

    async def _start(self) -> JobsTestEnvironment:
        await self._worker.__aenter__()
        self._started = True
        return self

    @property
    def temporal_client(self) -> Client:
        """The underlying ``temporalio`` client."""
        return self._environment.client

    @property
    def environment(self) -> WorkflowEnvironment:
        """The underlying ``temporalio.testing.WorkflowEnvironment``."""
        return self._environment

    @property
    def supports_time_skipping(self) -> bool:
        """True on the time-skipping test server."""
        return self._environment.supports_time_skipping

    async def sleep(self, duration: Duration | float) -> None:
        """Let ``duration`` pass: skipped on the test server, real time on the dev server."""
        delta = (
            timedelta(seconds=duration)
            if isinstance(duration, (int, float))
            else parse_duration(duration, what="sleep")
        )
        try:
            await self._environment.sleep(delta)
        except RPCError as err:
            # The client gives up on the sleep RPC after 30 s of wall-clock time.
            if self.supports_time_skipping and err.status == RPCStatusCode.CANCELLED:
                raise TimeoutError(
                    f"sleep({duration!r}) took over 30 s of wall-clock time: the time-skipping "
                    "clock is held, either by a handler that is still running or because a "
                    "workflow ended while its task or activity was outstanding"
                ) from err
            raise

    async def shutdown(self) -> None:
        """Stop the worker, and the server if this environment started it."""
        if self._started:
            self._started = False
            if not self._owns_environment:
                await self._terminate_started_instances()
            await self._worker.__aexit__(None, None, None)
        if self._owns_environment:
            await self._environment.shutdown()

    async def _terminate_started_instances(self) -> None:
        for workflow_id in sorted(self._started_workflows.ids):
            handle = self.temporal_client.get_workflow_handle(workflow_id)
            try:
                await self._wait_for_running_handlers(handle)
                await handle.terminate(reason="test environment shut down")
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise

    async def _wait_for_running_handlers(self, handle: WorkflowHandle[Any, Any]) -> None:
        """Wait (at most ``HANDLER_DRAIN_TIMEOUT``) until no handler of the instance runs.

        Terminating a workflow while its activity runs stops a time-skipping server's clock for
        good. This narrows that window on a shared server but cannot close it: the test server
        does not report pending workflow tasks, so a timer that fires just before the terminate
        still leaks (see the class docstring).
        """
        deadline = asyncio.get_running_loop().time() + HANDLER_DRAIN_TIMEOUT.total_seconds()
        while asyncio.get_running_loop().time() < deadline:
            description = await handle.describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                return
            raw = description.raw_description
            # Quiet: no handler running and no workflow task that could start one.
            if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
                return
            await asyncio.sleep(0.05)

    async def __aenter__(self) -> JobsTestEnvironment:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()
