"""An event sink that posts lifecycle events to an HTTP endpoint in JSON batches (SPEC §8).

>>> from durable_jobs.events import add_event_sink
>>> add_event_sink(HttpEventSink("https://events.example.com/jobs"))   # in the worker process

Calling the sink only appends the event to a bounded buffer, so a job never waits for the
endpoint and never fails because of it. A background task on the running event loop posts
``{"events": [...]}`` batches of up to ``batch_size`` events, at least every
``flush_interval`` seconds; a failed post is retried with exponential backoff, and after
``max_attempts`` the batch is dropped and logged. When the buffer is full the oldest events make
room. Needs the ``http`` extra (``httpx``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

import httpx

from durable_jobs.events import JobEvent

logger = logging.getLogger("durable_jobs.events.http")


class HttpEventSink:
    """Posts events to ``url`` in batches, off the job's path; see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        batch_size: int = 100,
        flush_interval: float = 1.0,
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_buffer: int = 10_000,
        timeout: float = 5.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        if batch_size < 1 or max_buffer < batch_size or max_attempts < 1:
            raise ValueError(
                "HttpEventSink: expected batch_size >= 1, max_buffer >= batch_size and "
                f"max_attempts >= 1; got {batch_size}, {max_buffer} and {max_attempts}"
            )
        self.url = url
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._timeout = timeout
        self._headers = headers or {}
        self._buffer: deque[JobEvent] = deque(maxlen=max_buffer)
        self._task: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None
        self._sending = asyncio.Lock()
        self._closing = False
        self.sent = 0
        """Events the endpoint accepted."""
        self.dropped = 0
        """Events given up on: a full buffer, or a batch whose attempts ran out."""

    def __call__(self, event: JobEvent) -> None:
        """Buffer ``event``; never blocks and never raises."""
        if len(self._buffer) == self._buffer.maxlen:
            self.dropped += 1  # the deque drops the oldest event to make room
        self._buffer.append(event)
        self._ensure_running()
        if self._wakeup is not None and len(self._buffer) >= self._batch_size:
            self._wakeup.set()

    async def flush(self) -> None:
        """Post everything buffered now (each batch with its retries)."""
        if not self._buffer:
            return
        async with self._sending, httpx.AsyncClient(timeout=self._timeout) as http:
            while self._buffer:
                batch = [
                    self._buffer.popleft() for _ in range(min(self._batch_size, len(self._buffer)))
                ]
                await self._post(http, batch)

    async def aclose(self) -> None:
        """Let the background task finish the batch it is posting, then post what is left."""
        self._closing = True
        if self._task is not None and self._wakeup is not None:
            self._wakeup.set()
            await self._task
            self._task = None
        await self.flush()

    def _ensure_running(self) -> None:
        if self._closing or (self._task is not None and not self._task.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop here: the events wait for the next flush()
        self._wakeup = asyncio.Event()
        self._task = loop.create_task(self._run(), name="durable_jobs.events.http")

    async def _run(self) -> None:
        assert self._wakeup is not None
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._flush_interval)
            self._wakeup.clear()
            try:
                await self.flush()
            except Exception:  # never let the background task die
                logger.exception("posting events to %s failed", self.url)

    async def _post(self, http: httpx.AsyncClient, batch: list[JobEvent]) -> None:
        body = {"events": [_as_json(event) for event in batch]}
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = await http.post(self.url, json=body, headers=self._headers)
                response.raise_for_status()
            except httpx.HTTPError as err:
                if attempt == self._max_attempts:
                    self.dropped += len(batch)
                    logger.warning(
                        "dropped %d events after %d attempts to post them to %s: %s",
                        len(batch),
                        attempt,
                        self.url,
                        err,
                    )
                    return
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            else:
                self.sent += len(batch)
                return


def _as_json(event: JobEvent) -> dict[str, Any]:
    """The event as JSON data; fields that JSON cannot carry are sent as their ``str``."""
    return {
        "name": event.name,
        "instance_id": event.instance_id,
        "id": event.id,
        "job_kind": event.job_kind,
        "job_name": event.job_name,
        "timestamp": event.timestamp.isoformat(),
        "fields": {
            key: value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
            for key, value in event.fields.items()
        },
    }
