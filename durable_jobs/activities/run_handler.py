"""The one activity that runs user handlers, for every kind of job.

It finds the definition in the worker's registry, rebuilds the typed state, builds the handler's
context, runs the handler (``async def`` directly, ``def`` in a thread) within the definition's
``timeout``, and returns a :class:`~activities.protocol.HandlerOutcome`. A user's exception is an
outcome, never an activity failure; only infrastructure faults are left to Temporal's retries.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

from temporalio import activity
from temporalio.exceptions import ApplicationError

from durable_jobs._models import from_data, type_name
from durable_jobs._naming import JobKind
from durable_jobs._registry import DurableJobs
from durable_jobs.activities import metrics, tracing
from durable_jobs.activities.step_events import emit_all
from durable_jobs.context import (
    ContinuousContext,
    DebounceExecuteContext,
    ErrorSource,
    FlushReason,
    IdleReason,
    TaskContext,
    TaskErrorContext,
    TaskEventContext,
    TaskIdleContext,
    TerminateRequested,
)
from durable_jobs.definitions import Continuous, Debounce, Task
from durable_jobs.durations import parse_duration
from durable_jobs.errors import ExecutionError, JobNotFoundError
from durable_jobs.events import emit
from durable_jobs.protocol.activities import (
    HEARTBEAT_TIMEOUT,
    RUN_HANDLER,
    HandlerCall,
    HandlerError,
    HandlerOutcome,
)

_HEARTBEAT_EVERY = HEARTBEAT_TIMEOUT / 4


class HandlerActivities:
    """The handler-running activity, bound to the registry of the worker that hosts it."""

    def __init__(self, jobs: DurableJobs) -> None:
        self._jobs = jobs

    @activity.defn(name=RUN_HANDLER)
    async def run_handler(self, call: HandlerCall) -> HandlerOutcome:
        """Run the handler ``call`` names and report what it did."""
        tracing.annotate(call)
        definition = self._definition(call)
        emit_all(
            call.step_events,
            kind=call.kind,
            job_name=call.job_name,
            instance_id=call.instance_id,
            user_id=call.user_id,
        )
        started = time.monotonic()
        heartbeats = asyncio.create_task(_heartbeat_forever())
        try:
            outcome = await self._run(definition, call)
        finally:
            heartbeats.cancel()
        outcome.duration_ms = round((time.monotonic() - started) * 1000)
        _report(call, outcome)
        metrics.record(call, outcome)
        return outcome

    def _definition(self, call: HandlerCall) -> Any:
        try:
            return self._jobs.get(cast(JobKind, call.kind), call.job_name)[1]
        except JobNotFoundError as err:
            raise ApplicationError(
                f"this worker has no {call.kind} job named {call.job_name!r} "
                f"(instance {call.instance_id!r}); run a worker whose DurableJobs registers it",
                type="JobNotRegistered",
                non_retryable=True,
            ) from err

    async def _run(self, definition: Any, call: HandlerCall) -> HandlerOutcome:
        try:
            if isinstance(definition, Continuous) and call.handler == "execute":
                return await _run_continuous_execute(definition, call)
            if isinstance(definition, Debounce) and call.handler == "execute":
                return await _run_debounce_execute(definition, call)
            if isinstance(definition, Task) and call.handler in _TASK_HANDLERS:
                return await _run_task_handler(definition, call)
        except _StoredDataError as err:
            return _failed(err.original, err.context)
        raise ApplicationError(
            f"{call.kind} job {call.job_name!r} has no handler {call.handler!r}",
            type="JobNotRegistered",
            non_retryable=True,
        )


async def _run_continuous_execute(definition: Continuous[Any], call: HandlerCall) -> HandlerOutcome:
    ctx: ContinuousContext[Any] = ContinuousContext(
        job_name=call.job_name,
        instance_id=call.instance_id,
        id=call.user_id,
        attempt=call.attempt,
        run_count=call.run_count,
        state=_stored(definition.state, call.state),
    )
    return await run_user_handler(
        definition.execute,
        (ctx,),
        timeout=parse_duration(definition.timeout),
        commit=lambda outcome: setattr(outcome, "state", ctx.state.model_dump(mode="json")),
    )


async def _run_debounce_execute(
    definition: Debounce[Any, Any], call: HandlerCall
) -> HandlerOutcome:
    assert call.started_at is not None and call.flush_reason is not None
    ctx: DebounceExecuteContext[Any] = DebounceExecuteContext(
        job_name=call.job_name,
        instance_id=call.instance_id,
        id=call.user_id,
        attempt=call.attempt,
        state=_stored(definition.state, call.state),
        event_count=call.event_count,
        started_at=call.started_at,
        flush_reason=cast(FlushReason, call.flush_reason),
    )
    return await run_user_handler(
        definition.execute,
        (ctx,),
        timeout=parse_duration(definition.timeout),
        commit=lambda outcome: None,
    )


class _StoredDataError(Exception):
    """Data the instance carries no longer fits the job's model (it changed under the instance)."""

    def __init__(self, original: Exception, context: str) -> None:
        super().__init__(context)
        self.original = original
        self.context = context


def _stored(type_: Any, data: Any) -> Any:
    """The instance's stored data as the job's model; a mismatch is a handler failure."""
    try:
        return from_data(type_, data)
    except Exception as exc:
        raise _StoredDataError(exc, f"stored data does not fit {type_name(type_)}") from exc


_TASK_HANDLERS = {
    "on_event": TaskEventContext,
    "execute": TaskContext,
    "on_idle": TaskIdleContext,
    "on_error": TaskErrorContext,
}


