"""The load process: one scenario group against one side, measurements written as JSON.

    python -m bench.load --group debounce --side durable --address 127.0.0.1:7233 \
        --task-queue Q --server-pid P --worker-pid W [--scale 1.0] --out FILE

Each measured pass records its wall time, the latency of every call, errors, and the CPU
seconds the server and worker processes used meanwhile (``/proc``). Keys are fresh for every
run, so groups and sides never share an instance.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, get_args

from temporalio.client import Client

from bench.jobs import TICK_EVERY_SECONDS
from bench.proc_stats import cpu_seconds, rss_kb
from bench.sides import Kind, Side, SideName, make_side
from bench.timing import percentiles_ms, timed

GROUPS = ("debounce", "task", "continuous", "ticks")
"""Scenario groups, in the order the orchestrator runs them."""

UNPUBLISHED_GROUPS = ("task", "continuous")
"""The groups the ``unpublished`` side runs (its new-instance rows only)."""

KEYS = 1_000
"""Instances per group at scale 1 (new keys, alarms, Continuous starts)."""

CONCURRENCY = 50
"""Calls in flight for every pass over many keys."""

HOT_ADDS = 1_000
HOT_CONCURRENCY = 8
"""One hot key: the library's client keeps 8 updates in flight per instance; so does the load."""

CROSSING_CALLS = 100
CROSSING_ROUNDS = 20
"""Calls per round, and the most rounds, that take a Debounce instance past a continue-as-new."""

HOT_CALLS = 500
"""Waiting Task sends to one key, and triggers of one Continuous instance, at ``HOT_CONCURRENCY``.

Each runs a handler, so a hot key runs at the rate of handler activities, not of updates."""

UNPUBLISHED_ALARM_LEAD = 5.0
"""Seconds from arming the sample of unpublished Task keys to their first alarm."""

ALARM_RATE = 25.0
"""Task alarms fall due at this rate (per second), one after another, at every scale."""

TICKERS = 100
"""Continuous ``every`` instances, at every scale: 20 runs/s at ``TICK_EVERY_SECONDS`` = 5."""

TICKS = 10
"""Runs measured after each ticker's first, at scale 1."""

WARMUP = 5
"""Uncounted calls on extra keys before a group, so imports and caches are warm."""

HISTORY_SAMPLE = 20
"""Instances whose history lengths are read to count events per operation."""

Call = Callable[[int], Awaitable[Any]]


