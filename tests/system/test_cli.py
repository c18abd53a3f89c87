"""``durable-jobs``, the installed console script, end to end against the dev server (issue 7).

Each call is a real process, as from a shell; the worker runs in the test process.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio.testing import WorkflowEnvironment

from durable_jobs import Continuous, Debounce, DurableJobs, Task, every
from durable_jobs.context import ContinuousContext, DebounceExecuteContext, TaskEventContext
from durable_jobs.testing import JobsTestEnvironment
from tests.integration.helpers import eventually

CLI = str(Path(sys.executable).parent / "durable-jobs")


class Counter(BaseModel):
    n: int = 0


class Hit(BaseModel):
    n: int


async def count(ctx: ContinuousContext[Counter]) -> None:
    ctx.set_state(Counter(n=ctx.state.n + 1))


async def deliver(ctx: DebounceExecuteContext[Hit]) -> None:
    return None


async def note(event: Hit, ctx: TaskEventContext[Counter]) -> None:
    ctx.set_state(Counter(n=(ctx.state.n if ctx.state else 0) + event.n))


async def nothing(ctx: object) -> None:
    return None


jobs = DurableJobs(
    ticker=Continuous(
        state=Counter, schedule=every("1 hour"), execute=count, start_immediately=False
    ),
    hits=Debounce(event=Hit, execute=deliver, flush_after="1 hour"),
    notes=Task(state=Counter, event=Hit, on_event=note, execute=nothing),
)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
async def cli(dev_env: WorkflowEnvironment) -> AsyncIterator[Any]:
    async with await JobsTestEnvironment.attach(dev_env, jobs) as env:
        address = dev_env.client.service_client.config.target_host
        base = ["--jobs", "tests.system.test_cli:jobs", "--address", address]

        async def run(*args: str, stdin: str | None = None) -> Result:
            process = await asyncio.create_subprocess_exec(
                CLI,
                *base,
                "--task-queue",
                env.task_queue,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await process.communicate(stdin.encode() if stdin else b"")
            assert process.returncode is not None
            return Result(process.returncode, out.decode(), err.decode())

        yield run


async def test_continuous_calls_from_a_shell(cli: Any) -> None:
    uid = f"cli-{uuid.uuid4().hex[:8]}"
    started = await cli("--json", "start", "ticker", uid, '{"n": 40}')
    assert started.code == 0, started.err
    assert started.json()["created"] is True
    assert (await cli("--json", "trigger", "ticker", uid)).json()["triggered"] is True
    assert (await cli("--json", "state", "ticker", uid)).json()["state"] == {"n": 41}
    status = (await cli("--json", "status", "ticker", uid)).json()
    assert (status["status"], status["run_count"]) == ("running", 1)
    # Visibility is eventually consistent: poll it, with a deadline.
    listed = await eventually(
        lambda: cli("--json", "list", "ticker"),
        lambda r: uid in [row["id"] for row in r.json()],
        timeout=20,
    )
    assert uid in [row["id"] for row in listed.json()]
    table = await cli("status", "ticker", uid)  # the human form: a table of fields
    assert table.code == 0 and "run_count" in table.out
    terminated = await cli("--json", "terminate", "ticker", uid, "--reason", "from the shell")
    assert terminated.json()["terminated"] is True
    assert (await cli("--json", "status", "ticker", uid)).json()["status"] == "not_found"


async def test_debounce_and_task_calls_read_json_from_stdin(cli: Any) -> None:
    uid = f"cli-{uuid.uuid4().hex[:8]}"
    added = await cli("--json", "add", "hits", uid, stdin='{"n": 1}')
    assert added.code == 0, added.err
    assert (added.json()["created"], added.json()["event_count"]) == (True, 1)
    assert (await cli("--json", "add", "hits", uid, "-", stdin='{"n": 2}')).json()[
        "event_count"
    ] == 2
    assert (await cli("--json", "flush", "hits", uid)).json()["event_count"] == 2
    assert (await cli("--json", "clear", "hits", uid)).json()["cleared"] is False
    sent = await cli("--json", "send", "notes", uid, '{"n": 5}')
    assert sent.json()["created"] is True
    assert (await cli("--json", "state", "notes", uid)).json()["state"] == {"n": 5}


@pytest.mark.parametrize(
    ("args", "stdin", "code", "says"),
    [
        (["status", "nope", "u1"], None, 2, "no job 'nope' in the registry"),
        (["trigger", "hits", "u1"], None, 2, "'trigger' is not a call of debounce jobs"),
        (["add", "hits", "u1", "{not json"], None, 2, "event is not JSON"),
        (["add", "hits", "u1"], '{"n": "many"}', 1, "debounce job 'hits' id 'u1': invalid event"),
        (["start", "ticker", ""], "{}", 1, "ticker"),
    ],
    ids=["unknown-job", "wrong-kind", "bad-json", "invalid-event", "empty-id"],
)
async def test_errors_are_one_line_and_non_zero(
    cli: Any, args: list[str], stdin: str | None, code: int, says: str
) -> None:
    result = await cli(*args, stdin=stdin)
    assert result.code == code
    assert result.err.startswith("error: ") and says in result.err
    assert len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "command",
    [[], *([c] for c in ["status", "start", "add", "send", "list", "terminate", "worker"])],
)
async def test_help_everywhere(cli: Any, command: list[str]) -> None:
    result = await cli(*command, "--help")
    assert result.code == 0 and "Usage: durable-jobs" in result.out
