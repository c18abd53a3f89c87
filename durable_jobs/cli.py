"""``durable-jobs``: the client API from a shell (issue 7).

    durable-jobs --jobs myapp.jobs:jobs status tokenRefresher user-1
    echo '{"type": "x", "contactId": "c1", "data": {}}' | durable-jobs add webhookBatcher c1
    durable-jobs --json list tokenRefresher

Connection settings come from Temporal's environment configuration, like the worker's
(``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, TLS, profiles), with
``--address``/``--namespace``/``--profile`` to override them. A command that fails prints one
line saying why and exits non-zero: 1 for a refusal or failure reported by the jobs library, 2
for bad usage (unknown job or kind, unreadable JSON).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, get_args

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from temporalio.service import RPCError

from durable_jobs._naming import JobKind, instance_id
from durable_jobs._registry import DurableJobs
from durable_jobs.client._search_attributes import register_in, registered_in
from durable_jobs.client.jobs_client import DEFAULT_TASK_QUEUE, JobsClient
from durable_jobs.errors import JobsError
from durable_jobs.protocol import JOB_STATUS, STATUS_MEMO
from durable_jobs.protocol.continuous import ContinuousStatusName
from durable_jobs.protocol.debounce import DebounceStatusName
from durable_jobs.protocol.task import TaskStatusName
from durable_jobs.worker import load_jobs, run_worker

STATUSES: dict[JobKind, tuple[str, ...]] = {
    "continuous": get_args(ContinuousStatusName),
    "debounce": get_args(DebounceStatusName),
    "task": get_args(TaskStatusName),
}
"""The statuses a running instance of each kind can have (``JobStatus``)."""

app = typer.Typer(
    name="durable-jobs",
    help="Start, inspect and steer durable jobs on Temporal.",
    no_args_is_help=True,
    add_completion=False,
)
_out = Console()

JobArg = Annotated[str, typer.Argument(help="The job's registered name.")]
IdArg = Annotated[str, typer.Argument(help="The instance's user id.")]
JsonArg = Annotated[
    str | None, typer.Argument(help="JSON; '-' or nothing reads it from stdin.", show_default=False)
]


@dataclass
class _Settings:
    jobs: str | None
    address: str | None
    namespace: str | None
    profile: str | None
    task_queue: str
    as_json: bool


@app.callback()
def _options(
    ctx: typer.Context,
    jobs: Annotated[
        str | None,
        typer.Option(
            envvar="DURABLE_JOBS",
            help="The registry, as package.module:attribute (else [tool.durable-jobs] jobs "
            "in pyproject.toml).",
            show_default=False,
        ),
    ] = None,
    address: Annotated[str | None, typer.Option(help="host:port of Temporal.")] = None,
    namespace: Annotated[str | None, typer.Option(help="Temporal namespace.")] = None,
    profile: Annotated[str | None, typer.Option(help="Profile of Temporal's config file.")] = None,
    task_queue: Annotated[str, typer.Option(help="The workers' task queue.")] = DEFAULT_TASK_QUEUE,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
) -> None:
    ctx.obj = _Settings(jobs, address, namespace, profile, task_queue, as_json)


def _fail(message: str, code: int) -> NoReturn:
    """Print ``message`` as one line (pydantic's errors span several) and exit with ``code``."""
    print("error: " + " ".join(message.split()), file=sys.stderr)
    raise typer.Exit(code)


def _registry(settings: _Settings) -> DurableJobs:
    # Like `python -m` (and uvicorn, celery): the registry's module may live in the current
    # directory, which a console script does not have on its path.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    spec = settings.jobs or _configured_registry()
    if spec is None:
        _fail(
            "no job registry given: pass --jobs package.module:attribute, set DURABLE_JOBS, or "
            'set jobs = "package.module:attribute" under [tool.durable-jobs] in pyproject.toml',
            2,
        )
    try:
        return load_jobs(spec)
    except JobsError as err:
        _fail(str(err), 2)


def _configured_registry() -> str | None:
    """``jobs`` under ``[tool.durable-jobs]`` of the nearest ``pyproject.toml`` above here."""
    for folder in (Path.cwd(), *Path.cwd().parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                config = tomllib.loads(pyproject.read_text())
            except (OSError, tomllib.TOMLDecodeError):
                return None
            value = config.get("tool", {}).get("durable-jobs", {}).get("jobs")
            return value if isinstance(value, str) else None
    return None


def _kind_of(jobs: DurableJobs, name: str) -> JobKind:
    definition = dict(jobs.items()).get(name)
    if definition is None:
        known = ", ".join(sorted(jobs)) or "none"
        _fail(f"no job {name!r} in the registry (known: {known})", 2)
    kind: JobKind = definition.kind
    return kind


async def _connect(settings: _Settings, jobs: DurableJobs) -> JobsClient:
    return await JobsClient.connect(
        jobs,
        address=settings.address,
        namespace=settings.namespace,
        profile=settings.profile,
        task_queue=settings.task_queue,
    )


def _read_json(value: str | None, what: str) -> Any:
    text = sys.stdin.read() if value in (None, "-") else value
    try:
        return json.loads(text or "")
    except json.JSONDecodeError as err:
        _fail(f"{what} is not JSON: {err}", 2)


def _run(
    ctx: typer.Context, job: str, kinds: set[str], call: Callable[[Any], Awaitable[Any]]
) -> None:
    """Connect, call ``call(handle)`` on the job's handle, print its result."""
    settings: _Settings = ctx.obj
    jobs = _registry(settings)
    kind = _kind_of(jobs, job)
    if kind not in kinds:
        command = ctx.command.name
        _fail(f"{command!r} is not a call of {kind} jobs ({job!r} is a {kind} job)", 2)

    async def go() -> Any:
        client = await _connect(settings, jobs)
        handle = getattr(client, kind)(job)
        return await call(handle)

    try:
        result = asyncio.run(go())
    except JobsError as err:
        _fail(str(err), 1)
    _print(result, settings.as_json)


def _print(result: Any, as_json: bool) -> None:
    data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    if as_json:
        print(json.dumps(data))
        return
    if not isinstance(data, dict):
        _out.print(data)
        return
    table = Table(show_header=False, box=None)
    for key, value in data.items():
        table.add_row(key, json.dumps(value) if isinstance(value, (dict, list)) else str(value))
    _out.print(table)


@app.command()
def status(ctx: typer.Context, job: JobArg, id: IdArg) -> None:
    """The instance's status ('not_found' when it does not exist)."""
    _run(ctx, job, {"continuous", "debounce", "task"}, lambda h: h.status(id))


@app.command()
def state(ctx: typer.Context, job: JobArg, id: IdArg) -> None:
    """The instance's state."""
    _run(ctx, job, {"continuous", "debounce", "task"}, lambda h: h.get_state(id))


@app.command()
def start(ctx: typer.Context, job: JobArg, id: IdArg, input: JsonArg = None) -> None:
    """Start a Continuous instance with INPUT as its state (no change if it exists)."""
    data = _read_json(input, "input")
    _run(ctx, job, {"continuous"}, lambda h: h.start(id=id, input=data))


@app.command()
def trigger(ctx: typer.Context, job: JobArg, id: IdArg) -> None:
    """Run 'execute' now (Continuous, Task)."""
    _run(ctx, job, {"continuous", "task"}, lambda h: h.trigger(id))


@app.command()
def add(ctx: typer.Context, job: JobArg, id: IdArg, event: JsonArg = None) -> None:
    """Add EVENT to a Debounce instance's batch."""
    data = _read_json(event, "event")
    _run(ctx, job, {"debounce"}, lambda h: h.add(id=id, event=data))


@app.command()
def send(ctx: typer.Context, job: JobArg, id: IdArg, event: JsonArg = None) -> None:
    """Send EVENT to a Task instance."""
    data = _read_json(event, "event")
    _run(ctx, job, {"task"}, lambda h: h.send(id=id, event=data))


@app.command()
def flush(ctx: typer.Context, job: JobArg, id: IdArg) -> None:
    """Flush a Debounce instance's batch now."""
    _run(ctx, job, {"debounce"}, lambda h: h.flush(id))


@app.command()
def clear(ctx: typer.Context, job: JobArg, id: IdArg) -> None:
    """Drop a Debounce instance's batch without 'execute'."""
    _run(ctx, job, {"debounce"}, lambda h: h.clear(id))


@app.command()
def terminate(
    ctx: typer.Context,
    job: JobArg,
    id: IdArg,
    reason: Annotated[str | None, typer.Option(help="Recorded with the termination.")] = None,
) -> None:
    """Stop the instance at once and delete it."""
    _run(ctx, job, {"continuous", "debounce", "task"}, lambda h: h.terminate(id, reason=reason))


@app.command("list")
def list_instances(
    ctx: typer.Context,
    job: JobArg,
    running: Annotated[
        bool, typer.Option("--running/--all", help="Only instances whose workflow runs.")
    ] = True,
    status: Annotated[
        str | None,
        typer.Option(help="Only instances with this status (needs the job search attributes)."),
    ] = None,
) -> None:
    """The job's instances and their status, through Temporal visibility."""
    settings: _Settings = ctx.obj
    jobs = _registry(settings)
    kind = _kind_of(jobs, job)
    prefix = instance_id(kind, job, "")
    query = f'WorkflowId STARTS_WITH "{prefix}"'
    if running or status is not None:
        query += ' AND ExecutionStatus = "Running"'
    if status is not None:
        if status not in STATUSES[kind]:
            _fail(f"--status {status!r}: a {kind} job's status is one of {STATUSES[kind]}", 2)
        query += f' AND {JOB_STATUS.name} = "{status}"'

    async def go() -> list[dict[str, str]]:
        client = await _connect(settings, jobs)
        if status is not None and not await registered_in(client.temporal_client):
            raise JobsError(
                f"--status needs the search attributes JobKind, JobName and JobStatus in "
                f"namespace {client.temporal_client.namespace!r}; add them with "
                "'durable-jobs search-attributes'"
            )
        found: dict[str, dict[str, str]] = {}
        async for execution in client.temporal_client.list_workflows(query):
            # Continue-as-new leaves one closed run per earlier run: show each instance once.
            if execution.id in found:
                continue
            summary = (await execution.memo()).get(STATUS_MEMO) or {}
            workflow_status = execution.status.name if execution.status else ""
            found[execution.id] = {
                "id": execution.id.removeprefix(prefix),
                "instance_id": execution.id,
                "status": summary.get("status", "") if workflow_status == "RUNNING" else "",
                "workflow_status": workflow_status,
            }
        return sorted(found.values(), key=lambda row: row["id"])

    try:
        rows = asyncio.run(go())
    except JobsError as err:
        _fail(str(err), 1)
    if settings.as_json:
        print(json.dumps(rows))
        return
    table = Table("id", "status", "workflow_status", "instance_id")
    for row in rows:
        table.add_row(row["id"], row["status"], row["workflow_status"], row["instance_id"])
    _out.print(table)


@app.command("search-attributes")
def search_attributes(ctx: typer.Context) -> None:
    """Add the search attributes JobKind, JobName and JobStatus to the namespace (once)."""
    settings: _Settings = ctx.obj

    async def go() -> str:
        client = await _connect(settings, DurableJobs())
        await register_in(client.temporal_client)
        return client.temporal_client.namespace

    try:
        namespace = asyncio.run(go())
    except JobsError as err:
        _fail(str(err), 1)
    except RPCError as err:
        _fail(f"cannot add search attributes: {err.message}", 1)
    _print(
        {"namespace": namespace, "search_attributes": "JobKind JobName JobStatus"}, settings.as_json
    )


@app.command()
def worker(
    ctx: typer.Context,
    dev: Annotated[bool, typer.Option(help="Start an embedded dev server first.")] = False,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port.")
    ] = None,
) -> None:
    """Run a worker for the registry until Ctrl-C or SIGTERM."""
    settings: _Settings = ctx.obj
    # The worker reads Temporal's environment configuration; the options override it.
    for name, value in [
        ("TEMPORAL_ADDRESS", settings.address),
        ("TEMPORAL_NAMESPACE", settings.namespace),
        ("TEMPORAL_PROFILE", settings.profile),
    ]:
        if value is not None:
            os.environ[name] = value
    jobs = _registry(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(
            run_worker(jobs, task_queue=settings.task_queue, dev=dev, metrics_port=metrics_port)
        )
    except JobsError as err:
        _fail(str(err), 1)


def main() -> None:
    """The console script's entry point.

    It leaves with ``os._exit`` once the command is done: temporalio's bridge threads can abort
    the interpreter at exit ("PyGILState_Release", sdk-python issue 300), which would turn a
    successful command into a crash.
    """
    code = 0
    try:
        app()
    except SystemExit as done:
        if isinstance(done.code, str):
            print(done.code, file=sys.stderr)
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
