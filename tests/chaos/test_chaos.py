"""The chaos run at a bounded size (``make chaos`` runs it longer): every acknowledged call is
applied exactly once, in each producer's order, and no instance is left stuck, under failed
workflow tasks and activity attempts, killed workers, server restarts, callers that time out
and retry, frequent continue-as-new and a CPU burner (SPEC §10.2).

Without the idempotency API the harness can only make plain calls and retry them, and a retry
of a call that was applied after all applies it twice: that is what §10.2 fixes, so until the
client has it the run is expected to find duplicates.
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
@pytest.mark.xfail(
    not API.complete,
    reason="no idempotency_key/timeout API (SPEC 10.2) yet: retried calls apply twice",
    raises=AssertionError,
    strict=False,
)
async def test_every_acknowledged_call_is_applied_once_in_order_under_chaos(
    tmp_path: Path,
) -> None:
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
