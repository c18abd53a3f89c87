"""The activity that emits the lifecycle events of workflow steps (SPEC §8).

A workflow may not do I/O, and an event emitted from workflow code would be emitted again on
every replay. So the engine collects the events of its own steps (``job.started``,
``debounce.started``) and hands them to this activity, which Temporal schedules only once the
workflow task that took those steps is durable.
"""

from __future__ import annotations

from temporalio import activity

from activities.protocol import EMIT_STEP_EVENTS, StepEvents
from jobs.events import emit


@activity.defn(name=EMIT_STEP_EVENTS)
async def emit_step_events(call: StepEvents) -> None:
    """Emit ``call``'s events, in the order the workflow took the steps."""
    for event in call.events:
        emit(
            event.name,
            instance_id=call.instance_id,
            id=call.user_id,
            job_kind=call.kind,
            job_name=call.job_name,
            at=event.timestamp,
            **event.fields,
        )
