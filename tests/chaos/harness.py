"""The chaos run: traffic under every fault at once, then a calm phase, then the checker.

1. A dev server on a database file, with continue-as-new forced often (``LOWERED_LIMITS``),
   and worker processes (``tests/chaos/worker.py``) that fail workflow tasks and activity
   attempts at random (``faults.py``).
2. The producers (``traffic.py``) run for ``seconds``; meanwhile worker processes are killed
   with SIGKILL and replaced, the dev server is killed and restarted on its database file and
   port, CPU burners compete for the cores, and callers time out and retry.
3. Faults stop (the workers' off switch, the burners killed, server and workers left up); new
   calls stop; calls in progress are retried until acknowledged. Every instance must reach its
   final state within ``settle_seconds``: every acknowledged item committed, nothing waiting.
4. The checker compares every call with committed state.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from durable_jobs import JobsClient
from durable_jobs._servers import dev_server_search_attribute_args
from tests.chaos.calls import CallApi, RetryPolicy
from tests.chaos.checker import CallRecord, Observed, Report, check
from tests.chaos.faults import FaultRates, read_fault_logs
from tests.chaos.jobs import batcher, counter, expanded, jobs, ledger, read_sink
from tests.chaos.traffic import Producers, TrafficPlan
from tests.chaos.worker import READY_LINE
from tests.system.processes import (
    free_port,
    start_server,
    start_worker,
    stop_processes,
    worker_output,
)

LOWERED_LIMITS = {
    # Continue-as-new suggested after a few dozen calls, by event count and by history size,
    # with room below the hard limits (hit, they terminate the run and lose the instance).
    "limit.historyCount.suggestContinueAsNew": 150,
    "limit.historyCount.warn": 4_000,
    "limit.historyCount.error": 5_000,
    "limit.historySize.suggestContinueAsNew": 256 * 1024,
    "limit.historySize.warn": 2 * 1024 * 1024,
    "limit.historySize.error": 8 * 1024 * 1024,
    "history.maxTotalUpdates": 200,
}

CHAOS_RATES = FaultRates(workflow_task=0.05, activity_before=0.03, activity_after=0.03)


@dataclass(frozen=True)
class ChaosConfig:
    directory: Path
    seconds: float = 60.0
    """How long traffic and faults run."""
    settle_seconds: float = 120.0
    """After the faults stop: the deadline for every instance to reach its final state."""
    workers: int = 2
    burners: int = 1
    kill_every: float = 12.0
    """Mean seconds between SIGKILLs of a worker process (0: none)."""
    restart_every: float = 30.0
    """Mean seconds between dev-server restarts (0: none)."""
    rates: FaultRates = field(default_factory=lambda: CHAOS_RATES)
    traffic: TrafficPlan = field(default_factory=TrafficPlan)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    plain_calls: bool = False
    """Use plain calls even if the library has the idempotency API (shows what it prevents)."""
    seed: int = 0
    jobs: str = "tests.chaos.jobs:jobs"
    """The registry the workers serve: ``tests.chaos.jobs`` or a variant with the same names."""
    log: Callable[[str], None] = print


@dataclass
class ChaosResult:
    report: Report
    api: CallApi
    faults: Counter[str]
    phases: dict[str, float]
    """Seconds spent per phase."""
    continued_as_new: int
    final_state: str
    config: ChaosConfig

    def summary(self) -> str:
        c = self.config
        f = self.faults
        wft = {k: n for k, n in f.items() if k.startswith("workflow_task.")}
        exits = {k.rsplit(".", 1)[1]: n for k, n in f.items() if k.startswith("worker.exit_")}
        lines = [
            f"chaos: {c.seconds:g} s of faults (seed {c.seed}), {c.workers} workers, "
            f"{c.traffic.producers} producers per kind, {c.traffic.keys + 1} keys per kind",
            f"client API: {self.api.describe()}",
            *self.report.lines()[:-1],
            "faults:",
            f"  workflow tasks failed {sum(wft.values())} "
            f"({', '.join(f'{k[14:]} {n}' for k, n in sorted(wft.items())) or 'none'})",
            f"  activity attempts failed {f['activity.before']} before and "
            f"{f['activity.after']} after the handler ran",
            f"  worker processes killed {f['worker.killed']}, exited by themselves "
            f"{f['worker.exited']}{_exit_statuses(exits)}, "
            f"started {f['worker.started']}",
            f"  dev-server restarts {f['server.restarted']}",
            f"  caller timeouts {f['caller.timeout']}, connection errors "
            f"{f['caller.connection']}, other retried errors {f['caller.other']}",
            f"  continue-as-new {self.continued_as_new}",
            f"  CPU burners {c.burners} for {self.phases.get('chaos', 0):.0f} s",
            f"after the faults: {self.final_state}",
            "phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.phases.items()),
            self.report.lines()[-1],
        ]
        return "\n".join(lines)


def _exit_statuses(exits: dict[str, int]) -> str:
    if not exits:
        return ""
    return " (" + ", ".join(f"{n} with status {status}" for status, n in exits.items()) + ")"


class WorkerPool:
    """``config.workers`` worker processes; killed or dead ones are replaced while the server
    is up."""

    def __init__(
        self, config: ChaosConfig, address: str, task_queue: str, faults: Counter[str]
    ) -> None:
        self._config = config
        self._address = address
        self._task_queue = task_queue
        self._faults = faults
        self.processes: list[subprocess.Popen[bytes]] = []
        self._alive: list[subprocess.Popen[bytes]] = []
        self._killed: set[int] = set()
        self.off_switch = config.directory / "faults.off"
        self.server_up = True

    def start(self) -> subprocess.Popen[bytes]:
        number = len(self.processes)
        env = {
            "CHAOS_FAULTS": self._config.rates.to_json(),
            "CHAOS_SEED": str(self._config.seed * 1000 + number),
            "CHAOS_OFF_SWITCH": str(self.off_switch),
        }
        command = [sys.executable, "-m", "tests.chaos.worker", "--jobs", self._config.jobs]
        process = start_worker(
            self._address,
            self._task_queue,
            self._config.directory,
            self.processes,
            command=command,
            env=env,
        )
        self._alive.append(process)
        self._faults["worker.started"] += 1
        return process

    async def wait_ready(self, timeout: float = 90.0) -> None:
        """Until every live worker polls (each prints ``READY_LINE``)."""
        deadline = time.monotonic() + timeout
        numbers = [self.processes.index(p) for p in self._alive]
        while not all(READY_LINE in worker_output(self._config.directory, n) for n in numbers):
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers {numbers} never polled; see worker-N.out")
            await asyncio.sleep(0.1)

    def kill_one(self, rng: random.Random) -> None:
        running = [p for p in self._alive if p.poll() is None]
        if running:
            victim = rng.choice(running)
            victim.kill()
            victim.wait()
            self._killed.add(victim.pid)
            self._faults["worker.killed"] += 1

    def replace_dead(self) -> None:
        for process in list(self._alive):
            if process.poll() is not None:
                self._alive.remove(process)
                if process.pid not in self._killed:
                    # Started while the server was down, or temporalio's exit crash.
                    self._faults["worker.exited"] += 1
                    self._faults[f"worker.exit_status.{process.returncode}"] += 1
        if self.server_up:
            while len(self._alive) < self._config.workers:
                self.start()

    def stop(self) -> None:
        stop_processes(self.processes, graceful=False)


class Server:
    """The dev server on its database file and port, restartable."""

    def __init__(self, config: ChaosConfig) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._database = config.directory / "temporal.db"
        self._args = [
            *(
                arg
                for key, value in LOWERED_LIMITS.items()
                for arg in ("--dynamic-config-value", f"{key}={value}")
            ),
            *dev_server_search_attribute_args(),
        ]
        self._env: WorkflowEnvironment | None = None

    async def start(self) -> None:
        # The server warns of every failed workflow task, and most are injected ones.
        self._env = await start_server(self._database, self.port, self._args, log_level="error")

    async def stop(self) -> None:
        if self._env is not None:
            env, self._env = self._env, None
            await env.shutdown()


@contextlib.contextmanager
def burners(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` processes that each keep a core busy, for as long as the block runs."""
    started = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield started
    finally:
        stop_processes(started, graceful=False)


