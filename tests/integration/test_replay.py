"""Replay recorded histories with the current workflow code (determinism guard).

Any change to workflow code that would change the commands of a running instance makes these
fail: put such a change behind ``workflow.patched``. The histories come from
``tests/histories/scenarios.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from durable_jobs.worker import build_replayer
from tests.histories.scenarios import jobs

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*.json"))


def test_every_kind_has_a_recorded_history() -> None:
    assert {p.stem.split("-")[0] for p in HISTORIES} == {"continuous", "debounce", "task"}


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    recorded = json.loads(path.read_text())
    history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
    result = await build_replayer(jobs).replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
