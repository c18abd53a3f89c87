"""Lifecycle events of job instances (SPEC §8): Python logging plus registered sinks.

Events come from activities, never from workflow code, so a replayed workflow step never emits
again. The handler activity emits what a handler did (``job.executed``, ``job.failed``,
``job.retry_exhausted``, ``debounce.flushed``, ``task.scheduled``, and ``job.terminated`` by
``ctx.terminate()``); the workflow hands the events of its own steps (``job.started``,
``debounce.started``, ``job.skipped`` for a run a ``catch_up_window`` skipped, and ``job.failed``
for a fire-and-forget call it refused) to the handler call of the same workflow task, or to a
local activity; a client's ``terminate`` emits ``job.terminated`` in the client's process once
Temporal has done it. Activities are at least once, so a worker lost mid-activity can repeat an
event. :class:`durable_jobs.http_sink.HttpEventSink` posts them to an HTTP endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger("durable_jobs.events")
"""Every event is logged here at INFO (``job.failed`` at WARNING), with the event as ``extra``."""


@dataclass(frozen=True)
class JobEvent:
    """One lifecycle event of one instance."""

    name: str
    instance_id: str
    id: str
    job_kind: str
    job_name: str
    timestamp: datetime
    fields: dict[str, Any] = field(default_factory=dict)


EventSink = Callable[[JobEvent], None]
"""A function that receives every event emitted in this process; it must not raise."""

_sinks: list[EventSink] = []


def add_event_sink(sink: EventSink) -> None:
    """Send every event emitted in this process to ``sink`` as well."""
    _sinks.append(sink)


def remove_event_sink(sink: EventSink) -> None:
    """Stop sending events to ``sink``."""
    _sinks.remove(sink)


def emit(
    name: str,
    *,
    instance_id: str,
    id: str,
    job_kind: str,
    job_name: str,
    at: datetime | None = None,
    **fields: Any,
) -> JobEvent:
    """Log ``name`` for the instance and hand it to every sink; a failing sink is logged only.

    ``at`` is when it happened (a workflow step's time), default now.
    """
    event = JobEvent(
        name=name,
        instance_id=instance_id,
        id=id,
        job_kind=job_kind,
        job_name=job_name,
        timestamp=at or datetime.now(UTC),
        fields=fields,
    )
    level = logging.WARNING if name == "job.failed" else logging.INFO
    logger.log(level, "%s %s %s", name, instance_id, fields, extra={"job_event": event})
    for sink in list(_sinks):
        try:
            sink(event)
        except Exception:
            logger.exception("event sink %r failed on %s", sink, name)
    return event