async def inject_faults(
    config: ChaosConfig,
    server: Server,
    pool: WorkerPool,
    faults: Counter[str],
    *,
    stop_at: float,
    rng: random.Random,
) -> None:
    """Kill workers and restart the server at random until ``stop_at``; leave both up."""
    loop = asyncio.get_running_loop()

    def next_time(every: float) -> float:
        # Jittered but bounded, so that a short run surely gets each kind of fault.
        return loop.time() + every * rng.uniform(0.5, 1.5) if every > 0 else float("inf")

    next_kill, next_restart = next_time(config.kill_every), next_time(config.restart_every)
    while loop.time() < stop_at:
        now = loop.time()
        if now >= next_kill:
            pool.kill_one(rng)
            next_kill = next_time(config.kill_every)
        if now >= next_restart:
            pool.server_up = False
            await server.stop()
            await asyncio.sleep(rng.uniform(0.5, 3.0))  # the outage
            await server.start()
            pool.server_up = True
            faults["server.restarted"] += 1
            next_restart = next_time(config.restart_every)
        pool.replace_dead()
        await asyncio.sleep(0.25)
    pool.replace_dead()


async def observe(client: JobsClient, plan: TrafficPlan, directory: Path) -> Observed:
    """Committed state of every instance, and what is not in its final state yet."""
    observed = Observed(debounce_batches=read_sink(directory))
    task, batches, runs = client.task(ledger), client.debounce(batcher), client.continuous(counter)
    for user_id in plan.user_ids():
        try:
            state = (await task.get_state(user_id)).state
            if state is not None:
                observed.task_ledgers[user_id] = state.applied
                observed.task_executes[user_id] = state.executes
                status = await task.status(user_id)
                if status.status not in ("idle", "not_found"):
                    observed.unsettled[task.instance_id(user_id)] = f"status {status.status}"
            pending = await batches.status(user_id)
            if pending.status == "debouncing":
                observed.unsettled[batches.instance_id(user_id)] = (
                    f"{pending.event_count} events waiting, last error {pending.last_error}"
                )
            continuous = (await runs.get_state(user_id)).state
            observed.continuous_runs[user_id] = 0 if continuous is None else continuous.runs
        except Exception as err:
            observed.unsettled[f"{user_id} (all kinds)"] = f"{type(err).__name__}: {err}"
    return observed