class Load:
    """Runs the passes of one group against one side and collects rows."""

    def __init__(
        self, side: Side, side_name: SideName, server_pid: int, worker_pid: int, scale: float
    ) -> None:
        self.side = side
        self.side_name = side_name
        self.server_pid = server_pid
        self.worker_pid = worker_pid
        self.scale = scale
        self.tag = uuid.uuid4().hex[:8]
        self.rows: list[dict[str, Any]] = []

    def count(self, base: int, minimum: int = 10) -> int:
        return max(minimum, round(base * self.scale))

    def keys(self, prefix: str, count: int) -> list[str]:
        return [f"{prefix}-{self.tag}-{i}" for i in range(count)]

    def cpu(self) -> tuple[float, float, float]:
        """CPU seconds so far of the server, the worker and this process."""
        return cpu_seconds(self.server_pid), cpu_seconds(self.worker_pid), time.process_time()

    def add(
        self,
        row_id: str,
        label: str,
        kind: str,
        cpu: tuple[float, float, float] | None = None,
        **fields: Any,
    ) -> None:
        row: dict[str, Any] = {"id": row_id, "label": label, "kind": kind}
        row.update({k: None if v != v else v for k, v in fields.items()})  # NaN is not JSON
        if cpu is not None:
            now = self.cpu()
            row["server_cpu_s"] = round(now[0] - cpu[0], 2)
            row["worker_cpu_s"] = round(now[1] - cpu[1], 2)
            row["client_cpu_s"] = round(now[2] - cpu[2], 2)
        self.rows.append(row)
        print(f"  {self.side_name:<8} {label}: {_brief(row)}", file=sys.stderr, flush=True)

    async def quiet(self, timeout: float = 30.0) -> None:
        """Wait until the worker has (almost) nothing left to do, so passes do not overlap."""
        deadline = time.monotonic() + timeout
        last = cpu_seconds(self.worker_pid)
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            now = cpu_seconds(self.worker_pid)
            if now - last < 0.03:
                return
            last = now

    async def run_calls(
        self, call: Call, count: int, concurrency: int
    ) -> tuple[float, list[float], list[str]]:
        """Run ``call(0..count-1)`` at ``concurrency``; a failed call counts as an error."""
        errors: list[str] = []

        def one(i: int) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                try:
                    await call(i)
                except Exception as err:
                    errors.append(f"{type(err).__name__}: {err}")

            return run

        wall, latencies = await timed([one(i) for i in range(count)], concurrency)
        return wall, latencies, errors

    async def paced(self, call: Call, count: int, rate: float) -> list[str]:
        """Start ``call(i)`` at ``i / rate`` seconds from now, whatever the others are doing."""
        errors: list[str] = []
        start = time.monotonic()

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            try:
                await call(i)
            except Exception as err:
                errors.append(f"{type(err).__name__}: {err}")

        await asyncio.gather(*(one(i) for i in range(count)))
        return errors

    async def throughput(
        self, row_id: str, label: str, call: Call, count: int, concurrency: int
    ) -> float:
        """A measured pass; returns its rate (calls/s)."""
        await self.quiet()
        cpu = self.cpu()
        wall, latencies, errors = await self.run_calls(call, count, concurrency)
        p50, p99 = percentiles_ms(latencies)
        self.add(
            row_id,
            label,
            "throughput",
            cpu,
            n=count,
            seconds=round(wall, 2),
            ops_per_s=round(count / wall, 1),
            p50_ms=round(p50, 1),
            p99_ms=round(p99, 1),
            errors=len(errors),
            first_error=errors[0] if errors else None,
        )
        return count / wall

    async def memory(self, row_id: str, label: str, before_kb: int, instances: int) -> None:
        """Worker RSS growth per instance made live (and cached) since ``before_kb``."""
        await self.quiet()
        after_kb = rss_kb(self.worker_pid)
        self.add(
            row_id,
            label,
            "value",
            unit="KB/instance",
            value=round((after_kb - before_kb) / instances, 1),
            n=instances,
            rss_before_kb=before_kb,
            rss_after_kb=after_kb,
        )

    def lateness(
        self,
        row_id: str,
        label: str,
        lateness_s: list[float],
        cpu: tuple[tuple[float, float, float], tuple[float, float, float]],
        **fields: Any,
    ) -> None:
        """A row of how late handlers ran (seconds in, ms out); ``cpu``: the window's ends."""
        p50, p99 = percentiles_ms(lateness_s) if len(lateness_s) > 1 else (float("nan"),) * 2
        start, end = cpu
        self.add(
            row_id,
            label,
            "lateness",
            n=len(lateness_s),
            p50_ms=round(p50, 1),
            p99_ms=round(p99, 1),
            max_ms=round(max(lateness_s, default=float("nan")) * 1000, 1),
            **fields,
            server_cpu_s=round(end[0] - start[0], 2),
            worker_cpu_s=round(end[1] - start[1], 2),
        )

    async def history_lengths(self, kind: Kind, keys: list[str]) -> list[int]:
        """The current run's history length of each key's instance."""
        lengths = []
        for key in keys:
            description = await self.side.client.get_workflow_handle(
                self.side.workflow_id(kind, key)
            ).describe()
            lengths.append(description.raw_description.workflow_execution_info.history_length)
        return lengths

    async def all_runs_events(self, kind: Kind, key: str) -> int:
        """History events of every run of the key's instance (following continue-as-new back)."""
        workflow_id, run_id, total = self.side.workflow_id(kind, key), None, 0
        while True:
            history = await self.side.client.get_workflow_handle(
                workflow_id, run_id=run_id
            ).fetch_history()
            total += len(history.events)
            previous = history.events[
                0
            ].workflow_execution_started_event_attributes.continued_execution_run_id
            if not previous:
                return total
            run_id = previous

    # --- groups -------------------------------------------------------------------------

    async def debounce(self) -> None:
        side = self.side
        warm = self.keys("warm", WARMUP)
        await self.run_calls(lambda i: side.debounce_add(warm[i], 0), WARMUP, WARMUP)
        await self.quiet()
        before_kb = rss_kb(self.worker_pid)
        n = self.count(KEYS)
        keys = self.keys("key", n)
        await self.throughput(
            "debounce_add_new",
            "debounce add, new keys (c=50)",
            lambda i: side.debounce_add(keys[i], 1),
            n,
            CONCURRENCY,
        )
        await self.throughput(
            "debounce_add_existing",
            "debounce add, existing keys (c=50)",
            lambda i: side.debounce_add(keys[i], 2),
            n,
            CONCURRENCY,
        )
        hot, adds = f"hot-{self.tag}", self.count(HOT_ADDS)
        await side.debounce_add(hot, 0)
        await self.throughput(
            "debounce_add_hot",
            "debounce add, one hot key (c=8)",
            lambda i: side.debounce_add(hot, i),
            adds,
            HOT_CONCURRENCY,
        )
        await self.events_per_add("history_per_add", "history events per add (hot key)", hot, adds)
        if self.side_name == "durable":
            await self._key_cost(hot, adds)
        await self.memory(
            "memory_debounce", "worker memory per live debounce instance", before_kb, n + 1
        )

    def events_per_op(
        self, row_id: str, label: str, before: list[int], after: list[int], **fields: Any
    ) -> None:
        """A row: history events per operation, from the sampled instances' history lengths
        before and after one operation each."""
        self.add(
            row_id,
            label,
            "value",
            unit="events/op",
            value=round((sum(after) - sum(before)) / len(before), 2),
            n=len(before),
            **fields,
        )

    async def events_per_add(self, row_id: str, label: str, key: str, adds: int) -> None:
        """A row: history events of every run of a Debounce key per add (its first add too)."""
        events = await self.all_runs_events("debounce", key)
        self.add(
            row_id,
            label,
            "value",
            unit="events/op",
            value=round(events / (adds + 1), 2),
            n=adds + 1,
        )

    async def _key_cost(self, plain: str, adds: int) -> None:
        """What remembering idempotency keys costs: the hot-key pass again, each add keyed.

        Rows: the rate and latency (against the baseline's hot key), history events per add,
        and what the run that continued as new last carried (remembered answers, bytes).
        """
        side, keyed = self.side, f"hot-keyed-{self.tag}"
        await side.debounce_add(keyed, 0, idempotency_key=f"{keyed}-first")
        await self.throughput(
            "debounce_add_hot_keyed",
            "debounce add, one hot key, every add keyed (c=8)",
            lambda i: side.debounce_add(keyed, i, idempotency_key=f"{keyed}-{i}"),
            adds,
            HOT_CONCURRENCY,
        )
        await self.events_per_add(
            "history_per_keyed_add", "history events per keyed add (hot key)", keyed, adds
        )
        # Neither pass continues as new (a run takes 1,500 calls): go on until each has, so
        # the rows read what a run carries.
        await self.cross_continue_as_new(plain, lambda i: side.debounce_add(plain, i))
        await self.cross_continue_as_new(
            keyed, lambda i: side.debounce_add(keyed, i, idempotency_key=f"{keyed}-more-{i}")
        )
        for key, label in ((plain, "unkeyed"), (keyed, "keyed")):
            size, answers, keys = await self.carried_answers("debounce", key)
            self.add(
                f"carried_{label}",
                f"continue-as-new input after the {label} pass",
                "value",
                unit="bytes",
                value=size,
                answers=answers,
                keys=keys,
                bytes_per_answer=round(size / answers) if answers else None,
            )

    async def cross_continue_as_new(self, key: str, call: Call) -> None:
        """Make ``call(i)`` (8 at a time) until the Debounce key's instance continues as new."""
        handle = self.side.client.get_workflow_handle(self.side.workflow_id("debounce", key))
        first = (await handle.describe()).run_id
        for _ in range(CROSSING_ROUNDS):
            if (await handle.describe()).run_id != first:
                return
            _, _, errors = await self.run_calls(call, CROSSING_CALLS, HOT_CONCURRENCY)
            if errors:
                raise RuntimeError(f"{key}: {errors[0]}")
        raise RuntimeError(f"{key} did not continue as new")

    async def carried_answers(self, kind: Kind, key: str) -> tuple[int, int, int]:
        """The current run's input: its size, the answers it carried, how many were keyed."""
        history = await self.side.client.get_workflow_handle(
            self.side.workflow_id(kind, key)
        ).fetch_history()
        payload = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
        answers = json.loads(payload.data).get("answers", [])
        return payload.ByteSize(), len(answers), sum(1 for a in answers if a.get("user_key"))

    async def task(self) -> None:
        side = self.side
        warm = self.keys("warm", WARMUP)
        await self.run_calls(lambda i: side.task_send(warm[i], None), WARMUP, WARMUP)
        await self.quiet()
        if self.side_name == "unpublished":
            await self._task_unpublished(self.count(KEYS))
            return
        before_kb = rss_kb(self.worker_pid)
        n = self.count(KEYS)
        keys = self.keys("key", n)
        sample = keys[-HISTORY_SAMPLE:]  # their alarms fall due last
        await self.throughput(
            "task_send_new",
            "task send, new keys (c=50)",
            lambda i: side.task_send(keys[i], None),
            n,
            CONCURRENCY,
        )
        await self.quiet()  # trailing workflow tasks land in the history too
        first = await self.history_lengths("task", sample)
        rate = await self.throughput(
            "task_send_existing",
            "task send, existing keys (c=50)",
            lambda i: side.task_send(keys[i], None),
            n,
            CONCURRENCY,
        )
        await self.quiet()
        second = await self.history_lengths("task", sample)
        self.events_per_op(
            "history_per_send", "history events per send (existing key)", first, second
        )
        hot, sends = f"hot-{self.tag}", self.count(HOT_CALLS)
        await side.task_send(hot, None)
        await self.quiet()
        before = await self.all_runs_events("task", hot)
        await self.throughput(
            "task_send_hot",
            "task send, one hot key (c=8)",
            lambda i: side.task_send(hot, None),
            sends,
            HOT_CONCURRENCY,
        )
        await self.quiet()
        self.add(
            "history_per_hot_send",
            "history events per send (hot key)",
            "value",
            unit="events/op",
            value=round((await self.all_runs_events("task", hot) - before) / sends, 2),
            n=sends,
        )
        if self.side_name == "durable":  # a lever of the library's, with no baseline of its own
            local = f"hot-local-{self.tag}"
            await side.task_send(local, None, local=True)
            await self.throughput(
                "task_send_hot_local",
                "task send, one hot key, local=True (c=8)",
                lambda i: side.task_send(local, None, local=True),
                sends,
                HOT_CONCURRENCY,
            )
        await self._alarms(keys, sample, rate)
        await self.memory("memory_task", "worker memory per live task instance", before_kb, n)

    async def _task_unpublished(self, n: int) -> None:
        """New-key sends and alarms of the Task job defined ``publish_status=False``.

        Library rows of their own, compared with the published rows' baseline: what the
        status summary's visibility writes cost. A side of its own, in the mirrored order, so
        it meets the server as the other two do.
        """
        side = self.side
        keys = self.keys("unpublished", n)
        await self.throughput(
            "task_send_new_unpublished",
            "task send, new keys, publish_status=False (c=50)",
            lambda i: side.task_send(keys[i], None),
            n,
            CONCURRENCY,
        )
        await self.quiet()
        sample = keys[:HISTORY_SAMPLE]
        first_due = time.time() + UNPUBLISHED_ALARM_LEAD
        _, _, errors = await self.run_calls(
            lambda i: side.task_send(sample[i], first_due + i / ALARM_RATE),
            len(sample),
            CONCURRENCY,
        )
        await self.quiet(timeout=max(0.0, first_due - time.time() - 1.0))
        armed = await self.history_lengths("task", sample)
        await asyncio.sleep(max(0.0, first_due + len(sample) / ALARM_RATE + 1.0 - time.time()))
        await self.read_until(
            sample, side.task_alarm, lambda v: v.fired_at is not None, deadline=time.time() + 30
        )
        await self.quiet()
        fired = await self.history_lengths("task", sample)
        self.events_per_op(
            "history_per_alarm_unpublished",
            "history events per alarm fired, publish_status=False",
            armed,
            fired,
            errors=len(errors),
        )

    async def _alarms(self, keys: list[str], sample: list[str], send_rate: float) -> None:
        """Re-arm every key's alarm so they fall due at ``ALARM_RATE``, after all are armed.

        The first is due once the arming pass should be over (from the rate of the pass
        before, with room); a send that still lands after its due time is counted in
        ``armed_late`` and its alarm measured all the same.
        """
        side, n = self.side, len(keys)
        await self.quiet()
        lead = 1.0 + 1.25 * n / send_rate
        first_due = time.time() + lead
        due = [first_due + i / ALARM_RATE for i in range(n)]
        late: list[int] = []

        async def arm(i: int) -> None:
            await side.task_send(keys[i], due[i])
            if time.time() > due[i]:
                late.append(i)

        _, _, errors = await self.run_calls(arm, n, CONCURRENCY)
        await self.quiet(timeout=max(0.0, first_due - time.time() - 1.0))
        armed = await self.history_lengths("task", sample)
        await asyncio.sleep(max(0.0, first_due - time.time()))
        cpu = self.cpu()
        await asyncio.sleep(max(0.0, due[-1] + 1.0 - time.time()))
        await self.quiet()
        row_cpu = self.cpu()
        views = await self.read_until(
            keys, side.task_alarm, lambda v: v.fired_at is not None, deadline=time.time() + 30
        )
        lateness = [
            v.fired_at - v.due_at for v in views if v.fired_at is not None and v.due_at is not None
        ]
        fired_lengths = await self.history_lengths("task", sample)
        self.lateness(
            "task_alarm_lateness",
            f"task alarm lateness ({ALARM_RATE:g}/s)",
            lateness,
            (cpu, row_cpu),
            missing=n - len(lateness),
            armed_late=len(late),
            errors=len(errors),
            first_error=errors[0] if errors else None,
        )
        self.events_per_op(
            "history_per_alarm", "history events per alarm fired", armed, fired_lengths
        )

    async def read_until(
        self,
        keys: list[str],
        read: Callable[[str], Awaitable[Any]],
        done: Callable[[Any], bool],
        deadline: float,
    ) -> list[Any]:
        """Every key's view from ``read``, re-reading those not ``done`` until ``deadline``."""
        views: dict[str, Any] = {}
        pending = list(keys)
        while True:

            async def one(i: int, batch: list[str] = pending) -> None:
                views[batch[i]] = await read(batch[i])

            await self.run_calls(one, len(pending), CONCURRENCY)
            pending = [k for k in keys if k not in views or not done(views[k])]
            if not pending or time.time() > deadline:
                return list(views.values())
            await asyncio.sleep(2.0)

    async def continuous(self) -> None:
        side = self.side
        warm = self.keys("warm", WARMUP)
        await self.run_calls(lambda i: side.continuous_start("continuous", warm[i]), WARMUP, WARMUP)
        await self.quiet()
        before_kb = rss_kb(self.worker_pid)
        n = self.count(KEYS)
        keys = self.keys("key", n)
        if self.side_name == "unpublished":  # what the status summary costs (see ``task``)
            await self.throughput(
                "continuous_start_unpublished",
                "continuous start, new instances, publish_status=False (c=50)",
                lambda i: side.continuous_start("continuous", keys[i]),
                n,
                CONCURRENCY,
            )
            return
        await self.throughput(
            "continuous_start",
            "continuous start, new instances (c=50)",
            lambda i: side.continuous_start("continuous", keys[i]),
            n,
            CONCURRENCY,
        )
        await self.throughput(
            "continuous_status",
            "continuous status (c=50)",
            lambda i: side.continuous_status("continuous", keys[i]),
            n,
            CONCURRENCY,
        )
        await self.throughput(
            "continuous_get_state",
            "continuous get_state (c=50)",
            lambda i: side.continuous_ticks("continuous", keys[i]),
            n,
            CONCURRENCY,
        )
        await self.memory(
            "memory_continuous", "worker memory per live continuous instance", before_kb, n
        )
        hot, triggers = keys[0], self.count(HOT_CALLS)
        await self.throughput(
            "continuous_trigger_hot",
            "continuous trigger, one instance (c=8)",
            lambda i: side.continuous_trigger("continuous", hot),
            triggers,
            HOT_CONCURRENCY,
        )

    async def ticks(self) -> None:
        side = self.side
        warm = self.keys("warm", WARMUP)
        await self.run_calls(lambda i: side.continuous_start("continuous", warm[i]), WARMUP, WARMUP)
        await self.quiet()
        n, ticks = TICKERS, max(2, round(TICKS * self.scale))
        keys = self.keys("ticker", n)
        sample = keys[:HISTORY_SAMPLE]
        cpu = self.cpu()
        # Started evenly over one interval, so the runs stay spread out rather than in bursts.
        errors = await self.paced(
            lambda i: side.continuous_start("ticker", keys[i]), n, n / TICK_EVERY_SECONDS
        )
        await asyncio.sleep(2 * TICK_EVERY_SECONDS)
        mid = await self._runs_and_lengths(sample)
        end_at = time.time() + (ticks - 1) * TICK_EVERY_SECONDS + 1.0
        await asyncio.sleep(max(0.0, end_at - time.time()))
        views = await self.read_until(
            keys,
            lambda k: side.continuous_ticks("ticker", k),
            lambda v: len(v.lateness) >= ticks,
            deadline=time.time() + 30,
        )
        row_cpu = self.cpu()
        end = await self._runs_and_lengths(sample)
        lateness = [x for v in views for x in v.lateness[:ticks]]
        self.lateness(
            "continuous_tick_lateness",
            f"continuous tick lateness ({n} x every {TICK_EVERY_SECONDS:g} s)",
            lateness,
            (cpu, row_cpu),
            missing=n * ticks - len(lateness),
            errors=len(errors),
            first_error=errors[0] if errors else None,
        )
        runs = end[0] - mid[0]
        self.add(
            "history_per_run",
            "history events per continuous run",
            "value",
            unit="events/op",
            value=round((end[1] - mid[1]) / runs, 2) if runs else None,
            n=runs,
        )
        # Stop the tickers so later groups do not pay for their timers.
        await self.run_calls(
            lambda i: side.client.get_workflow_handle(
                side.workflow_id("ticker", keys[i])
            ).terminate(),
            n,
            CONCURRENCY,
        )

    async def _runs_and_lengths(self, sample: list[str]) -> tuple[int, int]:
        runs = sum([(await self.side.continuous_ticks("ticker", k)).runs for k in sample])
        return runs, sum(await self.history_lengths("ticker", sample))


