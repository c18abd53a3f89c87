"""``make run``: the dev server, a worker with the example jobs, and a short tour of each.

Runs until Ctrl-C. The dev server keeps its data in ``.temporal/dev.db``, so instances started
here are still there next time (``start`` then answers ``created=False``).
``python -m examples.demo --port 7300`` (``make run DEV_PORT=7300``) moves the dev server's gRPC
port and, by the same offset, its web UI (8233) and the worker's metrics (9464) ports, for when
another server holds the default ones.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from durable_jobs.client import JobsClient
from durable_jobs.errors import JobsError
from durable_jobs.worker import DEV_METRICS_PORT, DEV_SERVER_PORT, DEV_UI_PORT, run_worker
from examples import jobs
from examples.order_processor import notifier, order_processor
from examples.token_refresher import TokenState, token_refresher
from examples.webhook_batcher import WebhookEvent, sink, webhook_batcher


def readable(value: Any) -> str:
    """A result as one line: ``field=value`` pairs, times in ISO 8601 UTC (``...T05:59:51Z``)."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, dict):
        return "  ".join(f"{key}={_inner(item)}" for key, item in value.items())
    return _inner(value)


def _inner(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={_inner(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_inner(item) for item in value) + "]"
    return str(value)


def show(label: str, value: object) -> None:
    """Print one step of the tour."""
    print(f"  {label:<22} {readable(value)}", flush=True)


async def wait_for_runs(client: JobsClient, user_id: str, runs: int, timeout: float = 15) -> None:
    """Poll the status until ``runs`` runs happened (bounded by ``timeout`` seconds)."""
    handle = client.continuous(token_refresher)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = await handle.status(user_id)
        if (status.run_count or 0) >= runs:
            return
        await asyncio.sleep(0.2)


async def token_refresher_tour(client: JobsClient) -> None:
    """Start tokenRefresher for a user, watch its first run, trigger a second one."""
    handle = client.continuous(token_refresher)
    user_id = "user-123"
    print(f"\ntokenRefresher (every 30 minutes) for {user_id}", flush=True)
    started = await handle.start(id=user_id, input=TokenState(refresh_token="rt_demo"))
    show("start", started)
    runs_before = (await handle.status(user_id)).run_count or 0
    await wait_for_runs(client, user_id, max(runs_before, 1))
    show("status", await handle.status(user_id))
    show("state", (await handle.get_state(user_id)).state)
    show("trigger", await handle.trigger(user_id))
    show("status after trigger", await handle.status(user_id))


async def webhook_batcher_tour(client: JobsClient) -> None:
    """A burst of webhooks for one contact, the 5-second flush, the status before and after."""
    handle = client.debounce(webhook_batcher)
    contact = "contact-456"
    print(f"\nwebhookBatcher (flush 5 s after the first event, or at 100) for {contact}")
    for i in range(5):
        event = WebhookEvent(type="contact.updated", contactId="456", data={"field": i})
        show(f"add #{i + 1}", await handle.add(id=contact, event=event))
    show("status before flush", await handle.status(contact))
    sent = len(sink.batches)
    deadline = time.monotonic() + 15
    while len(sink.batches) == sent and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    if len(sink.batches) > sent:
        show("sink received", f"one batch of {sink.batches[-1].count} events")
    show("status after flush", await handle.status(contact))


async def order_processor_tour(client: JobsClient) -> None:
    """An order from placed to delivered, with its reminder alarm, until it removes itself."""
    handle = client.task(order_processor)
    order_id = f"order-{int(time.time())}"
    print(f"\norderProcessor for {order_id}")
    placed = {"_tag": "OrderPlaced", "orderId": order_id, "totalCents": 4200}
    show("send OrderPlaced", await handle.send(id=order_id, event=placed))
    reminders_before = len(notifier.sent)
    deadline = time.monotonic() + 10
    while len(notifier.sent) == reminders_before and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    show("reminder alarm fired", await handle.status(order_id))
    payment = {"_tag": "PaymentReceived", "amountCents": 4200}
    show("send PaymentReceived", await handle.send(id=order_id, event=payment))
    shipped = {"_tag": "Shipped", "trackingNumber": "1Z999"}
    show("send Shipped", await handle.send(id=order_id, event=shipped))
    for wanted in ("delivered", None):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            order = (await handle.get_state(order_id)).state
            if (order.status if order else None) == wanted:
                break
            await asyncio.sleep(0.3)
        show("state" if wanted else "after clean-up", await handle.get_state(order_id))
    show("status", await handle.status(order_id))


def cli_command(port: int) -> str:
    """How to call the ``durable-jobs`` script of this interpreter from the current directory.

    It is not on PATH unless the venv is activated: ``make run`` leaves it in ``.venv/bin``.
    """
    script = Path(sys.executable).parent / "durable-jobs"
    try:
        shown = str(script.relative_to(Path.cwd()))
    except ValueError:
        shown = str(script)
    # The registry comes from [tool.durable-jobs] jobs in the repository's pyproject.toml.
    if port != DEV_SERVER_PORT:
        shown += f" --address localhost:{port}"
    return shown


def addresses(port: int) -> str:
    """Where the web UI and the metrics are."""
    offset = port - DEV_SERVER_PORT
    return (
        f"Temporal web UI: http://localhost:{DEV_UI_PORT + offset}/namespaces/default/workflows\n"
        f"Worker metrics:  http://localhost:{DEV_METRICS_PORT + offset}/metrics"
    )


def tour_for(port: int) -> Any:
    """The whole demo, once the worker is up, for a dev server on ``port``."""

    async def tour(client: JobsClient) -> None:
        print(f"\n{addresses(port)}", flush=True)
        try:
            await token_refresher_tour(client)
            await webhook_batcher_tour(client)
            await order_processor_tour(client)
        except JobsError as err:
            print(f"\nthe tour stopped: {err}", file=sys.stderr, flush=True)
        cli = cli_command(port)
        print(f"\n{addresses(port)}")
        print("The worker keeps running; Ctrl-C stops it and the server. From another shell here:")
        print(f"  {cli} list tokenRefresher")
        print(f"  {cli} status tokenRefresher user-123", flush=True)

    return tour


def main(argv: list[str] | None = None) -> int:
    """Run the dev server, the worker and the tour until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--port",
        type=int,
        default=DEV_SERVER_PORT,
        help="the dev server's gRPC port; the web UI and metrics ports move by as much",
    )
    port = parser.parse_args(argv).port
    offset = port - DEV_SERVER_PORT
    try:
        asyncio.run(
            run_worker(
                jobs,
                task_queue="durable-jobs",
                dev=True,
                then=tour_for(port),
                metrics_port=DEV_METRICS_PORT + offset,
                dev_port=port,
                dev_other_ports="make run DEV_PORT=7300 (moves the web UI and metrics ports as well)",
            )
        )
    except JobsError as err:
        print(f"make run: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # temporalio's bridge threads can abort the interpreter at exit (sdk-python issue 300).
    os._exit(status)
