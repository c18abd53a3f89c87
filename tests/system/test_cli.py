"""``durable-jobs``, the installed console script, end to end against the dev server (issue 7).

Each call is a real process, as from a shell; the worker runs in the test process.
"""

from __future__ import annotations

import asyncio
import json
import os
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
    # No test starts one: its list is empty.
    quiet=Continuous(state=Counter, schedule=every("1 hour"), execute=count),
)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


async def run_cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> Result:
    """Run the installed ``durable-jobs`` script with ``args``, as from a shell.

    ``env`` adds to (or, with an empty value, removes from) this process's environment.
    """
    environment = {**os.environ, **(env or {})}
    for name, value in (env or {}).items():
        if value == "":
            del environment[name]
    process = await asyncio.create_subprocess_exec(
        CLI,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    out, err = await process.communicate(stdin.encode() if stdin else b"")
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


def cli_for(env: JobsTestEnvironment, module: str = __name__) -> Any:
    """``run_cli`` with the registry ``{module}:jobs``, the server and the task queue of ``env``."""
    address = env.temporal_client.service_client.config.target_host
    base = ["--jobs", f"{module}:jobs", "--address", address, "--task-queue", env.task_queue]

    async def run(
        *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        return await run_cli(*base, *args, stdin=stdin, env=env)

    return run


@pytest.fixture
async def cli(dev_env: WorkflowEnvironment) -> AsyncIterator[Any]:
    async with await JobsTestEnvironment.attach(dev_env, jobs) as env:
        yield cli_for(env)


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
        (["start", "ticker", ""], "{}", 1, "ticker"),
    ],
    ids=["unknown-job", "wrong-kind", "bad-json", "empty-id"],
)
async def test_errors_are_one_line_and_non_zero(
    cli: Any, args: list[str], stdin: str | None, code: int, says: str
) -> None:
    result = await cli(*args, stdin=stdin)
    assert result.code == code
    assert result.err.startswith("error: ") and says in result.err
    assert len(result.err.strip().splitlines()) == 1


async def test_a_refused_input_shows_each_problem_on_a_short_line(cli: Any) -> None:
    result = await cli("add", "hits", "u1", stdin='{"n": "many"}')
    assert result.code == 1
    first, *problems = result.err.strip().splitlines()
    assert first.startswith("error: debounce job 'hits' id 'u1': invalid event; expected Hit")
    assert problems == [
        '  n: Input should be a valid integer, unable to parse string as an integer (got "many")'
    ]
    missing = await cli("send", "notes", "u1", stdin="{}")
    assert missing.err.strip().splitlines()[1:] == ["  n: Field required"]
    assert "https://" not in result.err + missing.err  # not pydantic's rendering, with its URLs


async def test_with_json_a_failure_is_one_json_object_on_stderr(cli: Any) -> None:
    refused = await cli("--json", "add", "hits", "u1", stdin='{"n": "many"}')
    assert (refused.code, refused.out) == (1, "")
    report = json.loads(refused.err)
    assert report["error"].startswith("debounce job 'hits' id 'u1': invalid event")
    [error] = report["errors"]  # pydantic's error list, whole
    assert (error["loc"], error["type"], error["input"]) == (["n"], "int_parsing", "many")
    assert error["msg"].startswith("Input should be a valid integer")
    usage = await cli("--json", "status", "nope", "u1")
    assert usage.code == 2
    assert json.loads(usage.err) == {
        "error": "no job 'nope' in the registry (known: hits, notes, quiet, ticker)",
        "errors": [],
    }


async def test_an_empty_list_says_so(cli: Any) -> None:
    listed = await cli("list", "quiet")
    assert (listed.code, listed.out.strip()) == (0, "no instances")
    assert (await cli("--json", "list", "quiet")).json() == []


@pytest.mark.parametrize(
    "command",
    [
        [],
        *(
            [c]
            for c in [
                "status",
                "start",
                "add",
                "send",
                "list",
                "terminate",
                "worker",
                "codec-server",
            ]
        ),
    ],
)
async def test_help_everywhere(cli: Any, command: list[str]) -> None:
    result = await cli(*command, "--help")
    assert result.code == 0 and "Usage: durable-jobs" in result.out
