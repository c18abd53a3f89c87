"""Job attributes on the handler activity's span, for OpenTelemetry tracing (issue 7).

Tracing itself is Temporal's: put ``temporalio.contrib.opentelemetry.TracingInterceptor()`` in
the client's ``interceptors`` (the worker built from that client inherits it; the ``tracing``
extra installs OpenTelemetry). This adds ``job.kind``, ``job.name``, ``job.id``,
``job.instance_id``, ``job.handler``, ``job.attempt`` and ``job.steps`` (how many queued
messages the call handles) to the span of every handler call.
Without OpenTelemetry installed it does nothing.
"""

from __future__ import annotations

from durable_jobs.activities.steps import handler_of
from durable_jobs.protocol.activities import HandlerCall

try:
    from opentelemetry import trace as _trace
except ImportError:  # the tracing extra is not installed
    _trace = None  # type: ignore[assignment]


def annotate(call: HandlerCall) -> None:
    """Set the job's attributes on the current span, if one is recording."""
    if _trace is None:
        return
    span = _trace.get_current_span()
    if span.is_recording():
        span.set_attributes(
            {
                "job.kind": call.kind,
                "job.name": call.job_name,
                "job.id": call.user_id,
                "job.instance_id": call.instance_id,
                "job.handler": ",".join(handler_of(step) for step in call.steps),
                "job.attempt": call.steps[0].attempt if call.steps else 1,
                "job.steps": len(call.steps),
            }
        )
