"""The OS processes of the system tests: a dev server on a database file, worker processes.

Shared by the crash, restart and metrics tests and by the chaos harness (``tests/chaos``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from durable_jobs._servers import dev_server_path

ROOT = Path(__file__).resolve().parents[2]
"""The repository root: worker processes run from here, with it on ``PYTHONPATH``."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def address_of(server: WorkflowEnvironment) -> str:
    return server.client.service_client.config.target_host


async def start_server(
    database: Path, port: int, extra_args: Sequence[str] = (), *, log_level: str = "warn"
) -> WorkflowEnvironment:
    """A dev server persisted to ``database`` on ``port``: stop it and start it again on the
    same two, and it carries on where it was (its ``shutdown`` is a kill)."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(),
        dev_server_database_filename=str(database),
        port=port,
        dev_server_extra_args=list(extra_args),
        dev_server_log_level=log_level,
    )


def start_worker(
    address: str,
    task_queue: str,
    directory: Path,
    started: list[subprocess.Popen[bytes]],
    *,
    jobs: str = "tests.system.crash_jobs:jobs",
    command: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """A worker process for ``jobs`` on ``task_queue``, its output in ``directory/worker-N.out``.

    By default it is the repository's ``worker.py``; ``command`` replaces that (its
    ``--task-queue`` is added). The jobs find ``directory`` in ``$JOBS_TEST_DIR``.
    """
    environment = {
        **os.environ,
        "TEMPORAL_ADDRESS": address,
        "JOBS_TEST_DIR": str(directory),
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    argv = [sys.executable, str(ROOT / "worker.py"), "--jobs", jobs] if command is None else command
    log = (directory / f"worker-{len(started)}.out").open("wb")
    process = subprocess.Popen(
        [*argv, "--task-queue", task_queue],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    log.close()  # the child has its own copy
    started.append(process)
    return process


def worker_output(directory: Path, number: int) -> str:
    """What worker ``number`` (in start order) has written so far."""
    path = directory / f"worker-{number}.out"
    return path.read_text(errors="replace") if path.exists() else ""


def stop_processes(processes: Iterable[subprocess.Popen[bytes]], *, graceful: bool) -> None:
    """Stop the processes that still run: SIGTERM and a wait when ``graceful``, else SIGKILL."""
    for process in processes:
        if process.poll() is not None:
            continue
        if graceful:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
                continue
            except subprocess.TimeoutExpired:
                pass
        process.kill()
        process.wait(timeout=10)
