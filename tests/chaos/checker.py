"""The exactly-once checker: what the producers sent against what the jobs committed.

Pure: it reads :class:`CallRecord` s (one per logical call, however many attempts it took) and
an :class:`Observed` snapshot of committed state, and says, per kind of call:

- **applied**: how often the calls' items were found in committed state;
- **duplicates**: applications beyond the first of one call (acknowledged or not: a call the
  caller gave up on may be applied once or not at all, never twice);
- **lost**: acknowledged calls applied nowhere;
- **out of order**: items that one producer's later call overtook in the same instance
  (each producer waits for one call before it sends the next, so its calls to one instance
  must be applied in the order it sent them);
- **misplaced**: items found in another instance than the one they were sent to.

Items (``(producer, seq)``) ride on Debounce adds and Task sends and are checked one by one.
Triggers carry nothing, so they are checked by count per instance: ``runs`` must lie between
the acknowledged triggers that answered ``True`` and that plus the unacknowledged ones.
Other calls (flushes, starts) are counted, not checked. Any item nobody sent, any instance
left short of its final state (``Observed.unsettled``) and any error a caller saw that a
retry does not explain fail the check too.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from tests.chaos.jobs import Ranges, SinkBatch, expanded

Kind = Literal["debounce", "task", "continuous"]

ITEM_OPS = frozenset({"add", "add_nowait", "send", "send_nowait"})
TRIGGER_OPS = frozenset({"trigger", "trigger_nowait"})

_EXAMPLES = 3
"""Problems of each kind described one by one in a report; the rest are only counted."""


@dataclass
class CallRecord:
    """One logical call of one producer: its attempts share ``key`` (the idempotency key)."""

    kind: Kind
    op: str
    user_id: str
    producer: str
    seq: int
    key: str
    attempts: int = 0
    acked: bool = False
    triggered: bool | None = None
    """For triggers: the answer (``False``: the instance did not exist)."""
    errors: list[str] = field(default_factory=list)
    """What each failed attempt raised, in order."""


@dataclass
class Observed:
    """Committed state at the end: what each instance applied."""

    task_ledgers: dict[str, Ranges] = field(default_factory=dict)
    """Task ``user_id`` -> the ledger's applied ranges (absent: no instance)."""
    task_executes: dict[str, int] = field(default_factory=dict)
    debounce_batches: list[SinkBatch] = field(default_factory=list)
    """Every sink line, in the order written (per worker process)."""
    continuous_runs: dict[str, int] = field(default_factory=dict)
    unsettled: dict[str, str] = field(default_factory=dict)
    """Instance ID -> why it had not reached its final state by the deadline."""


@dataclass
class Tally:
    """The check of one kind of call (``debounce add``, ``task trigger*``, ...)."""

    sent: int = 0
    attempts: int = 0
    acked: int = 0
    checked: bool = True
    applied: int = 0
    duplicates: int = 0
    lost: int = 0
    out_of_order: int = 0
    misplaced: int = 0
    beyond_attempts: int = 0
    """Of the duplicates, those beyond the caller's own attempts: resends of the library's."""

    @property
    def unacked(self) -> int:
        return self.sent - self.acked

    @property
    def violations(self) -> int:
        return self.duplicates + self.lost + self.out_of_order + self.misplaced


