"""``JobsClient``: the entry point of application code (SPEC §5)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any, TypeVar, overload

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.envconfig import ClientConfig

from durable_jobs._registry import DurableJobs
from durable_jobs.client._in_flight import InFlightLimit
from durable_jobs.client._search_attributes import JobSearchAttributes
from durable_jobs.client.continuous import ContinuousHandle
from durable_jobs.client.debounce import DebounceHandle
from durable_jobs.client.handle import JobHandle
from durable_jobs.client.task import TaskHandle
from durable_jobs.definitions import Continuous, Debounce, Task
from durable_jobs.errors import JobsConnectionError

H = TypeVar("H", bound=JobHandle[Any])
S = TypeVar("S", bound=BaseModel)
E = TypeVar("E")
DS = TypeVar("DS")

DEFAULT_TASK_QUEUE = "durable-jobs"
"""The task queue that clients and workers use unless told otherwise."""

DEFAULT_ADDRESS = "localhost:7233"
"""Where Temporal is looked for when the environment names no address."""

DEFAULT_WORKER_PATIENCE = timedelta(seconds=5)
"""How long a query waits for a worker before ``status`` answers from the memo summary."""


class JobsClient:
    """Typed access to the job instances of a :class:`~jobs.DurableJobs` registry."""

    def __init__(
        self,
        temporal_client: Client,
        jobs: DurableJobs,
        task_queue: str,
        worker_patience: timedelta = DEFAULT_WORKER_PATIENCE,
    ) -> None:
        self._client = temporal_client
        self._jobs = jobs
        self._task_queue = task_queue
        self._worker_patience = worker_patience
        self._address = temporal_client.service_client.config.target_host
        self._in_flight = InFlightLimit()
        self._search_attributes = JobSearchAttributes(temporal_client)

    @classmethod
    async def connect(
        cls,
        jobs: DurableJobs,
        *,
        address: str | None = None,
        namespace: str | None = None,
        task_queue: str = DEFAULT_TASK_QUEUE,
        profile: str | None = None,
        codec: PayloadCodec | None = None,
        worker_patience: timedelta = DEFAULT_WORKER_PATIENCE,
        **connect_options: Any,
    ) -> JobsClient:
        """Connect to Temporal and return a client for ``jobs``.

        Settings come from Temporal's environment configuration (``TEMPORAL_ADDRESS``,
        ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, TLS, profiles); arguments override them;
        the default address is ``localhost:7233``. ``codec`` (e.g. ``jobs.codec.AesGcmCodec``)
        encodes every payload, so state and events are not readable in Temporal; a worker
        built from this client's ``temporal_client`` uses it too. ``worker_patience`` is how
        long a query waits for a worker: then ``status`` answers from the memo summary and
        ``get_state`` raises :class:`WorkerUnavailableError`. Raises
        :class:`JobsConnectionError`.
        """
        config: dict[str, Any] = dict(ClientConfig.load_client_connect_config(profile=profile))
        config.setdefault("target_host", DEFAULT_ADDRESS)
        if address is not None:
            config["target_host"] = address
        if namespace is not None:
            config["namespace"] = namespace
        if codec is not None:
            config["data_converter"] = dataclasses.replace(
                DataConverter.default, payload_codec=codec
            )
        config.update(connect_options)
        try:
            temporal_client = await Client.connect(**config)
        except RuntimeError as err:
            raise JobsConnectionError(config["target_host"], str(err)) from err
        return cls(temporal_client, jobs, task_queue, worker_patience)

    @classmethod
    def from_client(
        cls,
        temporal_client: Client,
        jobs: DurableJobs,
        *,
        task_queue: str = DEFAULT_TASK_QUEUE,
        worker_patience: timedelta = DEFAULT_WORKER_PATIENCE,
    ) -> JobsClient:
        """A client for ``jobs`` on an existing ``temporalio`` client."""
        return cls(temporal_client, jobs, task_queue, worker_patience)

    @property
    def temporal_client(self) -> Client:
        """The underlying ``temporalio`` client."""
        return self._client

    @property
    def jobs(self) -> DurableJobs:
        """The registry this client serves."""
        return self._jobs

    @property
    def task_queue(self) -> str:
        """The task queue the workers of these jobs poll."""
        return self._task_queue

    @overload
    def continuous(self, job: str) -> ContinuousHandle[Any]: ...
    @overload
    def continuous(self, job: Continuous[S]) -> ContinuousHandle[S]: ...
    def continuous(self, job: str | Continuous[Any]) -> ContinuousHandle[Any]:
        """The handle of a Continuous job, by name or definition; raises JobNotFoundError."""
        return self._make_handle(ContinuousHandle, job)

    @overload
    def debounce(self, job: str) -> DebounceHandle[Any, Any]: ...
    @overload
    def debounce(self, job: Debounce[E, DS]) -> DebounceHandle[E, DS]: ...
    def debounce(self, job: str | Debounce[Any, Any]) -> DebounceHandle[Any, Any]:
        """The handle of a Debounce job, by name or definition; raises JobNotFoundError."""
        return self._make_handle(DebounceHandle, job)

    @overload
    def task(self, job: str) -> TaskHandle[Any, Any]: ...
    @overload
    def task(self, job: Task[S, E]) -> TaskHandle[S, E]: ...
    def task(self, job: str | Task[Any, Any]) -> TaskHandle[Any, Any]:
        """The handle of a Task job, by name or definition; raises JobNotFoundError."""
        return self._make_handle(TaskHandle, job)

    def _make_handle(self, handle_type: type[H], job: Any) -> H:
        name, definition = self._jobs.get(handle_type.kind, job)
        return handle_type(
            temporal_client=self._client,
            task_queue=self._task_queue,
            name=name,
            definition=definition,
            address=self._address,
            in_flight=self._in_flight,
            search_attributes=self._search_attributes,
            worker_patience=self._worker_patience,
        )
