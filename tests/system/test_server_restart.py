"""The dev server stops and restarts on the same database file while instances wait on timers
(issue 5, point 2): afterwards schedules, debounce deadlines and task alarms fire as if nothing
had happened, each once, and the worker (a separate process) reconnects by itself."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_jobs.client import JobsClient
from tests.integration.helpers import eventually
from tests.system.crash_jobs import Counter, Hit, jobs, starts
from tests.system.processes import (
    address_of,
    free_port,
    start_server,
    start_worker,
    stop_processes,
)


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    stop_processes(started, graceful=False)


async def test_timers_fire_after_a_server_restart(
    tmp_path: Path, workers: list[subprocess.Popen[bytes]]
) -> None:
    database, port = tmp_path / "temporal.db", free_port()
    task_queue = f"restart-{uuid.uuid4().hex[:8]}"
    server = await start_server(database, port)
    start_worker(address_of(server), task_queue, tmp_path, workers)
    client = JobsClient.from_client(server.client, jobs, task_queue=task_queue)
    await client.continuous("beat").start(id="b", input=Counter())
    await client.debounce("later").add(id="l", event=Hit(n=1))
    await client.task("alarm").send(id="a", event=Hit(n=1))
    await server.shutdown()  # every instance is waiting on a timer due in about 4 s
    await asyncio.sleep(1)

    server = await start_server(database, port)
    try:
        client = JobsClient.from_client(server.client, jobs, task_queue=task_queue)

        async def fired() -> dict[str, int]:
            return {job: len(starts(tmp_path, job)) for job in ("beat", "flushed", "ring")}

        counts = await eventually(fired, lambda c: all(c.values()), timeout=60)
        assert counts == {"beat": 1, "flushed": 1, "ring": 1}
        # The flushed instance ends once its last step events are out too.
        later = await eventually(
            lambda: client.debounce("later").status("l"),
            lambda s: s.status == "not_found",
            timeout=30,
        )
        assert later.status == "not_found"
        # The handlers logged their runs from their activities; the instances record them in
        # the workflow task after.
        task = await eventually(
            lambda: client.task("alarm").status("a"), lambda s: s.execute_count == 1, timeout=30
        )
        assert (task.execute_count, task.status) == (1, "idle")
        beat = await eventually(
            lambda: client.continuous("beat").status("b"),
            lambda s: s.run_count >= 1 and s.next_run_at is not None,
            timeout=30,
        )
        assert beat.run_count >= 1 and beat.next_run_at is not None
    finally:
        await server.shutdown()
