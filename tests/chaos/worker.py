"""A chaos worker process: ``python -m tests.chaos.worker --task-queue Q [--jobs M:A]``.

The repository's ``worker.py`` with a :class:`~tests.chaos.faults.FaultInjector` on the worker.
From the environment: ``TEMPORAL_ADDRESS``; ``JOBS_TEST_DIR``, where the jobs' sink and this
process's fault log (``faults-<pid>.log``) go; ``CHAOS_FAULTS`` (``FaultRates`` as JSON, none
when unset); ``CHAOS_SEED``; ``CHAOS_OFF_SWITCH``, a file whose existence stops the faults.
Prints ``chaos worker polling`` once it polls; SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from durable_jobs.client import JobsClient
from durable_jobs.errors import JobsError
from durable_jobs.worker import load_jobs, run_worker
from tests.chaos.faults import FaultInjector, FaultRates

READY_LINE = "chaos worker polling"


def fault_log_path(directory: Path, pid: int) -> Path:
    return directory / f"faults-{pid}.log"


def injector_from_environment() -> FaultInjector:
    directory = Path(os.environ["JOBS_TEST_DIR"])
    rates = FaultRates.from_json(os.environ.get("CHAOS_FAULTS", "{}"))
    seed = os.environ.get("CHAOS_SEED")
    switch = os.environ.get("CHAOS_OFF_SWITCH")
    return FaultInjector(
        rates,
        seed=None if seed is None else int(seed),
        log_path=fault_log_path(directory, os.getpid()),
        off_switch=None if switch is None else Path(switch),
    )


async def serve(jobs_spec: str, task_queue: str) -> None:
    async def polling(client: JobsClient) -> None:
        print(READY_LINE, flush=True)

    await run_worker(
        load_jobs(jobs_spec),
        task_queue=task_queue,
        then=polling,
        interceptors=[injector_from_environment()],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="Run a durable jobs worker with faults.")
    parser.add_argument("--jobs", default="tests.chaos.jobs:jobs")
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(serve(args.jobs, args.task_queue))
    except JobsError as err:
        print(f"chaos worker: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # temporalio's bridge threads can abort the interpreter at exit (sdk-python issue 300).
    os._exit(status)
