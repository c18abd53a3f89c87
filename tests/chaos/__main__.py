"""``python -m tests.chaos``: a chaos run of any length (``make chaos``); see ``harness.py``.

Prints a summary and exits 0 when every acknowledged call was applied exactly once and in
order and no instance was left stuck, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from tests.chaos.calls import RetryPolicy
from tests.chaos.faults import FaultRates
from tests.chaos.harness import ChaosConfig, run_chaos
from tests.chaos.traffic import TrafficPlan


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="of traffic and faults")
    parser.add_argument("--settle-minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=None, help="default: from the clock")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--burners", type=int, default=1, help="CPU burner processes")
    parser.add_argument("--producers", type=int, default=6, help="per kind")
    parser.add_argument("--keys", type=int, default=16, help="per kind, besides the hot one")
    parser.add_argument("--kill-every", type=float, default=20.0, help="mean seconds; 0: never")
    parser.add_argument("--restart-every", type=float, default=90.0, help="mean seconds; 0: never")
    parser.add_argument("--workflow-task-faults", type=float, default=0.05, help="share")
    parser.add_argument(
        "--activity-faults", type=float, default=0.03, help="share, before and after each"
    )
    parser.add_argument(
        "--timeout", type=float, default=1.5, help="seconds, a call's first attempt"
    )
    parser.add_argument(
        "--plain-calls",
        action="store_true",
        help="no idempotency keys or timeout= even if the library has them",
    )
    parser.add_argument("--jobs", default="tests.chaos.jobs:jobs", help="the workers' registry")
    parser.add_argument("--dir", type=Path, help="keep the run's files here (default: a temp dir)")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else int(time.time())
    with tempfile.TemporaryDirectory(prefix="chaos-") as scratch:
        config = ChaosConfig(
            directory=args.dir or Path(scratch),
            seconds=args.minutes * 60,
            settle_seconds=args.settle_minutes * 60,
            workers=args.workers,
            burners=args.burners,
            kill_every=args.kill_every,
            restart_every=args.restart_every,
            rates=FaultRates(
                workflow_task=args.workflow_task_faults,
                activity_before=args.activity_faults,
                activity_after=args.activity_faults,
            ),
            traffic=TrafficPlan(producers=args.producers, keys=args.keys),
            policy=RetryPolicy(
                timeout=args.timeout, max_timeout=max(args.timeout, RetryPolicy.max_timeout)
            ),
            plain_calls=args.plain_calls,
            seed=seed,
            jobs=args.jobs,
            log=lambda line: print(line, flush=True),
        )
        result = await run_chaos(config)
    print(result.summary(), flush=True)
    return 0 if result.report.ok else 1


if __name__ == "__main__":
    # An update call cut off by a caller's timeout leaves a cancelled future inside temporalio,
    # and asyncio logs each one; the summary counts those timeouts.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    status = asyncio.run(main(parse()))
    sys.stdout.flush()
    sys.stderr.flush()
    # temporalio's bridge threads can abort the interpreter at exit (sdk-python issue 300).
    os._exit(status)
