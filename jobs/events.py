"""Lifecycle events of job instances (SPEC §8): Python logging plus registered sinks.

Events come from the handler activity, where the work happened, so a replayed workflow step
never emits again. So far: ``job.executed``, ``job.failed``, ``job.retry_exhausted`` and
``debounce.flushed``; the events of workflow steps (``job.started``, ``job.terminated``,
``debounce.started``, ``task.scheduled``) belong to the operations work. ``jobs.http_sink.HttpEventSink`` posts them to an HTTP endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger("jobs.events")
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
    name: str, *, instance_id: str, id: str, job_kind: str, job_name: str, **fields: Any
) -> JobEvent:
    """Log ``name`` for the instance and hand it to every sink; a failing sink is logged only."""
    event = JobEvent(
        name=name,
        instance_id=instance_id,
        id=id,
        job_kind=job_kind,
        job_name=job_name,
        timestamp=datetime.now(UTC),
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
