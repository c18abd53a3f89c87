"""Shared pieces of the integration tests: recording handler calls in virtual time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from temporalio import activity
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

T = TypeVar("T")


@dataclass
class Call:
    """One observed handler call: when the server scheduled it (virtual time) and what it saw."""

    at: datetime
    attempt: int
    run_count: int
    state: object


def virtual_now() -> datetime:
    """When the server scheduled the current activity attempt: virtual time on the test server."""
    return activity.info().current_attempt_scheduled_time


async def workflow_exists(client: Client, workflow_id: str) -> bool:
    """True when any run of ``workflow_id`` exists on the server, open or closed."""
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def history(
    client: Client, workflow_id: str, run_id: str | None = None
) -> list[HistoryEvent]:
    """The events of one run of ``workflow_id`` (default: the current one)."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    return list((await handle.fetch_history()).events)


async def eventually(
    read: Callable[[], Awaitable[T]], check: Callable[[T], bool], *, timeout: float = 10.0
) -> T:
    """Poll ``read()`` until ``check`` accepts its value, for at most ``timeout`` seconds.

    For fire-and-forget calls: Temporal has accepted the signal, the worker applies it soon.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await read()
        if check(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.02)