def missing(calls: list[CallRecord], observed: Observed) -> dict[str, str]:
    """Instances that have not yet applied every acknowledged call."""
    have: dict[tuple[str, str], set[tuple[str, int]]] = {}
    for user_id, ranges in observed.task_ledgers.items():
        have["task", user_id] = {(p, s) for p, mine in ranges.items() for s in expanded(mine)}
    for batch in observed.debounce_batches:
        have.setdefault(("debounce", batch.user_id), set()).update(
            (p, s) for p, mine in batch.applied.items() for s in expanded(mine)
        )
    runs = {
        **{("task", u): n for u, n in observed.task_executes.items()},
        **{("continuous", u): n for u, n in observed.continuous_runs.items()},
    }
    short: Counter[tuple[str, str]] = Counter()
    triggers: Counter[tuple[str, str]] = Counter()
    for call in calls:
        place: tuple[str, str] = (call.kind, call.user_id)
        if not call.acked:
            continue
        if call.op in ("add", "add_nowait", "send", "send_nowait"):
            if (call.producer, call.seq) not in have.get(place, set()):
                short[place] += 1
        elif call.op.startswith("trigger") and call.triggered:
            triggers[place] += 1
    for counted, wanted in triggers.items():
        if runs.get(counted, 0) < wanted:
            short[counted] += wanted - runs.get(counted, 0)
    return {
        f"{kind}:{user_id}": f"{n} acknowledged calls not applied"
        for (kind, user_id), n in short.items()
    }


