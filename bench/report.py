"""Pairs each side's rows, computes ratios to the baseline, checks targets, prints the table.

``python -m bench.report [bench/results.json]`` prints a run's table as Markdown.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    """What the maintainers compare against; ``None`` fields do not apply."""

    min_throughput_ratio: float | None = None
    max_p99_ratio: float | None = None
    min_rate: float | None = None
    max_p99_ms: float | None = None
    max_value: float | None = None
    max_value_ratio: float | None = None

    def describe(self) -> str:
        parts = []
        if self.min_throughput_ratio is not None:
            parts.append(f">={self.min_throughput_ratio:g}x")
        if self.max_p99_ratio is not None:
            parts.append(f"p99<={self.max_p99_ratio:g}x")
        if self.min_rate is not None:
            parts.append(f">={self.min_rate:g}/s")
        if self.max_p99_ms is not None:
            parts.append(f"p99<{self.max_p99_ms:g}ms")
        if self.max_value is not None:
            parts.append(f"<{self.max_value:g}")
        if self.max_value_ratio is not None:
            parts.append(f"<={self.max_value_ratio:g}x")
        return ", ".join(parts)


RELATIVE = {"min_throughput_ratio": 1.0, "max_p99_ratio": 1.2}
"""Every throughput scenario: at least the baseline's rate, p99 within 1.2x (issue 15)."""

HOT = {"min_throughput_ratio": 3.0}
"""One hot key or instance: batching runs queued handler calls in one activity, 3x or more."""

NO_MORE_EVENTS = Target(max_value_ratio=1.0)
"""History events per operation: no more than the baseline's."""

TARGETS: dict[str, Target] = {
    "debounce_add_new": Target(**RELATIVE),
    "debounce_add_existing": Target(**RELATIVE),
    "debounce_add_hot": Target(**RELATIVE),
    "task_send_new": Target(**RELATIVE),
    "task_send_existing": Target(**RELATIVE),
    "task_send_hot": Target(**HOT),
    "continuous_start": Target(**RELATIVE),
    "continuous_status": Target(**RELATIVE),
    "continuous_get_state": Target(**RELATIVE),
    "continuous_trigger_hot": Target(**HOT),
    "task_alarm_lateness": Target(max_p99_ratio=1.2, max_p99_ms=1000),
    "continuous_tick_lateness": Target(max_p99_ratio=1.2, max_p99_ms=1000),
    "history_per_add": NO_MORE_EVENTS,
    "history_per_send": NO_MORE_EVENTS,
    "history_per_alarm": NO_MORE_EVENTS,
    "history_per_run": NO_MORE_EVENTS,
    "memory_debounce": Target(max_value=150),
    "memory_task": Target(max_value=150),
    "memory_continuous": Target(max_value=150),
    "task_send_new_unpublished": Target(**RELATIVE),
    "history_per_alarm_unpublished": NO_MORE_EVENTS,
    "continuous_start_unpublished": Target(**RELATIVE),
}


BASELINE_OF = {
    "task_send_hot_local": "task_send_hot",
    "debounce_add_hot_keyed": "debounce_add_hot",
    "history_per_keyed_add": "history_per_add",
    "task_send_new_unpublished": "task_send_new",
    "history_per_alarm_unpublished": "history_per_alarm",
    "continuous_start_unpublished": "continuous_start",
}
"""Library-only rows and the baseline row they are compared with (the baseline has no lever)."""


def _ratio(a: Any, b: Any) -> float | None:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or b == 0:
        return None
    return round(a / b, 2)


COUNTED = ("errors", "missing", "armed_late")
"""Fields that add up over rounds; every other number is the median of the rounds."""

PER_ROUND = ("ops_per_s", "p99_ms", "value")
"""Fields a merged row also lists round by round, to show the spread."""


def merge_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One side's row of one scenario from its rounds: medians, counts summed."""
    merged = dict(rounds[0])
    if len(rounds) == 1:
        return merged
    for key, first in rounds[0].items():
        values: list[float] = []
        for r in rounds:
            value = r.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                values.append(value)
        if len(values) < len(rounds):
            continue
        if key in COUNTED:
            merged[key] = sum(values)
        else:
            merged[key] = round(statistics.median(values), 2) if key != "n" else first
    if merged.get("errors") and not merged.get("first_error"):
        merged["first_error"] = next(
            (r["first_error"] for r in rounds if r.get("first_error")), None
        )
    merged["rounds"] = [{k: r[k] for k in PER_ROUND if k in r} for r in rounds]
    return merged


