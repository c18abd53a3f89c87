"""Keeping each instance under Temporal's limit of 10 updates in flight per workflow.

Temporal refuses an 11th concurrent update to one workflow (``RESOURCE_EXHAUSTED``), and the
SDK's own retries do not save a burst of them. So a client lets at most
``MAX_UPDATES_IN_FLIGHT`` of its updates run per instance at once (the rest wait their turn, in
order), and sends an update again, with a short backoff, when Temporal gave it back unrecorded:
for bursts from several clients, around continue-as-new, and while a run refuses updates
because it is continuing as new.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from durable_jobs.client._temporal_errors import is_refused_while_continuing, is_update_not_taken

T = TypeVar("T")

MAX_UPDATES_IN_FLIGHT = 8
"""Per instance and client: below Temporal's 10, leaving room for other clients."""

_BUSY_RETRIES = 12
"""Tries of an update Temporal gives back unrecorded (about 6 s in all)."""


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
        """Run ``make_call()`` in a slot, sending it again while it is refused for a moment.

        A run that continues as new refuses updates only until its queued calls are handled,
        so that refusal is sent again without limit, as the call would have waited in the queue.
        """
        async with self.slot(key):
            busy = 0
            for attempt in itertools.count():
                try:
                    return await make_call()
                except Exception as err:
                    if is_update_not_taken(err) and busy < _BUSY_RETRIES - 1:
                        busy += 1
                    elif not is_refused_while_continuing(err):
                        raise
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0) * (0.5 + random.random()))
        raise AssertionError("unreachable")
