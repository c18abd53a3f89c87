"""The chaos run at a bounded size (``make chaos`` runs it longer): every acknowledged call is
applied exactly once, in each producer's order, and no instance is left stuck, under failed
workflow tasks and activity attempts, killed workers, server restarts, callers that time out
and retry, frequent continue-as-new and a CPU burner (SPEC §10.2).

The callers retry with idempotency keys and ``timeout=`` (SPEC §10.2); run with
``--plain-calls`` (``python -m tests.chaos``) to see what plain retries do: a retry of a call
that was applied after all applies it twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.calls import CallApi
from tests.chaos.harness import ChaosConfig, run_chaos
from tests.chaos.traffic import TrafficPlan

API = CallApi.detect()

pytestmark = pytest.mark.system


@pytest.mark.timeout(420)
async def test_every_acknowledged_call_is_applied_once_in_order_under_chaos(
    tmp_path: Path,
) -> None:
    assert API.complete, f"the harness must use the idempotency API: {API.describe()}"
    config = ChaosConfig(
        directory=tmp_path,
        seconds=60,
        settle_seconds=120,
        workers=2,
        burners=1,
        kill_every=12,
        restart_every=25,
        traffic=TrafficPlan(producers=4, keys=6),
        seed=13,
    )
    result = await run_chaos(config)
    summary = result.summary()
    (tmp_path / "summary.txt").write_text(summary)
    print(summary)
    faults = result.faults
    injected = {
        "failed workflow tasks": sum(n for k, n in faults.items() if k.startswith("workflow_task")),
        "failed activity attempts": faults["activity.before"] + faults["activity.after"],
        "killed workers": faults["worker.killed"],
        "server restarts": faults["server.restarted"],
        "caller timeouts": faults["caller.timeout"],
        "continue-as-new": result.continued_as_new,
    }
    if not all(injected.values()):
        # Not an AssertionError: a run without its faults is broken, not an expected failure.
        pytest.fail(f"a fault was never injected: {injected}\n{summary}")
    assert result.report.ok, summary