def _brief(row: dict[str, Any]) -> str:
    if row["kind"] == "throughput":
        return f"{row['ops_per_s']}/s p50 {row['p50_ms']} ms p99 {row['p99_ms']} ms errors {row['errors']}"
    if row["kind"] == "lateness":
        return (
            f"p50 {row['p50_ms']} ms p99 {row['p99_ms']} ms n {row['n']} missing {row['missing']}"
        )
    return f"{row['value']} {row['unit']}"


async def connect(address: str, timeout: float = 30.0) -> Client:
    """A client for ``address``, retrying while the server starts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await Client.connect(address)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    client = await connect(args.address)
    side = make_side(args.side, client, args.task_queue)
    load = Load(side, args.side, args.server_pid, args.worker_pid, args.scale)
    started = time.monotonic()
    await getattr(load, args.group)()
    return {
        "group": args.group,
        # The unpublished side's rows have ids of their own: they are the library's.
        "side": "baseline" if args.side == "baseline" else "durable",
        "seconds": round(time.monotonic() - started, 1),
        "rows": load.rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one scenario group against one side.")
    parser.add_argument("--group", choices=GROUPS, required=True)
    parser.add_argument("--side", choices=get_args(SideName), required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--worker-pid", type=int, required=True)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        result = {"ok": True, **asyncio.run(run(args))}
    except Exception:
        result = {
            "ok": False,
            "group": args.group,
            "side": args.side,
            "error": traceback.format_exc(),
        }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # temporalio's bridge threads can abort the interpreter at exit (sdk-python issue 300).
    os._exit(code)