@dataclass
class Report:
    tallies: dict[str, Tally] = field(default_factory=dict)
    unknown: int = 0
    """Items found in committed state that no producer sent."""
    inconsistent_batches: int = 0
    """Sink batches whose ``event_count`` differs from the items they hold."""
    batch_deliveries: int = 0
    distinct_batches: int = 0
    stuck: dict[str, str] = field(default_factory=dict)
    caller_errors: Counter[str] = field(default_factory=Counter)
    """Failed attempts by error, retried."""
    unexpected_errors: Counter[str] = field(default_factory=Counter)
    """Errors a retry does not explain (a bug, or a fault the library let through)."""
    problems: dict[str, list[str]] = field(default_factory=dict)
    """The first few violations of each kind (``duplicate``, ``lost``, ...), described."""

    def total(self, name: str) -> int:
        return sum(getattr(t, name) for t in self.tallies.values())

    @property
    def ok(self) -> bool:
        return (
            self.total("violations") == 0
            and self.unknown == 0
            and self.inconsistent_batches == 0
            and not self.stuck
            and not self.unexpected_errors
        )

    def note(self, kind: str, problem: str) -> None:
        examples = self.problems.setdefault(kind, [])
        if len(examples) < _EXAMPLES:
            examples.append(problem)

    def examples(self) -> list[str]:
        return [p for examples in self.problems.values() for p in examples]

    def lines(self) -> list[str]:
        rows = [
            f"{'calls':<28}{'sent':>7}{'acked':>7}{'unacked':>8}{'attempts':>9}"
            f"{'applied':>8}{'dup':>6}{'lost':>6}{'order':>6}{'misplaced':>10}"
        ]
        for name, t in self.tallies.items():
            checked = (
                f"{t.applied:>8}{t.duplicates:>6}{t.lost:>6}{t.out_of_order:>6}{t.misplaced:>10}"
                if t.checked
                else f"{'(not checked)':>36}"
            )
            rows.append(f"{name:<28}{t.sent:>7}{t.acked:>7}{t.unacked:>8}{t.attempts:>9}{checked}")
        rows.append(
            f"{'total':<28}{self.total('sent'):>7}{self.total('acked'):>7}"
            f"{self.total('unacked'):>8}{self.total('attempts'):>9}{self.total('applied'):>8}"
            f"{self.total('duplicates'):>6}{self.total('lost'):>6}"
            f"{self.total('out_of_order'):>6}{self.total('misplaced'):>10}"
        )
        beyond = self.total("beyond_attempts")
        if self.total("duplicates"):
            rows.append(
                f"duplicates beyond the caller's own attempts (the library's resends): {beyond}"
            )
        rows.append(
            f"debounce batches: {self.batch_deliveries} deliveries, {self.distinct_batches} "
            f"distinct ({self.batch_deliveries - self.distinct_batches} redelivered by retried "
            f"activities, counted once); inconsistent {self.inconsistent_batches}; "
            f"items nobody sent {self.unknown}"
        )
        if self.caller_errors:
            rows.append(
                "retried caller errors: "
                + ", ".join(f"{e} {n}" for e, n in self.caller_errors.most_common())
            )
        if self.unexpected_errors:
            rows.append(
                "UNEXPECTED caller errors: "
                + ", ".join(f"{e} {n}" for e, n in self.unexpected_errors.most_common(10))
            )
        for instance, why in list(self.stuck.items())[:_EXAMPLES]:
            rows.append(f"STUCK {instance}: {why}")
        if len(self.stuck) > _EXAMPLES:
            rows.append(f"... and {len(self.stuck) - _EXAMPLES} more stuck instances")
        rows.extend(f"{kind}: {p}" for kind, examples in self.problems.items() for p in examples)
        rows.append("result: OK" if self.ok else "result: FAILED")
        return rows


def distinct_batches(batches: list[SinkBatch]) -> list[SinkBatch]:
    """Each batch once (a redelivery is the same instance, start and content), per instance
    in the order the batches were started."""
    seen: dict[tuple[str, datetime, str], SinkBatch] = {}
    for batch in batches:
        seen.setdefault(batch.identity(), batch)
    return sorted(seen.values(), key=lambda b: (b.instance_id, b.started_at))


def check(
    calls: list[CallRecord],
    observed: Observed,
    *,
    caller_errors: Counter[str] | None = None,
    unexpected_errors: Counter[str] | None = None,
) -> Report:
    """Compare ``calls`` with ``observed``; see the module docstring for what is counted."""
    report = Report(
        stuck=dict(observed.unsettled),
        caller_errors=Counter(caller_errors or {}),
        unexpected_errors=Counter(unexpected_errors or {}),
    )
    _count_calls(report, calls)
    applications = _applications(report, observed)
    _check_items(report, calls, applications)
    _check_triggers(report, calls, observed)
    return report


def _tally_name(call: CallRecord) -> str:
    if call.op in TRIGGER_OPS:
        return f"{call.kind} trigger*"
    if call.op in ITEM_OPS:
        return f"{call.kind} {call.op}"
    return f"{call.kind} {call.op.removesuffix('_nowait')}*"


def _count_calls(report: Report, calls: list[CallRecord]) -> None:
    for call in sorted(calls, key=lambda c: (c.kind, c.op not in ITEM_OPS, c.op)):
        tally = report.tallies.setdefault(
            _tally_name(call), Tally(checked=call.op in ITEM_OPS | TRIGGER_OPS)
        )
        tally.sent += 1
        tally.attempts += call.attempts
        tally.acked += call.acked


Place = tuple[Kind, str]
"""Where an item was applied: the kind and the user id of the instance."""


