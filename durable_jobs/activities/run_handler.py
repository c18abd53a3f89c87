"""The one activity that runs user handlers, for every kind of job.

It finds the definition in the worker's registry, runs the call's steps
(:mod:`durable_jobs.activities.steps`), emits the lifecycle events of what they did and records
metrics. A user's exception is a step outcome, never an activity failure; only infrastructure
faults are left to Temporal's retries.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from temporalio import activity
from temporalio.exceptions import ApplicationError

from durable_jobs._naming import JobKind
from durable_jobs._registry import DurableJobs
from durable_jobs.activities import metrics, tracing
from durable_jobs.activities.step_events import emit_all
from durable_jobs.activities.steps import handler_of, run_steps
from durable_jobs.errors import JobNotFoundError
from durable_jobs.events import emit
from durable_jobs.protocol import NOT_REGISTERED_ERROR_TYPE
from durable_jobs.protocol.activities import (
    HEARTBEAT_TIMEOUT,
    RUN_HANDLER,
    HandlerCall,
    HandlerOutcome,
    HandlerStep,
    StepOutcome,
)

_HEARTBEAT_EVERY = HEARTBEAT_TIMEOUT / 4


class HandlerActivities:
    """The handler-running activity, bound to the registry of the worker that hosts it."""

    def __init__(self, jobs: DurableJobs) -> None:
        self._jobs = jobs

    @activity.defn(name=RUN_HANDLER)
    async def run_handler(self, call: HandlerCall) -> HandlerOutcome:
        """Run the steps ``call`` holds and report what each did."""
        tracing.annotate(call)
        definition = self._definition(call)
        emit_all(
            call.step_events,
            kind=call.kind,
            job_name=call.job_name,
            instance_id=call.instance_id,
            user_id=call.user_id,
        )
        heartbeats = asyncio.create_task(_heartbeat_forever())
        try:
            outcome = await run_steps(definition, call)
        finally:
            heartbeats.cancel()
        for step, step_outcome in zip(call.steps, outcome.steps, strict=False):
            _report(call, step, step_outcome)
            metrics.record(call, step, step_outcome)
        return outcome

    def _definition(self, call: HandlerCall) -> Any:
        try:
            return self._jobs.get(cast(JobKind, call.kind), call.job_name)[1]
        except JobNotFoundError as err:
            raise ApplicationError(
                f"this worker has no {call.kind} job named {call.job_name!r} "
                f"(instance {call.instance_id!r}); its jobs: {sorted(self._jobs)}",
                type=NOT_REGISTERED_ERROR_TYPE,
                non_retryable=True,
            ) from err


def _report(call: HandlerCall, step: HandlerStep, outcome: StepOutcome) -> None:
    """Emit the lifecycle events of one step (SPEC §8)."""
    who: dict[str, Any] = {
        "instance_id": call.instance_id,
        "id": call.user_id,
        "job_kind": call.kind,
        "job_name": call.job_name,
    }
    runs_execute = step.name in ("run", "flush", "trigger", "alarm")
    if outcome.terminated:
        emit("job.terminated", **who, reason=outcome.terminate_reason)
        return
    if outcome.ok:
        if call.kind == "task" and outcome.scheduled_at not in (None, call.scheduled_at):
            assert outcome.scheduled_at is not None
            emit(
                "task.scheduled",
                **who,
                scheduled_at=outcome.scheduled_at.isoformat(),
                trigger=handler_of(step),
            )
        if runs_execute:
            emit(
                "job.executed",
                **who,
                run_count=step.run_count or outcome.execute_count,
                attempt=step.attempt,
                duration_ms=outcome.duration_ms,
            )
            if call.batch is not None:
                emit(
                    "debounce.flushed",
                    **who,
                    event_count=call.batch.event_count,
                    reason=call.batch.flush_reason,
                )
    if outcome.error is not None:
        error = f"{outcome.error.error_type}: {outcome.error.message}"
        emit(
            "job.failed",
            **who,
            handler=handler_of(step),
            error=error,
            attempt=step.attempt,
            will_retry=step.will_retry,
        )
        if runs_execute and not step.will_retry:
            emit("job.retry_exhausted", **who, attempt=step.attempt, error=error)
    if outcome.idle_error is not None:
        emit(
            "job.failed",
            **who,
            handler="on_idle",
            error=f"{outcome.idle_error.error_type}: {outcome.idle_error.message}",
            attempt=1,
            will_retry=False,
        )


async def _heartbeat_forever() -> None:
    """Heartbeat while the handlers run: lets Temporal notice a lost worker and deliver cancels.

    A local activity cannot heartbeat (its workflow task notices a lost worker). The first
    heartbeat waits a quarter of the timeout, which Temporal counts from the start: a short
    handler call then costs the server no heartbeat request at all.
    """
    if activity.info().is_local:
        return
    while True:
        await asyncio.sleep(_HEARTBEAT_EVERY.total_seconds())
        activity.heartbeat()
