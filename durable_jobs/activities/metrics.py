"""Job-level metrics, recorded through the Temporal runtime's meter (SPEC §8, issue 7).

They appear next to Temporal's own worker metrics wherever the runtime exports them (``python
worker.py --metrics-port 9464`` serves Prometheus); with no exporter they cost nothing. Every
series carries ``job_kind`` and ``job_name`` besides the activity's own attributes.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity

from durable_jobs.activities.steps import handler_of
from durable_jobs.protocol.activities import HandlerCall, HandlerStep, StepOutcome


def record(call: HandlerCall, step: HandlerStep, outcome: StepOutcome) -> None:
    """Count one step's handler call and its duration; a Debounce flush also its batch size."""
    meter = activity.metric_meter().with_additional_attributes(
        {"job_kind": call.kind, "job_name": call.job_name, "handler": handler_of(step)}
    )
    meter.create_counter(
        "durable_jobs_handler_calls", "User handler calls; outcome is ok or failed."
    ).add(1, {"outcome": "ok" if outcome.ok else "failed"})
    meter.create_histogram_timedelta(
        "durable_jobs_handler_duration", "Time spent in the user handler.", "ms"
    ).record(timedelta(milliseconds=outcome.duration_ms))
    if call.batch is not None and outcome.ok:
        meter.create_counter("durable_jobs_flushes", "Debounce batches delivered.").add(1)
        meter.create_histogram(
            "durable_jobs_batch_size", "Events in each delivered Debounce batch."
        ).record(call.batch.event_count)
