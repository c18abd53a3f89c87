"""A remembered answer is measured as the payload converter would encode it, without encoding it.

The sizes feed the budgets that keep what continue-as-new carries under Temporal's payload
limit, so the cheap measure must agree with the real one byte for byte.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.converter import default

from durable_jobs.protocol import CallAnswer, LastError
from durable_jobs.protocol.continuous import ScheduleReply, StartReply, TriggerReply
from durable_jobs.protocol.debounce import AddReply, ClearReply, FlushReply
from durable_jobs.protocol.task import SendReply, TaskTriggerReply
from durable_jobs.workflows.calls import answer_size

NOW = datetime(2026, 12, 1, 13, 29, 39, 123456, tzinfo=UTC)
FAILURE = LastError("ValueError", "the downstream said no " * 20, 3, NOW)

REPLIES: list[Any] = [
    None,
    AddReply(created=True, event_count=1, will_flush_at=NOW),
    AddReply(created=False, event_count=1_000, will_flush_at=None),
    FlushReply(flushed=True, event_count=3, reason="manual"),
    ClearReply(cleared=True, discarded_events=4),
    SendReply(created=True, scheduled_at=NOW),
    SendReply(created=False, scheduled_at=None),
    TaskTriggerReply(triggered=True, succeeded=False, error=FAILURE),
    StartReply(created=True, status="running"),
    TriggerReply(triggered=True, succeeded=True),
    TriggerReply(triggered=True, succeeded=False, error=FAILURE),
    ScheduleReply(done=True, next_run_at=NOW),
]


def _encoded(answer: CallAnswer) -> int:
    return default().payload_converter.to_payloads([answer])[0].ByteSize()


@pytest.mark.parametrize("result", REPLIES, ids=lambda r: type(r).__name__)
@pytest.mark.parametrize("identity", ["0123456789abcdef" * 2, "k:" + "order-42/" * 40])
def test_an_answer_is_measured_as_its_payload(result: Any, identity: str) -> None:
    answer = CallAnswer(
        identity=identity,
        name="add",
        expires_at=NOW + timedelta(minutes=2),
        user_key=identity.startswith("k:"),
        result=result,
    )
    assert answer_size(answer) == _encoded(answer)


@pytest.mark.parametrize("length", [10, 200, 20_000])
def test_a_failure_is_measured_as_its_payload(length: int) -> None:
    message = "é" * length  # escaped in JSON: six bytes each
    answer = CallAnswer(
        identity="0123456789abcdef",
        name="send",
        expires_at=NOW,
        user_key=False,
        error_type="JobExecutionError",
        error_message=message,
        error_details=["task", "machine", "task:machine:1", "ValueError", message, 3, None],
    )
    assert answer_size(answer) == _encoded(answer)


def test_every_reply_type_is_measured_here() -> None:
    replies = {
        cls
        for name in ("continuous", "debounce", "task")
        for _, cls in inspect.getmembers(
            importlib.import_module(f"durable_jobs.protocol.{name}"), inspect.isclass
        )
        if dataclasses.is_dataclass(cls) and cls.__name__.endswith("Reply")
    }
    assert replies == {type(r) for r in REPLIES if r is not None}
