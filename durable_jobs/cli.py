"""``durable-jobs``: the client API from a shell (issue 7).

    durable-jobs --jobs myapp.jobs:jobs status tokenRefresher user-1
    echo '{"type": "x", "contactId": "c1", "data": {}}' | durable-jobs add webhookBatcher c1
    durable-jobs --json list tokenRefresher
    durable-jobs --key-file keys.txt codec-server --port 8081

Connection settings come from Temporal's environment configuration, like the worker's
(``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS_*``,
profiles of ``TEMPORAL_CONFIG_FILE``), with ``--address``/``--namespace``/``--profile`` to
override them. Encrypted jobs (:class:`~durable_jobs.codec.AesGcmCodec`) need the workers' keys:
``--key-file PATH`` (``DURABLE_JOBS_KEY_FILE``), lines ``key_id=base64key`` or a JSON object,
and ``--key-id`` (``DURABLE_JOBS_KEY_ID``) naming the key that encrypts when the file has
several (see :mod:`durable_jobs.codec`); every command, ``worker`` and ``codec-server`` included,
then encrypts and decrypts with them.

A command that fails prints ``error: ...`` on stderr and exits non-zero: 1 for a refusal or
failure reported by the jobs library, 2 for bad usage (unknown job or kind, unreadable JSON or
key file, encrypted data and no keys). The message is one line; a refused input adds one
indented line per problem (``  field: what is wrong (got value)``). With ``--json`` the failure
is one JSON object on stderr instead, ``{"error": "...", "errors": [...]}``, where ``errors``
is pydantic's full error list for a refused input (else empty); stdout carries only results.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from temporalio.service import RPCError

from durable_jobs._naming import JobKind
from durable_jobs._registry import DurableJobs
from durable_jobs.client import ContinuousHandle, DebounceHandle, TaskHandle
from durable_jobs.client._search_attributes import register_in
from durable_jobs.client.jobs_client import DEFAULT_TASK_QUEUE, JobsClient
from durable_jobs.codec import ENCODING, AesGcmCodec
from durable_jobs.codec_server import DEFAULT_PORT, DEFAULT_UI_ORIGIN
from durable_jobs.errors import JobsError, JobValidationError, UnreadablePayloadError
from durable_jobs.schedules import cron, every
from durable_jobs.worker import DEV_SERVER_PORT, load_jobs, run_worker

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
    key_file: Path | None = None
    key_id: str | None = None


_current: _Settings | None = None
"""This run's settings, for :func:`_fail` (failures are reported as JSON with ``--json``)."""


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
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print results as JSON; a failure as one JSON object on stderr."
        ),
    ] = False,
    key_file: Annotated[
        Path | None,
        typer.Option(
            envvar="DURABLE_JOBS_KEY_FILE",
            help="The workers' AesGcmCodec keys, to read and write encrypted jobs: one "
            "key_id=base64key a line (base64 of 32 bytes; '#' comments), or a JSON object "
            '{"key_id": "base64key"}. Add a key: echo "2026-12=$(openssl rand -base64 32)" '
            ">> keys.txt",
            show_default=False,
        ),
    ] = None,
    key_id: Annotated[
        str | None,
        typer.Option(
            envvar="DURABLE_JOBS_KEY_ID",
            help="The key of --key-file that encrypts (needed when it holds several; "
            "the others still decrypt).",
            show_default=False,
        ),
    ] = None,
) -> None:
    global _current
    ctx.obj = _current = _Settings(
        jobs, address, namespace, profile, task_queue, as_json, key_file=key_file, key_id=key_id
    )


def _fail(message: str, code: int, errors: list[dict[str, Any]] | None = None) -> NoReturn:
    """Report a failure on stderr and exit with ``code``.

    One line (with ``--json``, one JSON object); ``errors`` (pydantic's list of a refused
    input) adds one short line per problem.
    """
    line = " ".join(message.split())
    if _as_json():
        print(json.dumps({"error": line, "errors": errors or []}, default=str), file=sys.stderr)
    else:
        print("\n".join(["error: " + line, *(_problem(e) for e in errors or [])]), file=sys.stderr)
    raise typer.Exit(code)