@dataclass
class Settled:
    """The last observation of the calm phase, and whether it was final."""

    observed: Observed
    after: float | None
    """Seconds until every instance was final and stayed so; ``None``: not by the deadline."""
    short: dict[str, str]
    """Instances still short of acknowledged calls at the end (the checker counts them lost)."""

    def describe(self, deadline: float) -> str:
        if self.after is not None:
            return f"every instance final after {self.after:.1f} s"
        return (
            f"NOT every instance final within {deadline:.0f} s: {len(self.short)} short of "
            f"acknowledged calls, {len(self.observed.unsettled)} not idle"
        )


async def settle(
    client: JobsClient,
    calls: list[CallRecord],
    plan: TrafficPlan,
    directory: Path,
    *,
    deadline: float,
    stable_for: float = 3.0,
) -> Settled:
    """Poll until every instance is in its final state (every acknowledged call applied,
    nothing waiting) and its state stays the same for ``stable_for`` seconds (a late
    duplicate would show up meanwhile), or until ``deadline``."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    stable_since: float | None = None
    previous: Observed | None = None
    while True:
        observed = await observe(client, plan, directory)
        short = missing(calls, observed)
        now = loop.time()
        same = previous is not None and _digest(previous) == _digest(observed)
        if observed.unsettled or short:
            stable_since = None
        elif stable_since is None or not same:
            stable_since = now
        if stable_since is not None and now - stable_since >= stable_for:
            return Settled(observed, now - started, short)
        if now > deadline:
            return Settled(observed, None, short)
        previous = observed
        await asyncio.sleep(0.5)


def _digest(observed: Observed) -> tuple[object, ...]:
    return (
        sorted(
            (u, sorted((p, tuple(map(tuple, r))) for p, r in rs.items()))
            for u, rs in observed.task_ledgers.items()
        ),
        sorted(observed.task_executes.items()),
        len(observed.debounce_batches),
        sorted(observed.continuous_runs.items()),
    )


async def closed_badly(client: JobsClient, task_queue: str) -> dict[str, str]:
    """Runs of the task queue that ended failed, terminated or timed out, with their reason."""
    statuses = " OR ".join(f'ExecutionStatus="{s}"' for s in ("Failed", "Terminated", "TimedOut"))
    found: dict[str, str] = {}
    async for execution in client.temporal_client.list_workflows(
        f'TaskQueue="{task_queue}" AND ({statuses})'
    ):
        status = execution.status.name if execution.status is not None else "?"
        found[f"{execution.id} run {execution.run_id}"] = f"closed {status}"
    return found


@contextlib.asynccontextmanager
async def _phase(phases: dict[str, float], name: str) -> AsyncIterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        phases[name] = time.monotonic() - started


async def run_chaos(config: ChaosConfig) -> ChaosResult:
    """One chaos run in ``config.directory``; see the module docstring."""
    config.directory.mkdir(parents=True, exist_ok=True)
    api = CallApi.detect(plain=config.plain_calls)
    faults: Counter[str] = Counter()
    phases: dict[str, float] = {}
    task_queue = f"chaos-{uuid.uuid4().hex[:8]}"
    server = Server(config)
    pool = WorkerPool(config, server.address, task_queue, faults)
    config.log(f"chaos: {config.directory}, task queue {task_queue}, client API: {api.describe()}")
    await server.start()
    try:
        async with _phase(phases, "setup"):
            client = await JobsClient.connect(
                jobs,
                address=server.address,
                task_queue=task_queue,
                worker_patience=timedelta(seconds=30),
            )
            for _ in range(config.workers):
                pool.start()
            await pool.wait_ready()
            producers = Producers(
                client,
                config.traffic,
                api=api,
                policy=config.policy,
                nonce=uuid.uuid4().hex[:8],
                seed=config.seed,
            )
            await producers.start_counters(give_up_at=asyncio.get_running_loop().time() + 60)
        settled = await _chaos_then_calm(config, server, pool, producers, faults, phases)
        continued = (
            await client.temporal_client.count_workflows(
                f'TaskQueue="{task_queue}" AND ExecutionStatus="ContinuedAsNew"'
            )
        ).count
        # An injected fault must fail a task, never a run; a history limit hit terminates one.
        settled.observed.unsettled.update(await closed_badly(client, task_queue))
    finally:
        pool.stop()
        await server.stop()
    faults.update(read_fault_logs(sorted(config.directory.glob("faults-*.log"))))
    errors = producers.traffic.errors
    faults.update(_caller_faults(errors.retried))
    report = check(
        producers.traffic.calls,
        settled.observed,
        caller_errors=errors.retried,
        unexpected_errors=errors.unexpected,
    )
    return ChaosResult(
        report=report,
        api=api,
        faults=faults,
        phases=phases,
        continued_as_new=continued,
        final_state=settled.describe(config.settle_seconds),
        config=config,
    )


async def _chaos_then_calm(
    config: ChaosConfig,
    server: Server,
    pool: WorkerPool,
    producers: Producers,
    faults: Counter[str],
    phases: dict[str, float],
) -> Settled:
    """Traffic under faults for ``config.seconds``; then the faults and new calls stop, the
    calls in progress finish, and the instances settle (``config.settle_seconds`` for both)."""
    loop = asyncio.get_running_loop()
    calls = producers.traffic.calls
    stop_at = loop.time() + config.seconds
    give_up_at = stop_at + config.settle_seconds
    traffic = asyncio.create_task(producers.run(stop_at=stop_at, give_up_at=give_up_at))
    progress = asyncio.create_task(_progress(config.log, calls, faults, config.directory))
    try:
        async with _phase(phases, "chaos"):
            with burners(config.burners):
                try:
                    await inject_faults(
                        config,
                        server,
                        pool,
                        faults,
                        stop_at=stop_at,
                        rng=random.Random(config.seed),
                    )
                finally:
                    pool.off_switch.touch()
        async with _phase(phases, "calls finishing"):
            await traffic
        async with _phase(phases, "settle"):
            return await settle(
                producers.client, calls, config.traffic, config.directory, deadline=give_up_at
            )
    finally:
        progress.cancel()
        traffic.cancel()


def _caller_faults(retried: Counter[str]) -> Counter[str]:
    """The retried caller errors as faults: timeouts, connection errors, the rest."""
    counts: Counter[str] = Counter()
    for what, n in retried.items():
        if "timeout" in what.lower():
            counts["caller.timeout"] += n
        elif what == "JobsConnectionError":
            counts["caller.connection"] += n
        else:
            counts["caller.other"] += n
    return counts


async def _progress(
    log: Callable[[str], None], calls: list[CallRecord], faults: Counter[str], directory: Path
) -> None:
    started = time.monotonic()
    while True:
        await asyncio.sleep(10)
        injected = read_fault_logs(sorted(directory.glob("faults-*.log")))
        log(
            f"  {time.monotonic() - started:5.0f} s: {len(calls)} calls, "
            f"{sum(c.acked for c in calls)} acknowledged, {sum(injected.values())} injected "
            f"faults, {faults['worker.killed']} workers killed, "
            f"{faults['server.restarted']} server restarts"
        )
