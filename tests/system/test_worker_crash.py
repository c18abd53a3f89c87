"""kill -9 of the worker process in the middle of handlers (SPEC §6; issue 5, point 1).

A dev server persisted to a temporary database file; the worker runs ``python worker.py`` in its
own OS process. Each kind is caught in a slow handler, the worker is killed, a new one starts:
every handler completes exactly once more, nothing of the killed attempt is kept, no event is
lost, and the killed attempt is not counted as a failed attempt.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from durable_jobs._servers import dev_server_path
from durable_jobs.client import JobsClient
from tests.integration.helpers import eventually
from tests.system.crash_jobs import Counter, Hit, jobs, starts
from tests.system.processes import address_of, start_worker, stop_processes, worker_output


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(),
        dev_server_database_filename=str(tmp_path / "temporal.db"),
    )
    yield env
    await env.shutdown()


@pytest.fixture
def workers(server: WorkflowEnvironment) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    stop_processes(started, graceful=True)


async def test_kill_9_mid_handler_then_a_new_worker_finishes_each_exactly_once(
    server: WorkflowEnvironment, workers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    task_queue = f"crash-{uuid.uuid4().hex[:8]}"
    client = JobsClient.from_client(server.client, jobs, task_queue=task_queue)
    first = start_worker(address_of(server), task_queue, tmp_path, workers)

    await client.continuous("slowRun").start(id="c", input=Counter())
    for n in (1, 2):
        await client.debounce("slowFlush").add(id="d", event=Hit(n=n))
    await client.task("slowTask").send(id="t", event=Hit(n=7))

    async def all_blocked() -> bool:
        return all(starts(tmp_path, job) for job in ("continuous", "debounce", "task"))

    assert await eventually(all_blocked, bool, timeout=30), "handlers never started"
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    # An event sent while no worker runs (a signal: Temporal keeps it) is not lost.
    await client.debounce("slowFlush").add_nowait(id="d", event=Hit(n=3))

    second = start_worker(address_of(server), task_queue, tmp_path, workers)
    c = client.continuous("slowRun")
    status = await eventually(
        lambda: c.status("c"), lambda s: s.next_run_at is not None and s.run_count == 1, timeout=60
    )
    assert (status.status, status.run_count, status.last_error) == ("running", 1, None)
    assert (await c.get_state("c")).state == Counter(n=1)  # the killed attempt kept nothing
    assert [line.split(" ", 1)[1] for line in starts(tmp_path, "continuous")] == [
        "attempt=1 run=1",
        "attempt=1 run=1",  # the crash did not use up an attempt
    ]

    d = client.debounce("slowFlush")

    async def debounce_starts() -> list[str]:
        return starts(tmp_path, "debounce")

    await eventually(debounce_starts, lambda lines: len(lines) >= 3, timeout=60)
    flushes = [line.split(" ", 1)[1] for line in starts(tmp_path, "debounce")]
    assert flushes == ["attempt=1 events=2", "attempt=1 events=2", "attempt=1 events=1"]
    assert (
        await eventually(lambda: d.status("d"), lambda s: s.status == "not_found")
    ).status == "not_found"

    t = client.task("slowTask")
    task_status = await eventually(lambda: t.status("t"), lambda s: s.status == "idle", timeout=60)
    assert (task_status.execute_count, task_status.last_error) == (1, None)
    assert (await t.get_state("t")).state == Counter(n=70)  # x10 once, not twice
    assert [line.split(" ", 1)[1] for line in starts(tmp_path, "task")] == [
        "attempt=1",
        "attempt=1",
    ]

    pids = {
        line.split(" ", 1)[0]
        for job in ("continuous", "debounce", "task")
        for line in starts(tmp_path, job)
    }
    assert pids == {str(first.pid), str(second.pid)}


async def test_two_workers_share_instances_and_one_takes_over_when_the_other_dies(
    server: WorkflowEnvironment, workers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    task_queue = f"pair-{uuid.uuid4().hex[:8]}"
    client = JobsClient.from_client(server.client, jobs, task_queue=task_queue)
    one = start_worker(address_of(server), task_queue, tmp_path, workers)
    two = start_worker(address_of(server), task_queue, tmp_path, workers)

    async def both_polling() -> bool:
        # Workflows stick to the worker that ran them first (sticky queues, eager activities),
        # so both must be polling before the instances start, or one may get them all.
        return all("Ctrl-C to stop" in worker_output(tmp_path, n) for n in (0, 1))

    assert await eventually(both_polling, bool, timeout=60), "workers never started polling"
    ids = [f"i{n}" for n in range(16)]
    ticker = client.continuous("ticker")
    for user_id in ids:
        await ticker.start(id=user_id, input=Counter())

    async def ticks() -> list[list[str]]:
        return [line.split() for line in starts(tmp_path, "ticks")]

    before = await eventually(
        ticks, lambda rows: {r[0] for r in rows} == {str(one.pid), str(two.pid)}, timeout=60
    )
    assert {r[0] for r in before} == {str(one.pid), str(two.pid)}  # spread over both

    one.send_signal(signal.SIGKILL)
    one.wait(timeout=10)
    killed_at = len(await ticks())
    after = await eventually(
        ticks,
        lambda rows: all(
            sum(1 for r in rows[killed_at:] if r[1] == user_id and r[0] == str(two.pid)) >= 2
            for user_id in ids
        ),
        timeout=90,
    )
    for user_id in ids:  # every instance carries on, on the survivor
        assert sum(1 for r in after[killed_at:] if r[1] == user_id) >= 2
    for user_id in ids:  # and no two runs of one instance ever overlapped
        intervals = sorted((float(r[3]), float(r[4])) for r in after if r[1] == user_id)
        for (_, end), (start, _) in itertools.pairwise(intervals):
            assert start >= end, (user_id, intervals)
        runs = [(int(r[2]), r[0]) for r in after if r[1] == user_id]
        # State is committed once per run, even for a run that executed twice: read the state
        # first, then the count (which only grows and already counts a run in progress).
        state = (await ticker.get_state(user_id)).state
        status = await ticker.status(user_id)
        assert state is not None and status.run_count is not None
        assert max(n for n, _ in runs) - 1 <= state.n <= status.run_count
        # A run is executed twice only when the crash hit between its end and the server
        # hearing of it (activities are at-least-once): then the first execution was on the
        # killed worker, and only one of the two was committed.
        for number in {n for n, _ in runs}:
            pids = [pid for n, pid in runs if n == number]
            assert len(pids) == 1 or (len(pids) == 2 and pids[0] == str(one.pid)), runs