async def _run_task_handler(definition: Task[Any, Any], call: HandlerCall) -> HandlerOutcome:
    handler = getattr(definition, call.handler)
    assert handler is not None and call.now is not None and call.created_at is not None
    state = None if call.state is None else _stored(definition.state, call.state)
    ctx = _TASK_HANDLERS[call.handler](
        job_name=call.job_name,
        instance_id=call.instance_id,
        id=call.user_id,
        attempt=call.attempt,
        state_type=definition.state,
        state=state,
        scheduled_at=call.scheduled_at,
        now=call.now,
        event_count=call.event_count,
        execute_count=call.execute_count,
        created_at=call.created_at,
    )
    args: tuple[Any, ...] = (ctx,)
    if isinstance(ctx, TaskEventContext):
        ctx.is_first_event = call.is_first_event
        args = (_stored(definition.event, call.event), ctx)
    elif isinstance(ctx, TaskIdleContext):
        ctx.idle_reason = cast(IdleReason, call.idle_reason)
    elif isinstance(ctx, TaskErrorContext):
        ctx.error_source = cast(ErrorSource, call.error_source)
        assert call.error is not None
        args = (_as_execution_error(call), ctx)

    def commit(outcome: HandlerOutcome) -> None:
        outcome.state = None if ctx.state is None else ctx.state.model_dump(mode="json")
        outcome.scheduled_at = ctx.scheduled_at

    return await run_user_handler(
        handler, args, timeout=parse_duration(definition.timeout), commit=commit
    )


def _as_execution_error(call: HandlerCall) -> ExecutionError:
    """The failure ``on_error`` receives: which handler failed and how."""
    assert call.error is not None
    return ExecutionError(
        kind="task",
        job_name=call.job_name,
        instance_id=call.instance_id,
        error_type=call.error.error_type,
        error_message=call.error.message,
    )


def _report(call: HandlerCall, outcome: HandlerOutcome) -> None:
    """Emit the lifecycle event of one handler call (SPEC §8)."""
    who: dict[str, Any] = {
        "instance_id": call.instance_id,
        "id": call.user_id,
        "job_kind": call.kind,
        "job_name": call.job_name,
    }
    if outcome.terminated:
        emit("job.terminated", **who, reason=outcome.terminate_reason)
    if outcome.ok:
        if call.kind == "task" and outcome.scheduled_at not in (None, call.scheduled_at):
            assert outcome.scheduled_at is not None
            emit(
                "task.scheduled",
                **who,
                scheduled_at=outcome.scheduled_at.isoformat(),
                trigger=call.handler,
            )
        if call.handler == "execute" and not outcome.terminated:
            emit(
                "job.executed",
                **who,
                run_count=call.run_count or call.execute_count,
                attempt=call.attempt,
                duration_ms=outcome.duration_ms,
            )
            if call.kind == "debounce":
                emit(
                    "debounce.flushed",
                    **who,
                    event_count=call.event_count,
                    reason=call.flush_reason,
                )
        return
    assert outcome.error is not None
    error = f"{outcome.error.error_type}: {outcome.error.message}"
    emit(
        "job.failed",
        **who,
        handler=call.handler,
        error=error,
        attempt=call.attempt,
        will_retry=call.will_retry,
    )
    if call.handler == "execute" and not call.will_retry:
        emit("job.retry_exhausted", **who, attempt=call.attempt, error=error)


async def run_user_handler(
    handler: Callable[..., Any],
    args: tuple[Any, ...],
    *,
    timeout: timedelta,
    commit: Callable[[HandlerOutcome], None],
) -> HandlerOutcome:
    """Call ``handler(*args)`` within ``timeout`` and report the outcome.

    ``commit(outcome)`` copies the context's state (and alarm) into the outcome, after success
    and after failure alike; the workflow decides what of it to keep.
    """
    try:
        await asyncio.wait_for(_call(handler, args), timeout.total_seconds())
    except TerminateRequested as stop:
        return HandlerOutcome(ok=True, terminated=True, terminate_reason=stop.reason)
    except TimeoutError as exc:
        outcome = _failed(exc, f"the handler did not finish within its timeout of {timeout}")
    except asyncio.CancelledError:
        raise  # the activity itself is being cancelled (terminate, worker shutdown)
    except _EscapedBaseError as escaped:
        outcome = _failed(escaped.original)
    except Exception as exc:
        outcome = _failed(exc)
    else:
        outcome = HandlerOutcome(ok=True)
    try:
        commit(outcome)
    except Exception as exc:
        return _failed(exc, "the new state could not be serialised")
    return outcome


class _EscapedBaseError(Exception):
    """Carries a ``SystemExit``/``KeyboardInterrupt``/... a user handler raised.

    asyncio re-raises those from the event loop itself, which would take the worker down; as a
    handler failure they are reported like any other error (and retried per policy).
    """

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


async def _call(handler: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    try:
        if inspect.iscoroutinefunction(handler):
            return await handler(*args)
        result = await asyncio.to_thread(handler, *args)
        if inspect.isawaitable(result):
            return await result
        return result
    except (asyncio.CancelledError, TerminateRequested, Exception):
        raise
    except BaseException as exc:
        raise _EscapedBaseError(exc) from exc


def _failed(exc: BaseException, context: str | None = None) -> HandlerOutcome:
    message = str(exc) or repr(exc)
    if context:
        message = f"{context}: {message}"
    return HandlerOutcome(ok=False, error=HandlerError(type(exc).__name__, message))


async def _heartbeat_forever() -> None:
    """Heartbeat while the handler runs: lets Temporal notice a lost worker and deliver cancels."""
    while True:
        activity.heartbeat()
        await asyncio.sleep(_HEARTBEAT_EVERY.total_seconds())
