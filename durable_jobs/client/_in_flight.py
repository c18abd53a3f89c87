"""Keeping each instance under Temporal's limit of 10 updates in flight per workflow.

Temporal refuses an 11th concurrent update to one workflow (``RESOURCE_EXHAUSTED``), and the
SDK's own retries do not save a burst of them. So a client lets at most
``MAX_UPDATES_IN_FLIGHT`` of its updates run per instance at once (the rest wait their turn, in
order), and sends an update again, with a short backoff, when Temporal gave it back unrecorded
(bursts from several clients, a workflow task that failed before accepting it) or the instance
gave it back unapplied (its run is continuing as new, or it ended before handling it). Every
resend carries the same update ID and call identity, so none can apply twice.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from durable_jobs.client._temporal_errors import is_given_back, is_update_not_taken

T = TypeVar("T")

MAX_UPDATES_IN_FLIGHT = 8
"""Per instance and client: below Temporal's 10, leaving room for other clients."""

_BUSY_RETRIES = 12
"""Tries of an update Temporal gives back unrecorded (about 6 s in all)."""


class InFlightLimit:
    """At most ``limit`` concurrent calls per key (an instance's workflow ID).

    Only keys with calls in flight take memory: a key's slot goes when its last call ends.
    """

    def __init__(self, limit: int = MAX_UPDATES_IN_FLIGHT) -> None:
        self._limit = limit
        self._slots: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    def __len__(self) -> int:
        return len(self._slots)

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

    async def call(self, key: str, make_call: Callable[[int], Awaitable[T]]) -> T:
        """Run ``make_call(round)`` in a slot, sending it again while it is given back.

        A run that continues as new gives updates back only until its queued calls are
        handled, and an ending instance only until it closes, so those are sent again without
        limit, as the call would have waited in the queue; the caller's ``timeout`` bounds it.
        ``round`` counts the give-backs: a given-back update was not applied, so each round may
        use an update ID of its own (Temporal answers a repeated update ID on a closed run with
        that run's old answer). Updates Temporal gave back unrecorded are sent again in the same
        round: one of them may yet be applied, and the same ID keeps it from applying twice.
        """
        async with self.slot(key):
            busy = given_back = 0
            for attempt in itertools.count():
                try:
                    return await make_call(given_back)
                except Exception as err:
                    if is_update_not_taken(err) and busy < _BUSY_RETRIES - 1:
                        busy += 1
                    elif is_given_back(err):
                        given_back += 1
                    else:
                        raise
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0) * (0.5 + random.random()))
        raise AssertionError("unreachable")
