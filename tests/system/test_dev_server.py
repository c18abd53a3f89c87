"""The embedded dev server of ``make run`` and ``worker --dev`` (issue 17, point 4).

Its banner is printed before the caller goes on (it used to land inside the tour's first
section), and a port another server holds is refused with a message that names it and the way
out, instead of "address already in use" and carrying on against the other server.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_jobs._servers import DevServer
from durable_jobs.errors import JobsError
from tests.system.test_cli import run_cli
from tests.system.test_server_restart import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something listens on, as an earlier ``make run`` would."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


async def test_the_banner_is_printed_before_start_returns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    server = await DevServer.start(port=port, ui_port=None, database=None)
    try:
        banner = capsys.readouterr().out
        assert f"Temporal Server:      localhost:{port}" in banner
        assert "Temporal Metrics:" in banner
        with pytest.raises(
            JobsError, match=rf"port {port} \(the dev server's gRPC port\) is in use"
        ):
            await DevServer.start(
                port=port, ui_port=None, database=None, other_ports="--dev-port N"
            )
    finally:
        await server.stop()


async def test_make_run_refuses_a_port_in_use_and_says_what_to_do(taken_port: int) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "examples.demo",
        "--port",
        str(taken_port),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    assert out == b""  # nothing started, no tour against the other server
    message = err.decode()
    assert message.startswith(
        f"make run: port {taken_port} (the dev server's gRPC port) is in use on localhost"
    )
    assert "another Temporal dev server" in message and "make run DEV_PORT=7300" in message


async def test_worker_dev_refuses_a_port_in_use(taken_port: int) -> None:
    result = await run_cli(
        "--jobs", "tests.system.test_cli:jobs", "worker", "--dev", "--dev-port", str(taken_port)
    )
    assert result.code == 1
    assert f"error: port {taken_port} (the dev server's gRPC port) is in use" in result.err
    assert "--dev-port N" in result.err