def _as_json() -> bool:
    return _current is not None and _current.as_json


def _problem(error: dict[str, Any]) -> str:
    """One of pydantic's errors as ``  field: what is wrong (got value)``."""
    field = ""
    for part in error.get("loc", ()):
        field += f"[{part}]" if isinstance(part, int) else f".{part}" if field else str(part)
    line = f"  {field or '(the whole value)'}: {error.get('msg', 'invalid')}"
    if error.get("type") != "missing" and "input" in error:
        shown = json.dumps(error["input"], default=str)
        line += f" (got {shown if len(shown) <= 60 else shown[:57] + '...'})"
    return line


def _refused(err: JobsError) -> NoReturn:
    """Fail with a library's refusal: a refused input shows its problems, not pydantic's text."""
    if isinstance(err, JobValidationError) and err.errors:
        # The message ends with pydantic's own rendering (several lines, with URLs); the
        # problems are shown from the error list instead.
        _fail(str(err).splitlines()[0], 1, err.errors)
    _fail(str(err), 1)


def _codec(settings: _Settings) -> AesGcmCodec | None:
    """The codec of ``--key-file``/``--key-id``, or None when no keys were given."""
    if settings.key_file is None:
        if settings.key_id is not None:
            _fail("--key-id needs --key-file (or DURABLE_JOBS_KEY_FILE) with the keys", 2)
        return None
    try:
        return AesGcmCodec.from_key_file(settings.key_file, key_id=settings.key_id)
    except JobsError as err:
        _fail(str(err), 2)


def _undecodable(err: Exception, settings: _Settings) -> NoReturn:
    """Fail for a payload that could not be decoded, saying which keys it needs."""
    if settings.key_file is None and ENCODING.decode() in str(err):
        _fail(
            f"the data is encrypted ({ENCODING.decode()}); expected the workers' keys: pass "
            "--key-file PATH (or set DURABLE_JOBS_KEY_FILE)",
            2,
        )
    _fail(f"cannot decode the data: {type(err).__name__}: {err}", 1)


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


async def _connect(
    settings: _Settings, jobs: DurableJobs, codec: AesGcmCodec | None = None
) -> JobsClient:
    return await JobsClient.connect(
        jobs,
        address=settings.address,
        namespace=settings.namespace,
        profile=settings.profile,
        task_queue=settings.task_queue,
        codec=codec,
    )


def _read_json(value: str | None, what: str) -> Any:
    text = sys.stdin.read() if value in (None, "-") else value
    try:
        return json.loads(text or "")
    except json.JSONDecodeError as err:
        _fail(f"{what} is not JSON: {err}", 2)


def _run(
    ctx: typer.Context,
    job: str,
    kinds: set[str],
    call: Callable[[Any], Awaitable[Any]],
    *,
    show: Callable[[Any, bool], None] | None = None,
) -> None:
    """Connect, call ``call(handle)`` on the job's handle, print its result (with ``show``)."""
    settings: _Settings = ctx.obj
    jobs = _registry(settings)
    kind = _kind_of(jobs, job)
    if kind not in kinds:
        command = ctx.command.name
        _fail(f"{command!r} is not a call of {kind} jobs ({job!r} is a {kind} job)", 2)

    codec = _codec(settings)

    async def go() -> Any:
        client = await _connect(settings, jobs, codec)
        handle = getattr(client, kind)(job)
        return await call(handle)

    try:
        result = asyncio.run(go())
    except UnreadablePayloadError as err:
        _undecodable(err, settings)
    except JobsError as err:
        _refused(err)
    (show or _print)(result, settings.as_json)


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
    id: Annotated[
        str | None, typer.Argument(help="The instance's user id (not with --all).")
    ] = None,
    all_instances: Annotated[
        bool, typer.Option("--all", help="Every running instance of the job (a batch operation).")
    ] = False,
    status: Annotated[
        str | None,
        typer.Option(
            help="With --all: only instances with this status (needs the job search attributes)."
        ),
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Recorded with the termination.")] = None,
) -> None:
    """Stop the instance at once and delete it; with --all, every instance (or --status S)."""
    if all_instances == (id is not None):
        _fail("terminate needs an instance id or --all (not both)", 2)
    if status is not None and not all_instances:
        _fail("--status goes with --all", 2)
    _check_status(ctx, job, status)
    kinds = {"continuous", "debounce", "task"}
    if id is not None:
        _run(ctx, job, kinds, lambda h: h.terminate(id, reason=reason))
        return

    async def everything(h: Any) -> dict[str, Any]:
        return {"terminated": await h.terminate_all(status, reason=reason)}

    _run(ctx, job, kinds, everything)


