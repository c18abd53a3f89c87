"""The worker process of this repository: ``python worker.py [--jobs M:A] [--task-queue Q] [--dev]``.

It serves the example jobs unless ``--jobs package.module:attribute`` names another registry,
and runs until Ctrl-C or SIGTERM. In an application, run ``durable-jobs worker --jobs ...`` or
build a worker with ``durable_jobs.worker.build_worker`` or ``durable_jobs.DurableJobsPlugin``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from durable_jobs.client import DEFAULT_TASK_QUEUE
from durable_jobs.errors import JobsError
from durable_jobs.worker import DEV_SERVER_PORT, load_jobs, run_worker


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the worker, return the exit status."""
    parser = argparse.ArgumentParser(description="Run a durable jobs worker.")
    parser.add_argument("--jobs", default="examples:jobs", help="package.module:attribute")
    parser.add_argument("--task-queue", default=DEFAULT_TASK_QUEUE)
    parser.add_argument("--dev", action="store_true", help="start an embedded dev server")
    parser.add_argument(
        "--dev-port",
        type=int,
        default=DEV_SERVER_PORT,
        help="the embedded dev server's gRPC port (its web UI takes this + 1000)",
    )
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        jobs = load_jobs(args.jobs)
        asyncio.run(
            run_worker(
                jobs,
                task_queue=args.task_queue,
                dev=args.dev,
                metrics_port=args.metrics_port,
                dev_port=args.dev_port,
            )
        )
    except JobsError as err:
        print(f"worker: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # temporalio's bridge threads can abort the interpreter at exit (sdk-python issue 300).
    os._exit(status)
