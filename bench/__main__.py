"""``make bench``: the library against hand-written ``temporalio`` baselines, in one run.

    .venv/bin/python -m bench [--scale 1.0] [--rounds 2] [--only GROUP] [--out bench/results.json]

Starts an in-memory dev server (the installed ``temporal`` binary; nothing is downloaded and
nothing leaves this machine), then for every scenario group and each side (``durable``: the
library; ``baseline``: ``bench/baseline``) a fresh worker process and a load process
(``bench/load.py``). Prints one table and writes the results as JSON.

Each group runs ``--rounds`` times per side, back to back and in mirrored order (library,
baseline, baseline, library; the next group the other way round), and every number in the table
is the median over the rounds (``bench/report.py``). The machine's speed drifts over minutes:
one pass per side put the two sides minutes apart and moved ratios by up to 2x between runs.

Groups (``--only``): ``debounce`` (add to 1,000 new keys, again to the same keys, 1,000 adds
to one hot key; history events per add; worker memory per live instance), ``task`` (send to
1,000 new keys, again to the same keys; then 1,000 alarms falling due at 25/s and their
lateness; history events per send and per alarm; memory; 500 sends to one hot key, 8 in
flight), ``continuous`` (start 1,000, then ``status`` and ``get_state`` of each; memory; 500
triggers of one instance, 8 in flight), ``ticks`` (100 instances ``every`` 5 s, 10 runs
each: lateness of each run; history events per run). ``--scale`` multiplies the counts, not
the rates. Everything else is in ``bench/load.py``. ``--only scale`` runs ``bench/scale.py``
instead (1,000 to 50,000 live instances; its options after ``--``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import load
from bench.load import GROUPS
from bench.report import combine, table
from bench.worker_process import MAX_CACHED_WORKFLOWS
from durable_jobs._servers import dev_server_path, dev_server_search_attribute_args

SIDES = ("durable", "baseline")
RESULTS = Path(__file__).parent / "results.json"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Return once ``port`` accepts connections; raise if ``process`` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the dev server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the dev server did not listen on {port} within {timeout:g} s")


MATCHING_RPS = 100_000
"""The dev server's matching rate limit in the bench (its default, 1,200/s, throttles queries)."""