@app.command()
def pause(
    ctx: typer.Context,
    job: JobArg,
    id: IdArg,
    reason: Annotated[str | None, typer.Option(help="Shown with the paused status.")] = None,
) -> None:
    """Stop a Continuous instance's schedule until 'resume' (a 'trigger' still runs once)."""
    _run(ctx, job, {"continuous"}, lambda h: h.pause(id, reason=reason))


@app.command()
def resume(ctx: typer.Context, job: JobArg, id: IdArg) -> None:
    """Schedule a paused or stopped Continuous instance's next run from now."""
    _run(ctx, job, {"continuous"}, lambda h: h.resume(id))


@app.command()
def reschedule(
    ctx: typer.Context,
    job: JobArg,
    id: IdArg,
    every_: Annotated[
        str | None, typer.Option("--every", help='A fixed delay, like "30 minutes".')
    ] = None,
    cron_: Annotated[
        str | None, typer.Option("--cron", help='A cron expression, like "0 9 * * *".')
    ] = None,
    tz: Annotated[str, typer.Option(help="The IANA time zone of --cron.")] = "UTC",
    jitter: Annotated[
        str | None, typer.Option(help='Delay each run by a random time up to this, like "1m".')
    ] = None,
) -> None:
    """Run a Continuous instance on a new schedule from now on, keeping its state."""
    if (every_ is None) == (cron_ is None):
        _fail("reschedule needs --every or --cron (one of them)", 2)
    try:
        schedule = (
            every(every_, jitter=jitter)
            if every_ is not None
            else cron(cron_ or "", tz, jitter=jitter)
        )
    except JobsError as err:
        _fail(str(err), 2)
    _run(ctx, job, {"continuous"}, lambda h: h.reschedule(id, schedule))


@app.command("list")
def list_instances(
    ctx: typer.Context,
    job: JobArg,
    status: Annotated[
        str | None,
        typer.Option(help="Only instances with this status (needs the job search attributes)."),
    ] = None,
) -> None:
    """The job's running instances and their status, through Temporal visibility."""
    _check_status(ctx, job, status)

    async def rows(h: Any) -> list[dict[str, str]]:
        found = [summary.model_dump(mode="json") async for summary in h.list(status)]
        return sorted(found, key=lambda row: row["id"])

    _run(ctx, job, {"continuous", "debounce", "task"}, rows, show=_print_rows)


@app.command()
def count(
    ctx: typer.Context,
    job: JobArg,
    status: Annotated[
        str | None,
        typer.Option(help="Only instances with this status (needs the job search attributes)."),
    ] = None,
) -> None:
    """How many running instances the job has."""
    _check_status(ctx, job, status)

    async def counted(h: Any) -> dict[str, Any]:
        return {"count": await h.count(status)}

    _run(ctx, job, {"continuous", "debounce", "task"}, counted)


def _check_status(ctx: typer.Context, job: str, status: str | None) -> None:
    """A ``--status`` the job's kind cannot have is bad usage (exit 2), found before connecting."""
    if status is None:
        return
    kind = _kind_of(_registry(ctx.obj), job)
    statuses = _HANDLES[kind].statuses
    if status not in statuses:
        _fail(f"--status {status!r}: a {kind} job's status is one of {statuses}", 2)


