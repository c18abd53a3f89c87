"""The worker process of one side: the library's worker or the baseline's, until SIGTERM.

    python -m bench.worker_process --side durable --address 127.0.0.1:7233 \
        --task-queue Q --ready-file FILE [--max-cached-workflows 10000]

The orchestrator starts a fresh one for every group and side, so its CPU time and memory are
that side's alone. Both sides get the same worker options, pollers included: autoscaling
(``PollerBehaviorAutoscaling``), as Temporal recommends for production. The baseline's
workflows run in Temporal's default sandbox, as hand-written workflows do; the library's are
defined with ``sandboxed=False`` (docs, Design decisions).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import get_args

from temporalio.client import Client
from temporalio.worker import PollerBehaviorAutoscaling, Worker

from bench import jobs as bench_jobs
from bench.baseline import continuous, debounce, task
from bench.sides import SideName
from durable_jobs.worker import build_worker

MAX_CACHED_WORKFLOWS = 10_000
"""Above the live instances of any group at scale 1, so none is evicted and replayed."""


def baseline_worker(client: Client, task_queue: str, max_cached_workflows: int) -> Worker:
    """The hand-written workflows and activities, in Temporal's default sandbox."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[debounce.DebounceBaseline, task.TaskBaseline, continuous.ContinuousBaseline],
        activities=[debounce.flush, task.on_event, task.execute, continuous.tick],
        max_cached_workflows=max_cached_workflows,
        workflow_task_poller_behavior=PollerBehaviorAutoscaling(),
        activity_task_poller_behavior=PollerBehaviorAutoscaling(),
    )


async def serve(
    side: str, address: str, task_queue: str, ready_file: Path, max_cached: int
) -> None:
    """Run the side's worker until SIGTERM or SIGINT; touch ``ready_file`` once polling."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    client = await Client.connect(address)
    if side != "baseline":  # "unpublished" is the library too, with other jobs
        worker = build_worker(
            client,
            bench_jobs.jobs,
            task_queue=task_queue,
            max_cached_workflows=max_cached,
            workflow_task_poller_behavior=PollerBehaviorAutoscaling(),
            activity_task_poller_behavior=PollerBehaviorAutoscaling(),
        )
    else:
        worker = baseline_worker(client, task_queue, max_cached)
    async with worker:
        ready_file.write_text(str(os.getpid()))
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one side's bench worker.")
    parser.add_argument("--side", choices=get_args(SideName), required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--max-cached-workflows", type=int, default=MAX_CACHED_WORKFLOWS)
    args = parser.parse_args(argv)
    asyncio.run(
        serve(args.side, args.address, args.task_queue, args.ready_file, args.max_cached_workflows)
    )
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # temporalio's bridge threads can abort the interpreter at exit (sdk-python issue 300).
    os._exit(code)
