"""``add`` (update-with-start, waits for the fold) next to ``add_nowait`` (signal-with-start).

Runs both through the real ``JobsClient`` and worker against one in-memory dev server:
1,000 events to one hot key, and 300 events to 300 new keys. Prints events/s and p50/p99.

    .venv/bin/python -m bench.add_nowait
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.testing import WorkflowEnvironment

from bench.jobs import Count, Event, deliver, fold
from bench.timing import percentiles_ms, timed
from durable_jobs import Debounce, DurableJobs
from durable_jobs._servers import dev_server_path
from durable_jobs.client import JobsClient
from durable_jobs.worker import build_worker

HOT_EVENTS = 1_000
NEW_KEYS = 300


jobs = DurableJobs(
    bench=Debounce(event=Event, state=Count, on_event=fold, execute=deliver, flush_after="1 hour")
)


def one_call(send: Callable[..., Awaitable[Any]], key: str, n: int) -> Callable[[], Awaitable[Any]]:
    return lambda: send(id=key, event=Event(n=n))


def report(call: str, scenario: str, count: int, wall: float, latencies: list[float]) -> None:
    p50, p99 = percentiles_ms(latencies)
    print(
        f"{call:<12} {scenario:<26} {count / wall:9.0f} {p50:8.1f} {p99:8.1f}",
        flush=True,
    )


async def main() -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(), dev_server_log_level="error"
    )
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"
    client = JobsClient.from_client(env.client, jobs, task_queue=task_queue)
    h = client.debounce("bench")
    print(f"{'call':<12} {'scenario':<26} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    async with build_worker(env.client, jobs, task_queue=task_queue):
        for name, concurrency in (("add", 8), ("add_nowait", 50)):
            send = h.add if name == "add" else h.add_nowait
            key = f"hot-{name}-{uuid.uuid4().hex[:6]}"
            calls = [one_call(send, key, n) for n in range(HOT_EVENTS)]
            wall, latencies = await timed(calls, concurrency)
            report(name, f"one hot key (c={concurrency})", HOT_EVENTS, wall, latencies)
            keys = [f"new-{name}-{uuid.uuid4().hex[:8]}" for _ in range(NEW_KEYS)]
            calls = [one_call(send, k, 1) for k in keys]
            wall, latencies = await timed(calls, 50)
            report(name, "new keys (c=50)", NEW_KEYS, wall, latencies)
    await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)
