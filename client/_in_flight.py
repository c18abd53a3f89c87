"""Keeping each instance under Temporal's limit of 10 updates in flight per workflow.

Temporal refuses an 11th concurrent update to one workflow (``RESOURCE_EXHAUSTED``), and the
SDK's own retries do not save a burst of them. So a client lets at most
``MAX_UPDATES_IN_FLIGHT`` of its updates run per instance at once (the rest wait their turn, in
order), and retries the refusal with a short backoff for bursts that come from several clients.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from temporalio.service import RPCError, RPCStatusCode

T = TypeVar("T")

MAX_UPDATES_IN_FLIGHT = 8
"""Per instance and client: below Temporal's 10, leaving room for other clients."""

_RETRIES = 12


class InFlightLimit:
    """At most ``limit`` concurrent calls per key (an instance's workflow ID)."""

    def __init__(self, limit: int = MAX_UPDATES_IN_FLIGHT) -> None:
        self._limit = limit
        self._slots: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        """Hold one of ``key``'s slots for the duration of the block."""
        semaphore, users = self._slots.setdefault(key, (asyncio.Semaphore(self._limit), [0]))
        users[0] += 1
        try:
            async with semaphore:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._slots[key]

    async def call(self, key: str, make_call: Callable[[], Awaitable[T]]) -> T:
        """Run ``make_call()`` in a slot, retrying Temporal's "too many updates" refusal."""
        async with self.slot(key):
            for attempt in range(_RETRIES):
                try:
                    return await make_call()
                except RPCError as err:
                    if err.status != RPCStatusCode.RESOURCE_EXHAUSTED or attempt == _RETRIES - 1:
                        raise
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0) * (0.5 + random.random()))
        raise AssertionError("unreachable")
