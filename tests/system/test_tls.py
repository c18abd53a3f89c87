"""The secure path to a real cluster: TLS and mTLS through Temporal's own settings (issue 17, 6).

A TLS-terminating proxy (``tls_proxy.py``; ALPN h2, certificates made here) stands in front of
the dev server, as a cluster's TLS frontend or Temporal Cloud would. The client
(``JobsClient.connect``), the worker (``durable-jobs worker`` as a process) and the CLI reach it
with nothing but Temporal's environment configuration: ``TEMPORAL_TLS_*`` variables, or a
profile of a ``TEMPORAL_CONFIG_FILE``; with and without a client certificate. Misconfigured TLS
fails with a ``JobsConnectionError`` that says what to change.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from durable_jobs import JobsConnectionError
from durable_jobs.client import JobsClient
from tests.integration.helpers import eventually
from tests.system.test_cli import CLI, Counter, jobs, run_cli
from tests.system.tls_proxy import Pki, TlsProxy, make_pki

REGISTRY = "tests.system.test_cli:jobs"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def upstream(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


def tls_variables(
    proxy: TlsProxy, pki: Pki, *, client_cert: bool, ca: Path | None = None
) -> dict[str, str]:
    """``TEMPORAL_*`` variables for the proxy, as a deployment would set them."""
    variables = {
        "TEMPORAL_ADDRESS": proxy.address,
        "TEMPORAL_NAMESPACE": "default",
        "TEMPORAL_TLS": "true",
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(ca or pki.ca),
    }
    if client_cert:
        variables["TEMPORAL_TLS_CLIENT_CERT_PATH"] = str(pki.client_cert)
        variables["TEMPORAL_TLS_CLIENT_KEY_PATH"] = str(pki.client_key)
    return variables


def profile_file(folder: Path, proxy: TlsProxy, pki: Pki, *, client_cert: bool) -> Path:
    """A Temporal config file with a profile ``secure`` for the proxy."""
    lines = [
        "[profile.secure]",
        f'address = "{proxy.address}"',
        'namespace = "default"',
        "",
        "[profile.secure.tls]",
        f'server_ca_cert_path = "{pki.ca}"',
    ]
    if client_cert:
        lines += [
            f'client_cert_path = "{pki.client_cert}"',
            f'client_key_path = "{pki.client_key}"',
        ]
    path = folder / "temporal.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def start_worker(
    task_queue: str, log: Path, started: list[subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    """``durable-jobs worker``, configured by this process's environment only."""
    process = subprocess.Popen(
        [CLI, "--jobs", REGISTRY, "--task-queue", task_queue, "worker"],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    started.append(process)
    return process


async def polled(plain: Client, task_queue: str) -> bool:
    answer = await plain.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace="default",
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return len(answer.pollers) > 0


@pytest.mark.parametrize("client_cert", [True, False], ids=["mtls", "tls"])
@pytest.mark.parametrize("source", ["variables", "profile"])
async def test_client_worker_and_cli_over_tls(
    dev_env: WorkflowEnvironment,
    pki: Pki,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: list[subprocess.Popen[bytes]],
    source: str,
    client_cert: bool,
    uid: str,
) -> None:
    async with TlsProxy(pki, upstream(dev_env), require_client_cert=client_cert) as proxy:
        for name in [n for n in os.environ if n.startswith("TEMPORAL_")]:
            monkeypatch.delenv(name)
        if source == "variables":
            for name, value in tls_variables(proxy, pki, client_cert=client_cert).items():
                monkeypatch.setenv(name, value)
            profile: list[str] = []
        else:
            config = profile_file(tmp_path, proxy, pki, client_cert=client_cert)
            monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(config))
            monkeypatch.setenv("TEMPORAL_PROFILE", "secure")  # how the worker process picks it
            profile = ["--profile", "secure"]
        task_queue = f"tls-{uuid.uuid4().hex[:8]}"
        client = await JobsClient.connect(
            jobs, task_queue=task_queue, profile="secure" if profile else None
        )
        assert client.temporal_client.service_client.config.target_host == proxy.address

        log = tmp_path / "worker.log"
        worker = start_worker(task_queue, log, workers)

        async def worker_polls() -> bool:
            assert worker.poll() is None, log.read_text()
            return await polled(dev_env.client, task_queue)

        assert await eventually(worker_polls, bool, timeout=30), log.read_text()
        ticker = client.continuous("ticker")
        assert (await ticker.start(id=uid, input=Counter(n=1))).created
        assert (await ticker.trigger(uid)).triggered  # the worker ran it, over TLS

        state = await run_cli(
            "--jobs",
            REGISTRY,
            *profile,
            "--task-queue",
            task_queue,
            "--json",
            "state",
            "ticker",
            uid,
        )
        assert state.code == 0, state.err
        assert state.json()["state"] == {"n": 2}
        assert proxy.handshakes >= 3 and proxy.alpn == {"h2"}  # client, worker, CLI

        worker.send_signal(signal.SIGTERM)
        # Waited for off the event loop: the proxy on it carries the worker's last calls.
        assert await asyncio.to_thread(worker.wait, 30) == 0, log.read_text()
        await ticker.terminate(uid)


@pytest.fixture
async def mtls_proxy(dev_env: WorkflowEnvironment, pki: Pki) -> AsyncIterator[TlsProxy]:
    async with TlsProxy(pki, upstream(dev_env), require_client_cert=True) as proxy:
        yield proxy


async def test_mtls_without_a_client_certificate_says_one_is_needed(
    mtls_proxy: TlsProxy, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in tls_variables(mtls_proxy, pki, client_cert=False).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(JobsConnectionError) as caught:
        await JobsClient.connect(jobs)
    assert caught.value.address == mtls_proxy.address
    message = str(caught.value)
    assert message.startswith(f"cannot reach Temporal at {mtls_proxy.address}: ")
    assert "requires a client certificate (mTLS)" in message
    assert "TEMPORAL_TLS_CLIENT_CERT_PATH" in message

    cli = await run_cli("--jobs", REGISTRY, "status", "ticker", "u1")
    assert cli.code == 1 and len(cli.err.strip().splitlines()) == 1
    assert "requires a client certificate (mTLS)" in cli.err


async def test_a_wrong_ca_is_a_clear_connection_error(
    mtls_proxy: TlsProxy, pki: Pki, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in tls_variables(mtls_proxy, pki, client_cert=True, ca=pki.other_ca).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(JobsConnectionError) as caught:
        await JobsClient.connect(jobs)
    assert "not signed by a CA this client trusts" in str(caught.value)
    assert "TEMPORAL_TLS_SERVER_CA_CERT_PATH" in str(caught.value)

    # The worker process says the same and stops (the CLI's worker prints the error).
    worker = await run_cli("--jobs", REGISTRY, "worker")
    assert worker.code == 1
    assert f"error: cannot reach Temporal at {mtls_proxy.address}: the server's TLS " in worker.err
    assert "not signed by a CA this client trusts" in worker.err