def start_server(logs: Path, search_attributes: bool) -> tuple[subprocess.Popen[bytes], str]:
    """An in-memory dev server without UI on free local ports; its output goes to a file.

    With ``search_attributes`` it has the job search attributes, as ``make run`` does, and the
    library keeps ``JobStatus`` current, which is part of its cost.
    """
    port = free_port()
    command = [
        dev_server_path(), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
        "--port", str(port), "--http-port", str(free_port()), "--metrics-port", str(free_port()),
        "--log-level", "error",
        *(dev_server_search_attribute_args() if search_attributes else []),
        # As temporalio's WorkflowEnvironment.start_local: no version check over the network.
        "--dynamic-config-value", "frontend.enableServerVersionCheck=false",
        "--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true",
        "--dynamic-config-value", "frontend.enableUpdateWorkflowExecutionAsyncAccepted=true",
        # The dev server's matching service allows 1,200 calls/s, and each query costs three
        # (the query, the sticky poll that takes it, the answer): past ~400 queries/s it
        # refuses some, the SDK backs off 1 s, and 50 queries in flight stall together, on
        # either side. A throttle of this server's, not a cost of either side's code.
        "--dynamic-config-value", f"matching.rps={MATCHING_RPS}",
    ]  # fmt: skip
    with open(logs / "server.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    wait_for_port(port, process)
    return process, f"127.0.0.1:{port}"


def start_worker(
    side: str, address: str, task_queue: str, logs: Path, name: str
) -> subprocess.Popen[bytes]:
    """A worker process for ``side``; returns once it polls ``task_queue``."""
    ready = logs / f"{name}.ready"
    command = [sys.executable, "-m", "bench.worker_process", "--side", side]
    command += ["--address", address, "--task-queue", task_queue, "--ready-file", str(ready)]
    with open(logs / f"{name}.worker.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(
                f"the {side} worker did not start; see {logs / f'{name}.worker.log'}"
            )
        time.sleep(0.1)
    return process


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def machine_meta(elapsed: float, load_before: float) -> dict[str, Any]:
    """What a results file says of the run and the machine it ran on."""
    return {
        "seconds": round(elapsed, 1),
        "cpus": os.cpu_count(),
        "loadavg_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "python": platform.python_version(),
        "temporalio": version("temporalio"),
        "dev_server": dev_server_path(),
    }


def side_order(group: str, group_index: int, rounds: int) -> list[tuple[str, int]]:
    """The passes of one group, as (side, round): mirrored, so drift favours no side.

    Group 0 runs library, baseline, baseline, library; group 1 the other way round. With one
    round, the side that goes first alternates between groups. The Task and Continuous groups
    have a third side, the library with ``publish_status=False`` (its new-instance rows only):
    library, baseline, unpublished, then the other way round.
    """
    group_sides = (*SIDES, "unpublished") if group in load.UNPUBLISHED_GROUPS else SIDES
    order: list[tuple[str, int]] = []
    for round_ in range(rounds):
        sides = group_sides if (group_index + round_) % 2 == 0 else group_sides[::-1]
        order += [(side, round_) for side in sides]
    return order


def run_group(
    group: str,
    side: str,
    address: str,
    server_pid: int,
    scale: float,
    logs: Path,
    round_: int = 0,
) -> dict[str, Any]:
    """One group against one side, with a fresh worker; the load's JSON result.

    The load process is judged by the result it wrote, not by its exit status (temporalio
    can abort the interpreter at exit).
    """
    name = f"{group}-{side}-{round_ + 1}"
    task_queue = f"bench-{name}-{uuid.uuid4().hex[:6]}"
    out = logs / f"{name}.json"
    worker = start_worker(side, address, task_queue, logs, name)
    try:
        command = [sys.executable, "-m", "bench.load", "--group", group, "--side", side]
        command += ["--address", address, "--task-queue", task_queue, "--out", str(out)]
        command += ["--server-pid", str(server_pid), "--worker-pid", str(worker.pid)]
        command += ["--scale", str(scale)]
        subprocess.run(command, stdout=subprocess.DEVNULL, timeout=1800)
    finally:
        stop(worker)
    if not out.exists():
        return {
            "ok": False,
            "group": group,
            "side": side,
            "error": "the load process wrote no result",
        }
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="1.0 = 1,000 instances per scenario"
    )
    parser.add_argument(
        "--only",
        choices=[*GROUPS, "scale"],
        help="run one scenario group, or the scale run (bench/scale.py, its own options after --)",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="passes per group and side, in mirrored order"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep-logs", action="store_true", help="keep the server and worker logs")
    parser.add_argument(
        "--without-search-attributes",
        action="store_true",
        help="a server without JobKind/JobName/JobStatus (what they cost)",
    )
    args, rest = parser.parse_known_args(argv)
    if args.only == "scale":
        from bench import scale

        return scale.main([arg for arg in rest if arg != "--"])
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    groups = [args.only] if args.only else list(GROUPS)
    logs = Path(tempfile.mkdtemp(prefix="durable-jobs-bench-"))
    load_before = os.getloadavg()
    started = time.monotonic()
    server, address = start_server(logs, not args.without_search_attributes)
    parts: list[dict[str, Any]] = []
    try:
        for i, group in enumerate(groups):
            for side, round_ in side_order(group, i, args.rounds):
                print(f"{group} / {side} / round {round_ + 1} ...", file=sys.stderr, flush=True)
                part = run_group(group, side, address, server.pid, args.scale, logs, round_)
                if not part.get("ok"):
                    print(
                        f"{group} / {side} FAILED:\n{part.get('error')}",
                        file=sys.stderr,
                        flush=True,
                    )
                parts.append(part)
    finally:
        stop(server)
    elapsed = time.monotonic() - started
    entries = combine([p for p in parts if p.get("ok")])
    results = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "scale": args.scale,
            "rounds": args.rounds,
            "groups": groups,
            **machine_meta(elapsed, load_before[0]),
            "search_attributes": not args.without_search_attributes,
            "max_cached_workflows": MAX_CACHED_WORKFLOWS,
            "load": {
                "keys": load.KEYS,
                "concurrency": load.CONCURRENCY,
                "hot_adds": load.HOT_ADDS,
                "hot_concurrency": load.HOT_CONCURRENCY,
                "hot_calls": load.HOT_CALLS,
                "alarm_rate_per_s": load.ALARM_RATE,
                "tickers": load.TICKERS,
                "ticks_per_ticker": load.TICKS,
            },
            "notes": "ratios are durable/baseline; cpu columns are server/worker CPU seconds",
        },
        "scenarios": entries,
        "failures": [p for p in parts if not p.get("ok")],
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(entries))
    print(
        f"\nscale {args.scale:g}, {elapsed:.0f} s, load average {load_before[0]:.1f} before and "
        f"{os.getloadavg()[0]:.1f} after; results in {args.out}"
    )
    failed = bool(results["failures"])
    if failed or args.keep_logs:
        print(f"logs in {logs}", file=sys.stderr)
    else:
        shutil.rmtree(logs, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
