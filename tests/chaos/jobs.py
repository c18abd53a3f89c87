"""The jobs the chaos harness drives; its worker processes serve ``jobs`` from this module.

What a call did must be readable from committed state, never from handler side effects: a
handler may run twice (activities are at least once), a commit must not happen twice.

- ``ledger`` (Task): ``on_event`` appends the event's ``(producer, seq)`` to the state; a
  trigger's ``execute`` counts itself in the state.
- ``batcher`` (Debounce): the reducer folds ``(producer, seq)`` into the batch; ``execute``
  writes the batch to a sink file. A batch written twice by a retried activity is one batch
  (same instance, same ``started_at``, same content); one ``(producer, seq)`` in two batches
  is a double apply.
- ``counter`` (Continuous): a long schedule, so only triggers run it; each run counts itself.

Each producer's calls to one instance are kept as ranges of consecutive sequence numbers, in
the order they were applied (``[[0, 41], [43, 43], [42, 42]]``), so the state stays small while
a repeat, a gap or a reordering still shows.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from durable_jobs import Continuous, Debounce, DurableJobs, Task, every
from durable_jobs.context import (
    ContinuousContext,
    DebounceEventContext,
    DebounceExecuteContext,
    TaskContext,
    TaskEventContext,
)

Ranges = dict[str, list[list[int]]]
"""Per producer, the sequence numbers applied, in application order, as ``[first, last]``."""


class Item(BaseModel):
    producer: str
    seq: int


class Ledger(BaseModel):
    applied: Ranges = {}
    executes: int = 0


class Batch(BaseModel):
    applied: Ranges = {}


class Runs(BaseModel):
    runs: int = 0


def appended(ranges: Ranges, item: Item) -> Ranges:
    """``ranges`` with ``item`` applied after everything in it (a new copy)."""
    mine = [list(r) for r in ranges.get(item.producer, [])]
    if mine and mine[-1][1] + 1 == item.seq:
        mine[-1][1] = item.seq
    else:
        mine.append([item.seq, item.seq])
    return {**ranges, item.producer: mine}


def expanded(ranges: list[list[int]]) -> list[int]:
    """The sequence numbers of one producer's ranges, in application order."""
    return [seq for first, last in ranges for seq in range(first, last + 1)]


async def record_event(event: Item, ctx: TaskEventContext[Ledger]) -> None:
    state = ctx.state or Ledger()
    ctx.set_state(Ledger(applied=appended(state.applied, event), executes=state.executes))


async def count_execute(ctx: TaskContext[Ledger]) -> None:
    state = ctx.state or Ledger()
    ctx.set_state(Ledger(applied=state.applied, executes=state.executes + 1))


def fold(ctx: DebounceEventContext[Item, Batch]) -> Batch:
    return Batch(applied=appended((ctx.state or Batch()).applied, ctx.event))


def sink_path(directory: Path, pid: int) -> Path:
    return directory / f"sink-{pid}.jsonl"


@dataclass(frozen=True)
class SinkBatch:
    """One line of the Debounce sink: one delivery of a batch (a retry delivers it again)."""

    instance_id: str
    user_id: str
    started_at: datetime
    event_count: int
    applied: Ranges

    def identity(self) -> tuple[str, datetime, str]:
        return (self.instance_id, self.started_at, json.dumps(self.applied, sort_keys=True))


def read_sink(directory: Path) -> list[SinkBatch]:
    """Every batch delivery in ``directory``'s sink files; a torn last line (its writer was
    killed mid-line, and the attempt is run again) is skipped."""
    batches = []
    for path in sorted(directory.glob("sink-*.jsonl")):
        for line in path.read_text().split("\n")[:-1]:
            row = json.loads(line)
            batches.append(
                SinkBatch(
                    instance_id=row["instance_id"],
                    user_id=row["id"],
                    started_at=datetime.fromisoformat(row["started_at"]),
                    event_count=row["event_count"],
                    applied=row["applied"],
                )
            )
    return batches


async def write_batch(ctx: DebounceExecuteContext[Batch]) -> None:
    line = json.dumps(
        {
            "instance_id": ctx.instance_id,
            "id": ctx.id,
            "started_at": ctx.started_at.isoformat(),
            "event_count": ctx.event_count,
            "flush_reason": ctx.flush_reason,
            "attempt": ctx.attempt,
            "applied": ctx.state.applied,
        },
        sort_keys=True,
    )
    path = sink_path(Path(os.environ["JOBS_TEST_DIR"]), os.getpid())
    # One write per line: a worker killed mid-batch leaves a whole line or a torn last line
    # (the reader skips it; the killed attempt is retried and writes the batch again).
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


async def count_run(ctx: ContinuousContext[Runs]) -> None:
    ctx.set_state(Runs(runs=ctx.state.runs + 1))


ledger = Task(state=Ledger, event=Item, on_event=record_event, execute=count_execute)
batcher = Debounce(
    event=Item,
    state=Batch,
    on_event=fold,
    execute=write_batch,
    flush_after="1 second",
    max_events=25,
)
counter = Continuous(
    state=Runs, schedule=every("1 day"), execute=count_run, start_immediately=False
)
jobs = DurableJobs(ledger=ledger, batcher=batcher, counter=counter)


# Broken on purpose, to show the checker failing on a live run
# (``python -m tests.chaos --jobs tests.chaos.jobs:broken_jobs``): the ledger applies some
# events twice, and the sink loses some batches.


async def record_some_events_twice(event: Item, ctx: TaskEventContext[Ledger]) -> None:
    state = ctx.state or Ledger()
    applied = appended(state.applied, event)
    if event.seq % 10 == 7:
        applied = appended(applied, event)
    ctx.set_state(Ledger(applied=applied, executes=state.executes))


async def lose_some_batches(ctx: DebounceExecuteContext[Batch]) -> None:
    if ctx.event_count % 7 != 3:
        await write_batch(ctx)


broken_jobs = DurableJobs(
    ledger=Task(state=Ledger, event=Item, on_event=record_some_events_twice, execute=count_execute),
    batcher=Debounce(
        event=Item,
        state=Batch,
        on_event=fold,
        execute=lose_some_batches,
        flush_after="1 second",
        max_events=25,
    ),
    counter=counter,
)
