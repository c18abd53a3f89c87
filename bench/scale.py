"""Scale run: how the library's cost grows with the number of live Task instances holding timers.

    .venv/bin/python -m bench.scale [--counts 1000,10000,50000] [--workers 1,2] \
        [--out bench/scale-results.json]

``make bench`` keeps every group at about 1,000 instances, all in the worker's sticky cache.
This run asks what happens beyond that: on ONE in-memory dev server (``bench.__main__``'s
``start_server``, with the job search attributes) it grows a population of Task instances of
the bench job ``alarm``, each holding a far alarm (``Arm(due_at=None)``: an hour out), and at
each count measures alarms falling due among them.

The population is cumulative: it grows 1,000 -> 10,000 -> 50,000 (``send_nowait``,
signal-with-start, 100 callers) rather than restarting per count. Growth happens with one
worker process only. At each count N:

1. ``workers=1``: M = min(500, N // 2) live instances spread evenly over the population (so
   with N above ``max_cached_workflows`` most are not in the worker's sticky cache) are armed
   with ``send(id, Arm(due_at=t0 + i / 25))``, ``t0`` after the last arm is expected to be
   done, so the alarms fall due at 25/s; lateness = ``fired_at - due_at`` from ``get_state``.
2. ``workers=2``: a second, fresh worker process starts on the same task queue and the same is
   measured on a disjoint set of M instances; the second worker is stopped before the
   population grows again (later measured sets avoid the instances it may have run, whose
   sticky queue is gone). This is what adding a worker to a loaded one buys: instances the
   first worker ran stay on its sticky queue, evicted or not, so the second one gets only what
   reaches the shared queue (in the full run it used no CPU at all; ``worker_cpu_s_each``).

Measured sets are re-armed far afterwards, so every instance holds a timer again. Per
(N, workers) it reports alarm lateness, the workers' RSS and its growth per live instance
over the baseline of each idle fresh worker (after 5 warm-up instances, so the imports are not
counted), history events per fired alarm (a sample described before and after), worker and
server CPU per fired alarm during the alarm window, the arm pass (where replay happens: a
``send`` to an evicted instance replays its history first), and how many armed instances had
to be replayed, estimated with an LRU model of the first worker's cache (what it touched, in
order). The worker keeps ``bench/worker_process.py``'s default ``max_cached_workflows``
(10,000), so the eviction and replay cost beyond the cache is part of the numbers.

Prints a markdown table and where one worker's alarm lateness p99 first reaches 1 s, and
writes JSON. ``lateness_max_ms_by_second`` shows whether late alarms came in one burst (a
stall: a CPython full collection of a worker holding 10,000 workflows takes over a second).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import jobs as bench_jobs
from bench.__main__ import machine_meta, start_server, start_worker, stop
from bench.load import connect
from bench.proc_stats import cpu_seconds, rss_kb
from bench.timing import timed
from bench.worker_process import MAX_CACHED_WORKFLOWS
from durable_jobs.client import JobsClient
from durable_jobs.client.task import TaskHandle
from durable_jobs.errors import WorkerUnavailableError

RESULTS = Path(__file__).parent / "scale-results.json"

CREATE_CONCURRENCY = 100
"""Callers of ``send_nowait`` while the population grows."""

ARM_CONCURRENCY = 50
"""Callers of ``send`` while a measured set is armed (as ``make bench``)."""

MEASURED = 500
"""Alarms measured per (N, workers); fewer when N is small (N // 2, so two disjoint sets)."""

ALARM_RATE = 25.0
"""Measured alarms fall due at this rate (per second)."""

HISTORY_SAMPLE = 20
"""Measured instances whose history lengths give events per fired alarm."""

WARMUP = 5
"""Instances a fresh worker runs before its baseline RSS is read."""

WARMUP_SECOND = 20
"""New instances made when the second worker starts (about half reach it): its warm-up."""

FIRST_ARM_RATE = 20.0
"""Assumed ``send`` rate (per second) before one was measured: sets the first lead time."""

LATE_SECONDS = 1.0
"""One worker "stops keeping up" at the first N whose lateness p99 reaches this."""


class CacheModel:
    """An LRU model of one worker's sticky cache: which instances it ran, most recent last."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._keys: OrderedDict[int, None] = OrderedDict()

    def __contains__(self, index: object) -> bool:
        return index in self._keys

    def touch(self, indices: Iterable[int]) -> None:
        """The worker ran these instances, in this order."""
        for i in indices:
            self._keys[i] = None
            self._keys.move_to_end(i)
        while len(self._keys) > self.size:
            self._keys.popitem(last=False)


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p99 and max of ``values`` (seconds), in milliseconds; ``None`` without data."""
    if len(values) < 2:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    cuts = statistics.quantiles(values, n=100)
    return {
        "p50_ms": round(cuts[49] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def by_second(points: list[tuple[float, float]]) -> list[int | None]:
    """The worst lateness (ms) among alarms due in each second of the window: stalls show."""
    worst: dict[int, float] = {}
    for offset, lateness in points:
        second = int(offset)
        worst[second] = max(worst.get(second, lateness), lateness)
    seconds = range(max(worst, default=-1) + 1)
    return [round(worst[s] * 1000) if s in worst else None for s in seconds]


def spread(n: int, m: int, phase: float, avoid: set[int]) -> list[int]:
    """``m`` indices spread evenly over ``range(n)``, at ``phase`` of a stride, none in ``avoid``."""
    stride = n / m
    chosen: list[int] = []
    taken = set(avoid)
    for i in range(m):
        j = int(i * stride + phase * stride) % n
        while j in taken:
            j = (j + 1) % n
        taken.add(j)
        chosen.append(j)
    return chosen


def log(message: str) -> None:
    """A progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Scale:
    """The population, the worker processes and the measurements of one scale run."""

    def __init__(
        self, address: str, server_pid: int, task_queue: str, logs: Path, jobs: JobsClient
    ) -> None:
        self.address = address
        self.server_pid = server_pid
        self.task_queue = task_queue
        self.logs = logs
        self.jobs = jobs
        self.alarm: TaskHandle[Any, Any] = jobs.task("alarm")
        self.tag = uuid.uuid4().hex[:6]
        self.population = 0
        """Instances ``pop-{tag}-0 .. population-1`` exist."""
        self.extra = 0
        """Warm-up instances, also live."""
        self.workers: list[subprocess.Popen[bytes]] = []
        self.baseline_kb: dict[int, int] = {}
        """Each worker's RSS when idle after its warm-up, by pid."""
        self.cache = CacheModel(MAX_CACHED_WORKFLOWS)
        self.second_touched: set[int] = set()
        """Population instances the second worker may have run (its sticky queue is gone)."""
        self.arm_rate = FIRST_ARM_RATE
        self.busy_queries = 0
        """Queries that timed out (``WorkerUnavailableError``) behind a backlog and were retried."""
        self.rows: list[dict[str, Any]] = []
        self.growth: list[dict[str, Any]] = []
        self.warnings: list[str] = []

    @property
    def live(self) -> int:
        return self.population + self.extra

    def key(self, index: int) -> str:
        return f"pop-{self.tag}-{index}"

    def pids(self) -> list[int]:
        return [w.pid for w in self.workers]

    def worker_cpu(self) -> list[float]:
        return [cpu_seconds(pid) for pid in self.pids()]

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        log(f"WARNING: {message}")

    # --- waiting ----------------------------------------------------------------------------

    async def quiet(self, timeout: float, what: str) -> bool:
        """Wait until the workers use (almost) no CPU for half a second; warn at the deadline."""
        deadline = time.monotonic() + timeout
        last = sum(self.worker_cpu())
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            now = sum(self.worker_cpu())
            if now - last < 0.03 * len(self.workers):
                return True
            last = now
        self.warn(f"workers still busy {timeout:.0f} s after {what}")
        return False

    async def until(
        self, check: Callable[[], Awaitable[bool]], timeout: float, what: str, every: float = 1.0
    ) -> bool:
        """Poll ``check`` until it holds; warn at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            if await check():
                return True
            if time.monotonic() > deadline:
                self.warn(f"{what}: not within {timeout:.0f} s")
                return False
            await asyncio.sleep(every)

    # --- workers ----------------------------------------------------------------------------

    async def add_worker(self, name: str, warm_keys: list[str]) -> int:
        """Start a worker process, warm it with new instances, return its idle RSS (KiB)."""
        worker = await asyncio.to_thread(
            start_worker, "durable", self.address, self.task_queue, self.logs, name
        )
        self.workers.append(worker)
        fresh_kb = rss_kb(worker.pid)
        await self.call_all([self._far(k) for k in warm_keys], CREATE_CONCURRENCY, nowait=True)
        self.extra += len(warm_keys)
        await self.until(self._all_exist, 60, f"warm-up of {name}")
        await self.quiet(60, f"warm-up of {name}")
        self.baseline_kb[worker.pid] = rss_kb(worker.pid)
        log(f"{name} pid {worker.pid}: RSS {fresh_kb} KiB fresh, {rss_kb(worker.pid)} warm")
        return fresh_kb

    def stop_worker(self, worker: subprocess.Popen[bytes]) -> None:
        stop(worker)
        self.workers.remove(worker)

    # --- calls ------------------------------------------------------------------------------

    def _far(self, key: str) -> tuple[str, Any]:
        return key, bench_jobs.Arm(due_at=None)

    async def call_all(
        self, calls: list[tuple[str, Any]], concurrency: int, *, nowait: bool
    ) -> tuple[float, list[float], list[str]]:
        """Send each ``(key, event)`` (``send_nowait`` or ``send``); wall, latencies, errors."""
        errors: list[str] = []

        def one(key: str, event: Any) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                for attempt in range(3):
                    try:
                        if nowait:
                            await self.alarm.send_nowait(id=key, event=event)
                        else:
                            await self.alarm.send(id=key, event=event)
                        return
                    except Exception as err:
                        if attempt == 2:
                            errors.append(f"{key}: {type(err).__name__}: {err}")
                        await asyncio.sleep(0.5)

            return run

        wall, latencies = await timed([one(k, e) for k, e in calls], concurrency)
        return wall, latencies, errors

    async def _all_exist(self) -> bool:
        try:
            return await self.alarm.count() >= self.live
        except Exception as err:  # visibility can lag or time out under load: poll again
            log(f"  count: {type(err).__name__}: {err}")
            return False

    async def _armed(self, keys: list[str]) -> bool:
        """Each key's instance has run its event: state with an alarm (not yet if it is busy)."""
        for key in keys:
            try:
                state = (await self.alarm.get_state(key)).state
            except WorkerUnavailableError:
                # A query waits behind the instance's queued workflow tasks; under a backlog
                # that is longer than the client's worker_patience, though a worker polls.
                self.busy_queries += 1
                return False
            if state is None or state.due_at is None:
                return False
        return True

    async def history_lengths(self, keys: list[str]) -> list[int]:
        lengths = []
        for key in keys:
            handle = self.jobs.temporal_client.get_workflow_handle(self.alarm.instance_id(key))
            description = await handle.describe()
            lengths.append(description.raw_description.workflow_execution_info.history_length)
        return lengths

    # --- the population ---------------------------------------------------------------------

    async def grow(self, n: int) -> None:
        """Make instances ``population .. n-1``, each with a far alarm; wait until all run."""
        first = self.population
        new = n - first
        if new <= 0:
            return
        log(f"growing the population {first} -> {n} (send_nowait, c={CREATE_CONCURRENCY})")
        cpu = cpu_seconds(self.server_pid), sum(self.worker_cpu())
        started = time.monotonic()
        calls = [self._far(self.key(i)) for i in range(first, n)]
        wall, latencies, errors = await self.call_all(calls, CREATE_CONCURRENCY, nowait=True)
        self.population = n
        log(f"  {new} sent in {wall:.1f} s ({new / wall:.0f}/s), {len(errors)} errors")
        await self.until(self._all_exist, 120, f"{n} instances counted by visibility", every=2.0)
        # send_nowait returns before the worker runs the event: wait for the backlog to drain.
        await self.quiet(max(120.0, new / 5.0), f"growing to {n}")
        last = [self.key(i) for i in range(max(first, n - 10), n)]
        drain = max(120.0, new / 5.0)
        await self.until(lambda: self._armed(last), drain, f"the last of {n} armed", every=2.0)
        await self.quiet(drain, f"growing to {n}")
        settled = time.monotonic() - started
        self.cache.touch(range(first, n))
        row = {
            "n": n,
            "new": new,
            "send_seconds": round(wall, 1),
            "send_per_s": round(new / wall, 1),
            "settled_seconds": round(settled, 1),
            "settled_per_s": round(new / settled, 1),
            "send_p50_ms": round(statistics.median(latencies) * 1000, 1),
            "errors": len(errors),
            "first_error": errors[0] if errors else None,
            "server_cpu_s": round(cpu_seconds(self.server_pid) - cpu[0], 1),
            "worker_cpu_s": round(sum(self.worker_cpu()) - cpu[1], 1),
            "worker_rss_kb": sum(rss_kb(p) for p in self.pids()),
        }
        self.growth.append(row)
        log(f"  settled in {settled:.0f} s ({new / settled:.0f}/s); {row}")

    # --- one measurement --------------------------------------------------------------------

    async def measure(self, n: int, indices: list[int]) -> dict[str, Any]:
        """Arm ``indices`` to fall due at ``ALARM_RATE`` after all are armed; measure them."""
        workers = len(self.workers)
        m = len(indices)
        keys = [self.key(i) for i in indices]
        sample = keys[:: max(1, m // HISTORY_SAMPLE)][:HISTORY_SAMPLE]
        replayed = sum(1 for i in indices if i not in self.cache)
        await self.quiet(60, "before arming")
        rss_before = sum(rss_kb(p) for p in self.pids())
        before_lengths = await self.history_lengths(sample)

        lead = 2.0 + 2.0 * m / self.arm_rate
        first_due = time.time() + lead
        due = [first_due + i / ALARM_RATE for i in range(m)]
        log(
            f"N={n} workers={workers}: arming {m} ({replayed} estimated replays), lead {lead:.0f} s"
        )
        arm_started = time.time()
        cpu0 = cpu_seconds(self.server_pid), self.worker_cpu()
        late: list[int] = []
        errors: list[str] = []

        def arm(j: int) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                try:
                    await self.alarm.send(id=keys[j], event=bench_jobs.Arm(due_at=due[j]))
                except Exception as err:
                    errors.append(f"{keys[j]}: {type(err).__name__}: {err}")
                if time.time() > due[j]:
                    late.append(j)

            return run

        arm_wall, arm_latencies = await timed([arm(j) for j in range(m)], ARM_CONCURRENCY)
        cpu1 = cpu_seconds(self.server_pid), self.worker_cpu()
        self.arm_rate = m / arm_wall
        self._touch(indices)
        await self.quiet(max(1.0, first_due - time.time() - 1.0), "arming")
        armed_lengths = await self.history_lengths(sample)

        await asyncio.sleep(max(0.0, first_due - time.time()))
        cpu2 = cpu_seconds(self.server_pid), self.worker_cpu()
        await asyncio.sleep(max(0.0, due[-1] + 1.0 - time.time()))
        await self.quiet(60, "the alarm window")
        cpu3 = cpu_seconds(self.server_pid), self.worker_cpu()

        fired = await self._fired(keys, due, arm_started, deadline=time.monotonic() + 60)
        lateness = [fired[k] - due[j] for j, k in enumerate(keys) if k in fired]
        fired_lengths = await self.history_lengths(sample)
        rss_after = {p: rss_kb(p) for p in self.pids()}
        growth_kb = sum(rss_after[p] - self.baseline_kb[p] for p in rss_after)
        n_fired = len(lateness)

        def per_alarm(seconds: float) -> float | None:
            return round(seconds * 1000 / n_fired, 1) if n_fired else None

        worker_window = sum(cpu3[1]) - sum(cpu2[1])
        row: dict[str, Any] = {
            "n": n,
            "workers": workers,
            "live": self.live,
            "max_cached_workflows": MAX_CACHED_WORKFLOWS,
            "measured": m,
            "fired": n_fired,
            "missing": m - n_fired,
            "armed_late": len(late),
            "arm_errors": len(errors),
            "first_error": errors[0] if errors else None,
            "replayed_estimate": replayed,
            "lateness": percentiles(lateness),
            "lateness_max_ms_by_second": by_second(
                [(due[j] - first_due, fired[k] - due[j]) for j, k in enumerate(keys) if k in fired]
            ),
            "loadavg_1m": round(os.getloadavg()[0], 2),
            "arm": {
                "per_s": round(m / arm_wall, 1),
                **{k: v for k, v in percentiles(arm_latencies).items() if k != "max_ms"},
                "worker_cpu_ms_per_arm": round((sum(cpu1[1]) - sum(cpu0[1])) * 1000 / m, 1),
                "server_cpu_ms_per_arm": round((cpu1[0] - cpu0[0]) * 1000 / m, 1),
                "lead_s": round(lead, 1),
            },
            "worker_rss_kb": sum(rss_after.values()),
            "worker_rss_kb_each": list(rss_after.values()),
            "worker_rss_before_arming_kb": rss_before,
            "baseline_rss_kb": sum(self.baseline_kb[p] for p in rss_after),
            "rss_kb_per_instance": round(growth_kb / self.live, 2),
            "history_events_per_alarm": round(
                (sum(fired_lengths) - sum(armed_lengths)) / len(sample), 2
            ),
            "history_events_per_arm": round(
                (sum(armed_lengths) - sum(before_lengths)) / len(sample), 2
            ),
            "window_s": round(due[-1] - due[0] + 1.0, 1),
            "worker_cpu_ms_per_alarm": per_alarm(worker_window),
            "worker_cpu_s_each": [round(b - a, 2) for a, b in zip(cpu2[1], cpu3[1], strict=True)],
            "server_cpu_ms_per_alarm": per_alarm(cpu3[0] - cpu2[0]),
        }
        self.rows.append(row)
        lat = row["lateness"]
        log(
            f"  lateness p50 {lat['p50_ms']} p99 {lat['p99_ms']} max {lat['max_ms']} ms, "
            f"fired {n_fired}/{m}, armed late {len(late)}, arm {row['arm']['per_s']}/s, "
            f"RSS {row['worker_rss_kb']} KiB ({row['rss_kb_per_instance']} KiB/instance)"
        )
        # Put the far alarm back, so every instance holds a timer again.
        _, _, rearm_errors = await self.call_all(
            [self._far(k) for k in keys], CREATE_CONCURRENCY, nowait=True
        )
        if rearm_errors:
            self.warn(f"{len(rearm_errors)} re-arms failed: {rearm_errors[0]}")
        await self.quiet(120, "re-arming far")
        await self.until(lambda: self._armed(keys[-5:]), 60, "re-arming far", every=1.0)
        await self.quiet(60, "re-arming far")
        return row

    def _touch(self, indices: list[int]) -> None:
        """What the first worker ran of ``indices``: all, or with two workers the cached ones."""
        if len(self.workers) == 1:
            self.cache.touch(indices)
        else:
            self.cache.touch(i for i in indices if i in self.cache)
            self.second_touched.update(i for i in indices if i not in self.cache)

    async def _fired(
        self, keys: list[str], due: list[float], armed_at: float, deadline: float
    ) -> dict[str, float]:
        """``fired_at`` of each key whose alarm (due at ``due``) ran, polled until ``deadline``."""
        fired: dict[str, float] = {}
        due_of = dict(zip(keys, due, strict=True))
        pending = list(keys)
        while pending:

            async def one(key: str) -> None:
                try:
                    state = (await self.alarm.get_state(key)).state
                except Exception as err:  # read again on the next round
                    self.busy_queries += 1
                    if not isinstance(err, WorkerUnavailableError):
                        self.warn(f"get_state {key}: {type(err).__name__}: {err}")
                    return
                if (
                    state is not None
                    and state.fired_at is not None
                    and state.fired_at >= armed_at
                    and state.due_at is not None
                    and abs(state.due_at - due_of[key]) < 0.01
                ):
                    fired[key] = state.fired_at

            await timed([functools.partial(one, k) for k in pending], ARM_CONCURRENCY)
            pending = [k for k in pending if k not in fired]
            if not pending or time.monotonic() > deadline:
                break
            await asyncio.sleep(2.0)
        return fired


def crossing(rows: list[dict[str, Any]]) -> str:
    """Where one worker first fails to keep alarm lateness p99 under ``LATE_SECONDS``."""
    for row in sorted((r for r in rows if r["workers"] == 1), key=lambda r: r["n"]):
        p99 = row["lateness"]["p99_ms"]
        if row["missing"] or p99 is None or p99 >= LATE_SECONDS * 1000:
            why = f"{row['missing']} alarms missing" if row["missing"] else f"p99 {p99} ms"
            return f"one worker's alarm lateness p99 reaches {LATE_SECONDS:g} s at N = {row['n']:,} ({why})"
    return f"one worker keeps alarm lateness p99 under {LATE_SECONDS:g} s: not crossed within the counts run"


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def table(growth: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    """The markdown tables: the measurements, then the population's growth."""
    lines = [
        "| N | workers | cache | replayed (est.) | lateness p50 / p99 / max ms | fired | "
        "worker RSS MiB | KiB / instance | events / alarm | worker CPU ms / alarm | "
        "server CPU ms / alarm | arm /s (p99 ms) | worker CPU ms / arm |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lat, arm = r["lateness"], r["arm"]
        late = f" ({r['armed_late']} armed late)" if r["armed_late"] else ""
        lines.append(
            f"| {r['n']:,} | {r['workers']} | {r['max_cached_workflows']:,} | "
            f"{r['replayed_estimate']} / {r['measured']} | "
            f"{_num(lat['p50_ms'])} / {_num(lat['p99_ms'])} / {_num(lat['max_ms'])} | "
            f"{r['fired']}/{r['measured']}{late} | "
            f"{r['worker_rss_kb'] / 1024:,.0f} | {_num(r['rss_kb_per_instance'], 1)} | "
            f"{_num(r['history_events_per_alarm'], 1)} | {_num(r['worker_cpu_ms_per_alarm'], 1)} | "
            f"{_num(r['server_cpu_ms_per_alarm'], 1)} | {_num(arm['per_s'], 1)} "
            f"({_num(arm['p99_ms'])}) | {_num(arm['worker_cpu_ms_per_arm'], 1)} |"
        )
    lines += [
        "",
        "| population | new | sent /s | settled /s | server CPU s | worker CPU s | worker RSS MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for g in growth:
        lines.append(
            f"| {g['n']:,} | {g['new']:,} | {g['send_per_s']} | {g['settled_per_s']} | "
            f"{g['server_cpu_s']} | {g['worker_cpu_s']} | {g['worker_rss_kb'] / 1024:,.0f} |"
        )
    return "\n".join(lines)


async def run(counts: list[int], worker_counts: list[int], logs: Path) -> dict[str, Any]:
    """Start the server and the first worker, grow and measure at each count; the results."""
    server, address = start_server(logs, search_attributes=True)
    scale: Scale | None = None
    try:
        client = await connect(address)
        task_queue = f"bench-scale-{uuid.uuid4().hex[:6]}"
        jobs = JobsClient.from_client(client, bench_jobs.jobs, task_queue=task_queue)
        scale = Scale(address, server.pid, task_queue, logs, jobs)
        fresh_kb = await scale.add_worker(
            "worker1", [f"warm1-{scale.tag}-{j}" for j in range(WARMUP)]
        )
        first = scale.workers[0]
        for n in counts:
            await scale.grow(n)
            m = min(MEASURED, n // 2)
            if 1 in worker_counts:
                await scale.measure(n, spread(n, m, 0.0, scale.second_touched))
            if 2 in worker_counts:
                warm = [f"warm2-{scale.tag}-{n}-{j}" for j in range(WARMUP_SECOND)]
                await scale.add_worker(f"worker2-{n}", warm)
                second = scale.workers[-1]
                await scale.measure(n, spread(n, m, 0.5, set(spread(n, m, 0.0, set()))))
                scale.stop_worker(second)
        return {
            "rows": scale.rows,
            "growth": scale.growth,
            "warnings": scale.warnings,
            "busy_queries": scale.busy_queries,
            "worker1_rss_fresh_kb": fresh_kb,
            "worker1_rss_baseline_kb": scale.baseline_kb.get(first.pid),
            "live": scale.live,
        }
    finally:
        for worker in list(scale.workers if scale else []):
            stop(worker)
        stop(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--counts", default="1000,10000,50000", help="population sizes, rising")
    parser.add_argument("--workers", default="1,2", help="worker processes to measure: 1, 2 or 1,2")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep-logs", action="store_true", help="keep the server/worker logs")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    if counts != sorted(counts) or min(counts) < 4 or not set(worker_counts) <= {1, 2}:
        parser.error("--counts must rise (each at least 4); --workers is 1, 2 or 1,2")
    logs = Path(tempfile.mkdtemp(prefix="durable-jobs-scale-"))
    load_before = os.getloadavg()
    started = time.monotonic()
    try:
        result = asyncio.run(run(counts, worker_counts, logs))
    except Exception:
        traceback.print_exc()
        print(f"logs in {logs}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    verdict = crossing(result["rows"])
    output = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "counts": counts,
            "workers": worker_counts,
            **machine_meta(elapsed, load_before[0]),
            "search_attributes": True,
            "max_cached_workflows": MAX_CACHED_WORKFLOWS,
            "measured_per_row": MEASURED,
            "alarm_rate_per_s": ALARM_RATE,
            "create_concurrency": CREATE_CONCURRENCY,
            "arm_concurrency": ARM_CONCURRENCY,
            "notes": (
                "cumulative population, grown with one worker; workers=2 adds a fresh second "
                "worker on the same task queue after the one-worker row, stopped before the "
                "next growth; RSS per instance = sum over workers of RSS minus each worker's "
                "idle warm baseline, divided by live instances; replayed is an LRU-model "
                "estimate of armed instances not in the first worker's cache"
            ),
        },
        "crossing": verdict,
        **result,
    }
    args.out.write_text(json.dumps(output, indent=2) + "\n")
    print(table(result["growth"], result["rows"]))
    print(f"\n{verdict}.")
    print(
        f"\n{result['live']:,} live instances at the end; {elapsed:.0f} s; load average "
        f"{load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after; results in {args.out}"
    )
    if result["busy_queries"]:
        print(
            f"\n{result['busy_queries']} get_state calls raised WorkerUnavailableError behind "
            "a backlog (a worker was polling) and were retried"
        )
    if result["warnings"]:
        print("\nwarnings:\n" + "\n".join(f"- {w}" for w in result["warnings"]))
    if args.keep_logs:
        print(f"logs in {logs}", file=sys.stderr)
    else:
        shutil.rmtree(logs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # temporalio's bridge threads can abort the interpreter at exit (sdk-python issue 300).
    os._exit(code)