def _applications(report: Report, observed: Observed) -> dict[Place, dict[str, list[int]]]:
    """Per instance and producer, the sequence numbers applied, in application order."""
    applied: dict[Place, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for user_id, ranges in observed.task_ledgers.items():
        for producer, mine in ranges.items():
            applied["task", user_id][producer].extend(expanded(mine))
    batches = distinct_batches(observed.debounce_batches)
    report.batch_deliveries = len(observed.debounce_batches)
    report.distinct_batches = len(batches)
    for batch in batches:
        held = sum(len(expanded(mine)) for mine in batch.applied.values())
        if held != batch.event_count:
            report.inconsistent_batches += 1
            report.note(
                "inconsistent batch",
                f"debounce batch of {batch.instance_id} started {batch.started_at.isoformat()} "
                f"counts {batch.event_count} events but holds {held}",
            )
        for producer, mine in batch.applied.items():
            applied["debounce", batch.user_id][producer].extend(expanded(mine))
    return applied


def _check_items(
    report: Report, calls: list[CallRecord], applications: dict[Place, dict[str, list[int]]]
) -> None:
    sent = {(c.kind, c.producer, c.seq): c for c in calls if c.op in ITEM_OPS}
    found: dict[tuple[Kind, str, int], list[Place]] = defaultdict(list)
    for place, producers in applications.items():
        for producer, seqs in producers.items():
            for seq in seqs:
                found[place[0], producer, seq].append(place)
            _check_order(report, place, producer, seqs, sent)
    for item, places in found.items():
        if item not in sent:
            report.unknown += len(places)
            report.note("never sent", f"{item[0]} {places[0][1]!r} applied {item[1]}#{item[2]}")
    for item, call in sent.items():
        places = found.get(item, [])
        tally = report.tallies[_tally_name(call)]
        tally.applied += len(places)
        where = f"{call.kind} {call.op} {call.producer}#{call.seq} to {call.user_id!r}"
        if len(places) > 1:
            tally.duplicates += len(places) - 1
            beyond = max(0, len(places) - max(call.attempts, 1))
            tally.beyond_attempts += beyond
            report.note(
                "duplicate beyond attempts" if beyond else "duplicate",
                f"{where} applied {len(places)} times ({call.attempts} attempts; "
                f"{_errors_seen(call)})",
            )
        if any(place != (call.kind, call.user_id) for place in places):
            tally.misplaced += 1
            report.note("misplaced", f"{where} applied in {sorted({p[1] for p in places})}")
        if call.acked and not places:
            tally.lost += 1
            report.note("lost", f"{where} acknowledged but never applied")


def _errors_seen(call: CallRecord) -> str:
    if not call.errors:
        return "the caller saw no error"
    return "the caller saw " + ", ".join(f"{e} x{n}" for e, n in Counter(call.errors).items())


def _check_order(
    report: Report,
    place: Place,
    producer: str,
    seqs: list[int],
    sent: dict[tuple[Kind, str, int], CallRecord],
) -> None:
    """Count the items of ``producer`` applied after one of its later calls (repeats aside)."""
    latest = -1
    for seq in dict.fromkeys(seqs):
        if seq < latest:
            call = sent.get((place[0], producer, seq))
            if call is not None:
                report.tallies[_tally_name(call)].out_of_order += 1
                report.note(
                    "out of order",
                    f"{place[0]} {place[1]!r}: {producer}#{seq} applied after {producer}#{latest}",
                )
        latest = max(latest, seq)


def _check_triggers(report: Report, calls: list[CallRecord], observed: Observed) -> None:
    """Runs per instance against its triggers; a run without a trigger is a duplicate too."""
    runs: dict[Place, int] = {
        **{("task", uid): n for uid, n in observed.task_executes.items()},
        **{("continuous", uid): n for uid, n in observed.continuous_runs.items()},
    }
    triggers: dict[Place, list[CallRecord]] = defaultdict(list)
    for call in calls:
        if call.op in TRIGGER_OPS:
            triggers[call.kind, call.user_id].append(call)
    for place in sorted(runs.keys() | triggers.keys()):
        kind, user_id = place
        mine = triggers.get(place, [])
        tally = report.tallies.setdefault(f"{kind} trigger*", Tally())
        acknowledged = sum(1 for c in mine if c.acked and c.triggered)
        open_ended = sum(1 for c in mine if not c.acked)
        seen = runs.get(place, 0)
        tally.applied += seen
        where = f"{kind} {user_id!r}"
        if seen < acknowledged:
            tally.lost += acknowledged - seen
            report.note("lost", f"{where}: {acknowledged} triggers acknowledged, {seen} runs")
        if seen > acknowledged + open_ended:
            tally.duplicates += seen - acknowledged - open_ended
            report.note(
                "duplicate",
                f"{where}: {seen} runs for {acknowledged} acknowledged triggers "
                f"and {open_ended} unacknowledged ones",
            )
