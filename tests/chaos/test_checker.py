"""The exactly-once checker on synthetic data: it passes a clean run and fails each violation.

A checker that cannot fail is worthless, so every kind of violation is made here on purpose:
a job that applies an event twice, a sink that loses a batch or splits one item over two
batches, reordering, misplacement, a run without a trigger, a stuck instance.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.chaos.checker import CallRecord, Observed, Report, check
from tests.chaos.jobs import (
    Batch,
    Item,
    Ranges,
    SinkBatch,
    appended,
    expanded,
    read_sink,
    write_batch,
)

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def sent(kind: Any, op: str, user_id: str, producer: str, seq: int, **fields: Any) -> CallRecord:
    fields.setdefault("acked", True)
    fields.setdefault("attempts", 1)
    return CallRecord(kind, op, user_id, producer, seq, key=f"{producer}:{seq}", **fields)


def ledger_of(*items: tuple[str, int]) -> Ranges:
    ranges: Ranges = {}
    for producer, seq in items:
        ranges = appended(ranges, Item(producer=producer, seq=seq))
    return ranges


def batch(
    user_id: str, started: int, *items: tuple[str, int], count: int | None = None
) -> SinkBatch:
    return SinkBatch(
        instance_id=f"debounce:batcher:{user_id}",
        user_id=user_id,
        started_at=T0 + timedelta(seconds=started),
        event_count=len(items) if count is None else count,
        applied=ledger_of(*items),
    )


def sends(user_id: str, producer: str, seqs: range, op: str = "send") -> list[CallRecord]:
    return [sent("task", op, user_id, producer, seq) for seq in seqs]


def test_ranges_keep_the_order_of_application() -> None:
    ranges = ledger_of(("a", 0), ("a", 1), ("a", 2), ("b", 0), ("a", 4), ("a", 3), ("a", 3))
    assert ranges == {"a": [[0, 2], [4, 4], [3, 3], [3, 3]], "b": [[0, 0]]}
    assert expanded(ranges["a"]) == [0, 1, 2, 4, 3, 3]


def test_a_clean_run_passes() -> None:
    calls = [
        *sends("hot", "th0", range(5)),
        *sends("hot", "th1", range(3), op="send_nowait"),
        sent("debounce", "add", "k0", "dh0", 0),
        sent("debounce", "add_nowait", "k0", "dh0", 1),
        sent("debounce", "add", "k0", "dh0", 2),
        sent("debounce", "flush", "k0", "dh0", 3),
        sent("continuous", "trigger", "hot", "ch0", 0, triggered=True),
        sent("continuous", "trigger_nowait", "hot", "ch0", 1, triggered=True),
    ]
    observed = Observed(
        task_ledgers={"hot": {"th0": [[0, 4]], "th1": [[0, 2]]}},
        task_executes={"hot": 0},
        debounce_batches=[batch("k0", 0, ("dh0", 0), ("dh0", 1)), batch("k0", 5, ("dh0", 2))],
        continuous_runs={"hot": 2},
    )
    report = check(calls, observed)
    assert report.ok, report.lines()
    assert report.total("applied") == 11 + 2  # the items, and the runs
    assert report.tallies["debounce flush*"].checked is False


def test_a_job_that_applies_an_event_twice_is_caught() -> None:
    # A broken on_event: it appends the event's item twice.
    observed = Observed(task_ledgers={"k1": ledger_of(("ts0", 0), ("ts0", 1), ("ts0", 1))})
    report = check(sends("k1", "ts0", range(2)), observed)
    assert not report.ok
    assert report.tallies["task send"].duplicates == 1
    assert report.tallies["task send"].beyond_attempts == 1  # one attempt, two applications
    assert "applied 2 times" in report.problems["duplicate beyond attempts"][0]


def test_a_retried_call_applied_by_each_attempt_is_a_duplicate() -> None:
    calls = [sent("task", "send", "k1", "ts0", 0, attempts=3, errors=["timeout"] * 2)]
    observed = Observed(task_ledgers={"k1": ledger_of(("ts0", 0), ("ts0", 0), ("ts0", 0))})
    report = check(calls, observed)
    assert (report.tallies["task send"].duplicates, report.total("beyond_attempts")) == (2, 0)
    assert not report.ok


def test_a_batch_delivered_twice_by_a_retried_activity_counts_once() -> None:
    same = batch("k0", 0, ("ds0", 0), ("ds0", 1))
    calls = [sent("debounce", "add", "k0", "ds0", n) for n in range(2)]
    report = check(calls, Observed(debounce_batches=[same, same]))
    assert report.ok, report.lines()
    assert (report.batch_deliveries, report.distinct_batches) == (2, 1)


def test_one_item_in_two_batches_is_a_double_apply() -> None:
    calls = [sent("debounce", "add_nowait", "k0", "ds0", n) for n in range(3)]
    observed = Observed(
        debounce_batches=[
            batch("k0", 0, ("ds0", 0), ("ds0", 1)),
            batch("k0", 4, ("ds0", 1), ("ds0", 2)),  # a broken sink or engine: #1 again
        ]
    )
    report = check(calls, observed)
    assert report.tallies["debounce add_nowait"].duplicates == 1
    assert not report.ok


def test_an_acknowledged_call_applied_nowhere_is_lost_an_unacknowledged_one_may_be() -> None:
    calls = [
        sent("debounce", "add", "k0", "ds0", 0),
        sent("debounce", "add", "k0", "ds0", 1),  # its batch never reached the sink
        sent("debounce", "add", "k0", "ds0", 2, acked=False, attempts=4),
    ]
    report = check(calls, Observed(debounce_batches=[batch("k0", 0, ("ds0", 0))]))
    assert (report.tallies["debounce add"].lost, report.tallies["debounce add"].unacked) == (1, 1)
    assert not report.ok
    report = check([calls[0], calls[2]], Observed(debounce_batches=[batch("k0", 0, ("ds0", 0))]))
    assert report.ok, report.lines()


def test_a_producer_overtaken_by_its_own_later_call_is_out_of_order() -> None:
    observed = Observed(task_ledgers={"hot": ledger_of(("th0", 0), ("th0", 2), ("th0", 1))})
    report = check(sends("hot", "th0", range(3)), observed)
    assert report.tallies["task send"].out_of_order == 1
    assert not report.ok
    # Across batches, the order is the batches' start order, not the sink's line order.
    calls = [sent("debounce", "add", "k0", "ds0", n) for n in range(2)]
    later_first = [batch("k0", 9, ("ds0", 1)), batch("k0", 1, ("ds0", 0))]
    assert check(calls, Observed(debounce_batches=later_first)).ok
    swapped = [batch("k0", 1, ("ds0", 1)), batch("k0", 9, ("ds0", 0))]
    assert check(calls, Observed(debounce_batches=swapped)).tallies["debounce add"].out_of_order


def test_an_item_in_another_instance_or_never_sent_fails() -> None:
    observed = Observed(task_ledgers={"k2": ledger_of(("ts0", 0)), "k1": ledger_of(("ts0", 9))})
    report = check(sends("k1", "ts0", range(1)), observed)
    assert report.tallies["task send"].misplaced == 1
    assert report.unknown == 1
    assert not report.ok


@pytest.mark.parametrize(
    ("runs", "ok"),
    [(2, True), (3, True), (1, False), (4, False)],
)
def test_runs_lie_between_acknowledged_and_all_triggers(runs: int, ok: bool) -> None:
    calls = [
        sent("continuous", "trigger", "hot", "ch0", 0, triggered=True),
        sent("continuous", "trigger_nowait", "hot", "ch1", 0, triggered=True),
        sent("continuous", "trigger", "hot", "ch0", 1, acked=False, attempts=5),
        sent("continuous", "trigger_nowait", "hot", "ch1", 1, triggered=False),
    ]
    report = check(calls, Observed(continuous_runs={"hot": runs}))
    assert report.ok is ok, report.lines()


def test_a_run_nobody_triggered_is_a_duplicate() -> None:
    report = check([], Observed(task_executes={"k0": 1}))
    assert report.tallies["task trigger*"].duplicates == 1
    assert not report.ok


def test_stuck_instances_unexpected_errors_and_inconsistent_batches_fail() -> None:
    assert not check([], Observed(unsettled={"debounce:batcher:k0": "3 events waiting"})).ok
    errors: Any = {"ValueError: boom": 1}
    assert not check([], Observed(), unexpected_errors=errors).ok
    calls = [sent("debounce", "add", "k0", "ds0", 0)]
    report = check(calls, Observed(debounce_batches=[batch("k0", 0, ("ds0", 0), count=2)]))
    assert (report.inconsistent_batches, report.ok) == (1, False)


async def test_the_sink_as_written_by_the_job_and_read_by_the_harness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBS_TEST_DIR", str(tmp_path))

    def ctx(*items: tuple[str, int], started: int) -> Any:
        return SimpleNamespace(
            instance_id="debounce:batcher:k0",
            id="k0",
            started_at=T0 + timedelta(seconds=started),
            event_count=len(items),
            flush_reason="max_events",
            attempt=1,
            state=Batch(applied=ledger_of(*items)),
        )

    first = ctx(("ds0", 0), ("ds1", 0), started=0)
    await write_batch(first)
    await write_batch(first)  # the activity failed after the handler ran, and ran again
    await write_batch(ctx(("ds0", 1), started=3))
    (path,) = tmp_path.glob("sink-*.jsonl")
    with path.open("a") as sink:
        sink.write('{"instance_id": "debounce:bat')  # a worker killed mid-line
    calls = [
        sent("debounce", "add", "k0", "ds0", 0),
        sent("debounce", "add", "k0", "ds1", 0),
        sent("debounce", "add", "k0", "ds0", 1),
    ]
    deliveries = read_sink(tmp_path)
    report = check(calls, Observed(debounce_batches=deliveries))
    assert report.ok, report.lines()
    assert (report.batch_deliveries, report.distinct_batches) == (3, 2)
    # A sink that loses the second batch: the checker says which call it lost.
    lost = check(calls, Observed(debounce_batches=deliveries[:2]))
    assert lost.tallies["debounce add"].lost == 1
    assert "ds0#1" in lost.problems["lost"][0]


def test_the_report_prints_every_kind_of_call() -> None:
    report: Report = check(
        [sent("task", "send", "k0", "ts0", 0)], Observed(task_ledgers={"k0": ledger_of(("ts0", 0))})
    )
    text = "\n".join(report.lines())
    assert "task send" in text
    assert text.endswith("result: OK")
