"""``JobsClient``: the entry point of application code (SPEC §5)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any, TypeVar, overload

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.envconfig import ClientConfig
from temporalio.service import TLSConfig

from durable_jobs._registry import DurableJobs
from durable_jobs.client._in_flight import InFlightLimit
from durable_jobs.client._search_attributes import JobSearchAttributes
from durable_jobs.client.continuous import ContinuousHandle
from durable_jobs.client.debounce import DebounceHandle
from durable_jobs.client.handle import JobHandle
from durable_jobs.client.task import TaskHandle
from durable_jobs.definitions import Continuous, Debounce, Task
from durable_jobs.errors import JobsConnectionError, JobsError

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
    """Typed access to the job instances of a :class:`~durable_jobs.DurableJobs` registry.

    Build it with :meth:`connect` (or :meth:`from_client` on a ``temporalio`` client you have),
    then take a handle per job: :meth:`continuous`, :meth:`debounce`, :meth:`task`. One client
    serves the whole application; its handles are cheap to make.
    """

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
        ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS_*``, and profiles of
        ``TEMPORAL_CONFIG_FILE`` chosen by ``profile`` or ``TEMPORAL_PROFILE``); arguments override
        them; the default address is ``localhost:7233``. ``codec`` (e.g.
        ``durable_jobs.codec.AesGcmCodec``) encodes every payload, so state and events are not
        readable in Temporal; a worker built from this client's ``temporal_client`` uses it too.
        ``worker_patience`` is how often a call or query without an answer asks whether any
        worker polls; when none does, ``status`` answers from the memo summary and the others
        raise :class:`WorkerUnavailableError`.

        Raises :class:`JobsConnectionError` when the server cannot be reached, saying what to
        change for the TLS failures a real cluster shows (a server certificate from an
        untrusted CA or for another name, a server that wants a client certificate, TLS on one
        side only), and :class:`JobsError` when the configuration cannot be loaded.
        """
        try:
            loaded = ClientConfig.load_client_connect_config(profile=profile)
        except (OSError, RuntimeError) as err:
            raise JobsError(
                f"cannot load Temporal's environment configuration (TEMPORAL_CONFIG_FILE, "
                f"TEMPORAL_PROFILE, TEMPORAL_TLS_*): {' '.join(str(err).split())}"
            ) from err
        config: dict[str, Any] = dict(loaded)
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
            reason = str(err)
            tls = config.get("tls")
            with_client_cert = isinstance(tls, TLSConfig) and tls.client_cert is not None
            # What rustls and hyper report (the SDK's message is their debug text), and what to
            # change. A server that refuses the client's certificate (TLS 1.3 checks it after
            # the client thinks the handshake is done) shows as any of these, by timing.
            refused_client = (
                "UnexpectedEof",
                "CertificateRequired",
                "BadCertificate",
                "BrokenPipe",
                "ConnectionReset",
                "connection closed",
            )
            hints: list[tuple[tuple[str, ...], str]] = [
                (
                    ("UnknownIssuer",),
                    "the server's TLS certificate is not signed by a CA this client trusts; "
                    "expected the CA that signed it as the server CA certificate "
                    "(TEMPORAL_TLS_SERVER_CA_CERT_PATH, or tls.server_ca_cert_path in the profile)",
                ),
                (
                    ("NotValidForName",),
                    "the server's TLS certificate is not for the name this client checks; "
                    "expected the certificate's name as the server name "
                    "(TEMPORAL_TLS_SERVER_NAME, or tls.server_name in the profile)",
                ),
                (("Expired",), "the server's TLS certificate has expired"),
                (
                    ("InvalidContentType",),
                    "the server does not speak TLS there; expected TLS off for it "
                    "(TEMPORAL_TLS=false) or the address of its TLS port",
                ),
            ]
            if tls and not with_client_cert:
                hints.append(
                    (
                        refused_client,
                        "the server closed the TLS connection unanswered, as one that requires "
                        "a client certificate (mTLS) does; expected a client certificate and key "
                        "(TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH, or "
                        "tls.client_cert_path and tls.client_key_path in the profile)",
                    )
                )
            elif tls:
                hints.append(
                    (
                        refused_client,
                        "the server closed the TLS connection unanswered: it does not accept "
                        "this client certificate; expected one signed by a CA the server trusts",
                    )
                )
            else:
                hints.append(
                    (
                        ("BrokenPipe",),
                        "the server closed the connection unanswered, as a TLS server does to "
                        "plain text; expected TLS on for it (TEMPORAL_TLS=true, or a tls section "
                        "in the profile)",
                    )
                )
            for markers, hint in hints:
                if any(marker in reason for marker in markers):
                    reason = f"{hint} (the SDK said: {reason})"
                    break
            raise JobsConnectionError(config["target_host"], reason) from err
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
