"""``make run``'s tour prints results as readable lines with ISO 8601 UTC times (issue 17, 4)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import AwareDatetime, BaseModel

from examples.demo import cli_command, readable


class Inner(BaseModel):
    status: str
    delivered_at: AwareDatetime


class Outer(BaseModel):
    created: bool
    state: Inner | None
    scheduled_at: AwareDatetime | None


def test_one_line_of_fields_with_one_spelling_of_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    parsed = Inner.model_validate({"status": "delivered", "delivered_at": "2026-12-01T07:59:51Z"})
    shown = readable(
        Outer(
            created=True,
            state=parsed,
            scheduled_at=datetime(2026, 12, 1, 9, 59, 51, 123456, tzinfo=plus_two),
        )
    )
    assert shown == (
        "created=True  state={status=delivered, delivered_at=2026-12-01T07:59:51Z}  "
        "scheduled_at=2026-12-01T07:59:51Z"
    )
    assert readable(datetime(2026, 12, 1, tzinfo=UTC)) == "2026-12-01T00:00:00Z"


def test_the_closing_hint_names_the_script_where_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(sys.executable).parent.parent.parent
    monkeypatch.chdir(root)
    expected = str((Path(sys.executable).parent / "durable-jobs").relative_to(root))
    assert cli_command(7233) == expected  # e.g. .venv/bin/durable-jobs
    assert cli_command(7300) == f"{expected} --address localhost:7300"