_HANDLES: dict[JobKind, type[Any]] = {
    "continuous": ContinuousHandle,
    "debounce": DebounceHandle,
    "task": TaskHandle,
}


def _print_rows(rows: list[dict[str, str]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows))
        return
    if not rows:
        print("no instances")
        return
    table = Table("id", "status", "instance_id")
    for row in rows:
        table.add_row(row["id"], row["status"], row["instance_id"])
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
    dev_port: Annotated[
        int, typer.Option(help="The embedded dev server's gRPC port (its web UI: this + 1000).")
    ] = DEV_SERVER_PORT,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port.")
    ] = None,
) -> None:
    """Run a worker for the registry until Ctrl-C or SIGTERM (with --key-file: encrypted)."""
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
    codec = _codec(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(
            run_worker(
                jobs,
                task_queue=settings.task_queue,
                dev=dev,
                metrics_port=metrics_port,
                codec=codec,
                dev_port=dev_port,
            )
        )
    except JobsError as err:
        _fail(str(err), 1)


@app.command("codec-server")
def codec_server(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="The port to listen on.")] = DEFAULT_PORT,
    host: Annotated[
        str, typer.Option(help="The address to listen on; anyone who reaches it can decrypt.")
    ] = "127.0.0.1",
    allow_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="A web UI origin whose pages may call the server (CORS, with credentials); "
            f"repeat for several; '*' for any (without credentials). Default: {DEFAULT_UI_ORIGIN}",
            show_default=False,
        ),
    ] = None,
    allow_namespace: Annotated[
        list[str] | None,
        typer.Option(
            help="Serve only requests whose X-Namespace is this namespace; repeat for several. "
            "Default: any namespace.",
            show_default=False,
        ),
    ] = None,
    auth: Annotated[
        str | None,
        typer.Option(
            envvar="DURABLE_JOBS_CODEC_AUTH",
            help="Require exactly this Authorization header (temporal --codec-auth VALUE).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve --key-file's keys to Temporal's web UI and CLI (codec server protocol).

    Temporal's tools then show encrypted job state decrypted. Runs until Ctrl-C or SIGTERM.

    Web UI: Settings -> Codec Server endpoint http://127.0.0.1:PORT, or for everyone:
    temporal server start-dev --ui-codec-endpoint http://127.0.0.1:PORT

    CLI: temporal workflow show -w WORKFLOW_ID --codec-endpoint http://127.0.0.1:PORT
    (or TEMPORAL_CODEC_ENDPOINT)
    """
    from durable_jobs.codec_server import CodecServer

    settings: _Settings = ctx.obj
    codec = _codec(settings)
    if codec is None:
        _fail(
            "codec-server needs the workers' keys; expected --key-file PATH (or "
            "DURABLE_JOBS_KEY_FILE) before the command: durable-jobs --key-file keys.txt "
            "codec-server",
            2,
        )
    origins = allow_origin or [DEFAULT_UI_ORIGIN]
    try:
        server = CodecServer(
            codec,
            host=host,
            port=port,
            allowed_origins=origins,
            namespaces=allow_namespace,
            authorization=auth,
        )
    except OSError as err:
        _fail(f"{err.strerror}; expected a free port (--port N)", 1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    print(
        f"codec server on {server.url}: keys {', '.join(codec.key_ids)}, {codec.key_id!r} "
        f"encrypts; web UI origins {', '.join(origins)}"
        + (f"; namespaces {', '.join(allow_namespace)}" if allow_namespace else "")
        + "\n"
        f"  web UI: Settings -> Codec Server endpoint {server.url}\n"
        f"  CLI:    temporal workflow show -w WORKFLOW_ID --codec-endpoint {server.url}\n"
        "Ctrl-C stops it.",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM stops the server the way Ctrl-C does.
    raise KeyboardInterrupt


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
