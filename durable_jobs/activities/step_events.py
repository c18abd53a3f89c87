"""The (local) activity that emits the lifecycle events of workflow steps (SPEC §8).

A workflow may not do I/O, and an event emitted from workflow code would be emitted again on
every replay. So the engine collects the events of its own steps (``job.started``,
``debounce.started``) and hands them to an activity: to the handler call that the same workflow
task schedules when there is one (so they come before its events), else to this one, as a local
activity recorded with that workflow task (see ``EntityEngine._emit_step_events``).
"""

from __future__ import annotations

from temporalio import activity

from durable_jobs.events import emit
from durable_jobs.protocol.activities import EMIT_STEP_EVENTS, StepEvent, StepEvents


@activity.defn(name=EMIT_STEP_EVENTS)
async def emit_step_events(call: StepEvents) -> None:
    """Emit ``call``'s events, in the order the workflow took the steps."""
    emit_all(
        call.events,
        kind=call.kind,
        job_name=call.job_name,
        instance_id=call.instance_id,
        user_id=call.user_id,
    )


def emit_all(
    events: list[StepEvent], *, kind: str, job_name: str, instance_id: str, user_id: str
) -> None:
    """Emit step ``events`` of one instance, in order, each at its step's time."""
    for event in events:
        emit(
            event.name,
            instance_id=instance_id,
            id=user_id,
            job_kind=kind,
            job_name=job_name,
            at=event.timestamp,
            **event.fields,
        )