def combine(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per scenario with both sides (the median of their rounds), ratios and targets."""
    by_id: dict[str, dict[str, Any]] = {}
    rounds: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for part in parts:
        for row in part.get("rows", []):
            by_id.setdefault(
                row["id"], {"id": row["id"], "label": row["label"], "kind": row["kind"]}
            )
            rounds.setdefault((row["id"], part["side"]), []).append(
                {k: v for k, v in row.items() if k not in ("id", "label", "kind")}
            )
    for (row_id, side), side_rounds in rounds.items():
        by_id[row_id][side] = merge_rounds(side_rounds)
    for row_id, baseline_id in BASELINE_OF.items():
        if row_id in by_id and "baseline" in by_id.get(baseline_id, {}):
            by_id[row_id]["baseline"] = by_id[baseline_id]["baseline"]
    for entry in by_id.values():
        durable, baseline = entry.get("durable", {}), entry.get("baseline", {})
        if entry["kind"] == "throughput":
            entry["throughput_ratio"] = _ratio(durable.get("ops_per_s"), baseline.get("ops_per_s"))
        if entry["kind"] in ("throughput", "lateness"):
            entry["p99_ratio"] = _ratio(durable.get("p99_ms"), baseline.get("p99_ms"))
        if entry["kind"] == "value":
            entry["value_ratio"] = _ratio(durable.get("value"), baseline.get("value"))
        target = TARGETS.get(entry["id"])
        entry["target"] = target.describe() if target else None
        entry["met"] = _met(target, entry) if target else None
    return list(by_id.values())


def _met(target: Target, entry: dict[str, Any]) -> bool | None:
    durable = entry.get("durable")
    if not durable or durable.get("errors"):
        return False if durable else None
    checks = []
    if target.min_throughput_ratio is not None:
        checks.append(_at_least(entry.get("throughput_ratio"), target.min_throughput_ratio))
    if target.max_p99_ratio is not None:
        checks.append(_at_least(target.max_p99_ratio, entry.get("p99_ratio")))
    if target.min_rate is not None:
        checks.append(_at_least(durable.get("ops_per_s"), target.min_rate))
    if target.max_p99_ms is not None:
        checks.append(
            _below(durable.get("p99_ms"), target.max_p99_ms) and not durable.get("missing")
        )
    if target.max_value is not None:
        checks.append(_below(durable.get("value"), target.max_value))
    if target.max_value_ratio is not None:
        checks.append(_at_least(target.max_value_ratio, entry.get("value_ratio")))
    return all(checks)


def _at_least(a: Any, b: Any) -> bool:
    return isinstance(a, int | float) and isinstance(b, int | float) and a >= b


def _below(a: Any, b: float) -> bool:
    return isinstance(a, int | float) and a < b


def _num(value: Any, suffix: str = "") -> str:
    if not isinstance(value, int | float) or value != value:
        return "-"
    return f"{value:,.1f}{suffix}" if abs(value) < 10_000 else f"{value:,.0f}{suffix}"


def _side(row: dict[str, Any], kind: str) -> list[str]:
    if not row:
        return ["missing", "", ""]
    if kind == "throughput":
        return [_num(row.get("ops_per_s"), "/s"), _num(row.get("p50_ms")), _num(row.get("p99_ms"))]
    if kind == "lateness":
        return ["late", _num(row.get("p50_ms")), _num(row.get("p99_ms"))]
    return [f"{_num(row.get('value'))} {row.get('unit', '')}".strip(), "", ""]


def _cpu(row: dict[str, Any]) -> str:
    if "server_cpu_s" not in row:
        return ""
    return f"{row['server_cpu_s']:.1f}/{row['worker_cpu_s']:.1f}"


def table(entries: list[dict[str, Any]]) -> str:
    """The results as one fixed-width table."""
    header = [
        "scenario", "n", "durable", "p50 ms", "p99 ms", "baseline", "p50 ms", "p99 ms",
        "x tput", "x p99", "cpu srv/wrk d", "cpu srv/wrk b", "target", "met",
    ]  # fmt: skip
    lines = [header]
    for e in entries:
        durable, baseline = e.get("durable", {}), e.get("baseline", {})
        ratio = e.get("throughput_ratio", e.get("value_ratio"))
        met = {True: "yes", False: "NO", None: ""}[e["met"]]
        errors = (durable.get("errors") or 0) + (baseline.get("errors") or 0)
        lines.append(
            [
                e["label"] + (f" [{errors} errors]" if errors else ""),
                str(durable.get("n", baseline.get("n", ""))),
                *_side(durable, e["kind"]),
                *_side(baseline, e["kind"]),
                _num(ratio, "x") if ratio is not None else "",
                _num(e.get("p99_ratio"), "x") if e.get("p99_ratio") is not None else "",
                _cpu(durable),
                _cpu(baseline),
                e.get("target") or "",
                met,
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    left = {0, 12, 13}
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i in left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    )


def markdown(entries: list[dict[str, Any]]) -> str:
    """The results as a Markdown table, for docs/performance.md."""
    lines = [
        "| scenario | n | library | p50 / p99 ms | baseline | p50 / p99 ms | x tput | x p99 "
        "| target | met |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        durable, baseline = e.get("durable", {}), e.get("baseline", {})
        d, b = _side(durable, e["kind"]), _side(baseline, e["kind"])
        ratio = e.get("throughput_ratio", e.get("value_ratio"))
        met = {True: "yes", False: "**no**", None: ""}[e["met"]]
        cells = [
            e["label"],
            str(durable.get("n", baseline.get("n", ""))),
            "" if d[0] in ("late", "missing") else d[0],
            f"{d[1]} / {d[2]}" if d[1] else "",
            "" if b[0] in ("late", "missing") else b[0],
            f"{b[1]} / {b[2]}" if b[1] else "",
            _num(ratio, "x") if ratio is not None else "",
            _num(e.get("p99_ratio"), "x") if e.get("p99_ratio") is not None else "",
            e.get("target") or "",
            met,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    path = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results.json")
    print(markdown(json.loads(path.read_text())["scenarios"]))
