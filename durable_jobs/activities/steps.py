"""The user code each step of a handler call runs, per kind (SPEC §4, §5).

A handler call holds the steps of one or more queued messages of one instance. They run in
order, each on the state the previous step left; a step that fails keeps nothing of its own
(a Task's ``on_error`` that returns normally keeps its changes). The typed state is kept
between steps and written back (and measured against the payload budget) once per step that
changed it. After a step that terminated the instance no further step runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from durable_jobs._models import from_data, json_size, type_name
from durable_jobs._state import StoredStateError, load_state
from durable_jobs.activities.user_code import HandlerResult, call_handler, failure
from durable_jobs.context import (
    ContinuousContext,
    DebounceExecuteContext,
    ErrorSource,
    FlushReason,
    TaskContext,
    TaskErrorContext,
    TaskEventContext,
    TaskIdleContext,
)
from durable_jobs.definitions import Continuous, Debounce, JobDefinition, Task
from durable_jobs.durations import parse_duration
from durable_jobs.errors import ExecutionError
from durable_jobs.protocol import MAX_STATE_BYTES
from durable_jobs.protocol.activities import (
    HandlerCall,
    HandlerError,
    HandlerOutcome,
    HandlerStep,
    StepOutcome,
)


def handler_of(step: HandlerStep) -> str:
    """The handler a step is named by in events and metrics: ``on_event`` or ``execute``."""
    return (
        "on_event" if step.name == "send" else "on_error" if step.name == "recover" else "execute"
    )


class StoredDataError(Exception):
    """Data the instance carries no longer fits the job's model (it changed under the instance)."""

    def __init__(self, original: Exception, what: str) -> None:
        super().__init__(what)
        self.error = failure(original, what)


def stored(type_: Any, data: Any) -> Any:
    """The instance's stored data as the job's model; a mismatch is a handler failure."""
    try:
        return from_data(type_, data)
    except Exception as exc:
        raise StoredDataError(exc, f"stored data does not fit {type_name(type_)}") from exc


def stored_state(runner: _Runner) -> Any:
    """The instance's state as the job's current model, migrated first if it is older.

    Migrated state is kept even if every step then fails: the migration is not a step's change,
    and it runs once per instance.
    """
    call, definition = runner.call, runner.definition
    try:
        state = load_state(definition, call.state, call.state_version)
    except StoredStateError as err:
        raise StoredDataError(err, "cannot read the instance's state") from err
    if call.state is not None and call.state_version < definition.state_version:
        committed = _commit(definition.state, state, "migrate")
        if isinstance(committed, HandlerError):
            raise StoredDataError(ValueError(committed.message), "the migrated state")
        runner.keep(committed)
    return state


@dataclass
class _Committed:
    """The state a step left, as JSON-ready data, with its size."""

    data: Any
    size: int


def _commit(model: Any, state: Any, handler: str) -> _Committed | HandlerError:
    """``state`` as JSON-ready data, or the failure when it cannot be kept (too big, NaN)."""
    try:
        data = None if state is None else state.model_dump(mode="json")
        size = json_size(data)
    except Exception as exc:
        return failure(exc, "the new state could not be serialised")
    if size > MAX_STATE_BYTES:
        return HandlerError(
            "StateTooLarge",
            f"the state {handler} set is {size:,} bytes as JSON, over the limit of "
            f"{MAX_STATE_BYTES:,} bytes (Temporal refuses payloads over 2 MB); nothing of it was "
            "kept",
        )
    return _Committed(data, size)


class _Runner:
    """Runs the steps of one handler call against one definition."""

    def __init__(self, definition: JobDefinition, call: HandlerCall) -> None:
        self.definition = definition
        self.call = call
        self.timeout: timedelta = parse_duration(definition.timeout)
        self.state_data: Any = call.state
        self.state_bytes = 0
        self.state_changed = False

    async def handler(self, handler: Any, *args: Any) -> HandlerResult:
        return await call_handler(
            handler, args, timeout=self.timeout, instance_id=self.call.instance_id
        )

    def keep(self, committed: _Committed) -> None:
        self.state_data, self.state_bytes, self.state_changed = (
            committed.data,
            committed.size,
            True,
        )

    def outcome(self, steps: list[StepOutcome]) -> HandlerOutcome:
        if not self.state_changed:
            return HandlerOutcome(steps=steps)
        return HandlerOutcome(
            steps=steps,
            state=self.state_data,
            state_bytes=self.state_bytes,
            state_changed=True,
            state_version=self.definition.state_version,
        )


async def run_steps(definition: JobDefinition, call: HandlerCall) -> HandlerOutcome:
    """Run every step of ``call`` and report each one's outcome."""
    runner = _Runner(definition, call)
    try:
        if isinstance(definition, Continuous):
            return await _continuous(runner, definition)
        if isinstance(definition, Debounce):
            return await _debounce(runner, definition)
        return await _task(runner, definition)
    except StoredDataError as err:
        return HandlerOutcome(steps=[StepOutcome(ok=False, error=err.error) for _ in call.steps])


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


async def _continuous(runner: _Runner, definition: Continuous[Any]) -> HandlerOutcome:
    call = runner.call
    state = stored_state(runner)
    outcomes: list[StepOutcome] = []
    for step in call.steps:
        started = time.monotonic()
        ctx: ContinuousContext[Any] = ContinuousContext(
            job_name=call.job_name,
            instance_id=call.instance_id,
            id=call.user_id,
            attempt=step.attempt,
            run_count=step.run_count,
            state=state,
        )
        result = await runner.handler(definition.execute, ctx)
        outcome = StepOutcome(ok=result.ok, error=result.error)
        if result.terminated:
            outcome.terminated, outcome.terminate_reason = True, result.terminate_reason
        elif result.ok and ctx.state is not state:
            committed = _commit(definition.state, ctx.state, "execute")
            if isinstance(committed, HandlerError):
                outcome.ok, outcome.error = False, committed
            else:
                runner.keep(committed)
                state = ctx.state
        outcome.duration_ms = _elapsed_ms(started)
        outcomes.append(outcome)
        if outcome.terminated:
            break
    return runner.outcome(outcomes)


async def _debounce(runner: _Runner, definition: Debounce[Any, Any]) -> HandlerOutcome:
    call, batch = runner.call, runner.call.batch
    assert batch is not None
    started = time.monotonic()
    ctx: DebounceExecuteContext[Any] = DebounceExecuteContext(
        job_name=call.job_name,
        instance_id=call.instance_id,
        id=call.user_id,
        attempt=call.steps[0].attempt,
        state=stored_state(runner),
        event_count=batch.event_count,
        started_at=batch.started_at,
        flush_reason=cast(FlushReason, batch.flush_reason),
    )
    result = await runner.handler(definition.execute, ctx)
    outcome = StepOutcome(
        ok=result.ok,
        error=result.error,
        terminated=result.terminated,
        terminate_reason=result.terminate_reason,
        duration_ms=_elapsed_ms(started),
    )
    return runner.outcome([outcome])


@dataclass
class _TaskPoint:
    """Where a Task stands between steps: what the next step's contexts start from."""

    state: Any
    scheduled_at: Any
    event_count: int
    execute_count: int


async def _task(runner: _Runner, definition: Task[Any, Any]) -> HandlerOutcome:
    call = runner.call
    point = _TaskPoint(
        state=stored_state(runner),
        scheduled_at=call.scheduled_at,
        event_count=call.event_count,
        execute_count=call.execute_count,
    )
    outcomes: list[StepOutcome] = []
    for step in call.steps:
        started = time.monotonic()
        outcome, point = await _task_step(runner, definition, step, point)
        outcome.duration_ms = _elapsed_ms(started)
        outcomes.append(outcome)
        if outcome.terminated:
            break
    return runner.outcome(outcomes)


def _task_context(
    runner: _Runner,
    context_type: type[TaskContext[Any]],
    point: _TaskPoint,
    *,
    attempt: int = 1,
) -> Any:
    call = runner.call
    assert call.created_at is not None
    definition = cast(Task[Any, Any], runner.definition)
    return context_type(
        job_name=call.job_name,
        instance_id=call.instance_id,
        id=call.user_id,
        attempt=attempt,
        state_type=definition.state,
        state=point.state,
        scheduled_at=point.scheduled_at,
        now=call.now,
        event_count=point.event_count,
        execute_count=point.execute_count,
        created_at=call.created_at,
    )


def _after(ctx: TaskContext[Any], point: _TaskPoint) -> _TaskPoint:
    """The point a handler that returned normally leaves: its state and alarm."""
    return _TaskPoint(ctx.state, ctx.scheduled_at, point.event_count, point.execute_count)


def _reverted(step: HandlerStep, before: _TaskPoint, point: _TaskPoint) -> _TaskPoint:
    """Where a step that failed leaves the task: nothing of its own is kept.

    A send takes its count back; a run of ``execute`` stays counted; an alarm that fired stays
    consumed.
    """
    if step.name == "send":
        return before
    scheduled_at = before.scheduled_at if step.name == "trigger" else None
    return _TaskPoint(before.state, scheduled_at, point.event_count, point.execute_count)


def _outcome(point: _TaskPoint, *, error: HandlerError | None = None) -> StepOutcome:
    return StepOutcome(
        ok=error is None,
        error=error,
        scheduled_at=point.scheduled_at,
        event_count=point.event_count,
        execute_count=point.execute_count,
    )


def _terminated(result: HandlerResult) -> StepOutcome:
    return StepOutcome(ok=True, terminated=True, terminate_reason=result.terminate_reason)


async def _task_step(
    runner: _Runner, definition: Task[Any, Any], step: HandlerStep, before: _TaskPoint
) -> tuple[StepOutcome, _TaskPoint]:
    """One Task step; returns its outcome and the point the next step starts from.

    ``send``: ``on_event``; ``trigger`` and ``alarm``: ``execute``; ``recover``: nothing (an
    ``execute`` already failed with no attempt left). A failure is then offered to ``on_error``
    (for ``alarm`` only on its last attempt), and ``on_idle`` runs when nothing is scheduled
    (not after a ``send`` or ``trigger`` that failed unhandled).
    """
    source: ErrorSource = "on_event" if step.name == "send" else "execute"
    # Counters move before the handler runs: a send counts itself, attempt 1 of execute counts
    # a run. A fired alarm is consumed before execute runs.
    point = _TaskPoint(
        before.state,
        None if step.name in ("alarm", "recover") else before.scheduled_at,
        before.event_count + (step.name == "send"),
        before.execute_count + (step.name in ("trigger", "alarm") and step.attempt == 1),
    )
    error, handled_error = step.error, None
    partial: TaskContext[Any] = _task_context(runner, TaskContext, point)
    result = HandlerResult(error=error)
    if step.name == "send":
        try:
            event = stored(definition.event, step.event)
        except StoredDataError as err:
            return _outcome(before, error=err.error), before
        event_ctx = _task_context(runner, TaskEventContext, point)
        event_ctx.is_first_event = point.event_count == 1
        partial = event_ctx
        result = await runner.handler(definition.on_event, event, event_ctx)
    elif step.name in ("trigger", "alarm"):
        partial = _task_context(runner, TaskContext, point, attempt=step.attempt)
        result = await runner.handler(definition.execute, partial)
    if result.terminated:
        return _terminated(result), point
    error = result.error
    if error is None:
        point = _after(partial, point)
    elif step.name == "alarm" and step.will_retry:
        failed = _reverted(step, before, point)  # the workflow retries it
        return _outcome(failed, error=error), failed
    else:
        handled = await _offer_to_on_error(runner, definition, error, source, partial, point)
        if isinstance(handled, HandlerResult):
            return _terminated(handled), point
        if handled is not None:
            point, error, handled_error = _after(handled, point), None, error
        elif step.name in ("send", "trigger"):
            failed = _reverted(step, before, point)
            return _outcome(failed, error=error), failed
        else:  # a run with no attempt left that nothing handled: the task goes idle
            point = _reverted(step, before, point)
    idle_error = None
    if point.scheduled_at is None and definition.on_idle is not None:
        idle_ctx = _task_context(runner, TaskIdleContext, point)
        idle_ctx.idle_reason = source
        idled = await runner.handler(definition.on_idle, idle_ctx)
        if idled.terminated:
            return _terminated(idled), point
        if idled.ok:
            point = _after(idle_ctx, point)
        idle_error = idled.error
    if point.state is not before.state:
        committed = _commit(definition.state, point.state, handler_of(step))
        if isinstance(committed, HandlerError):
            failed = _reverted(step, before, point)
            return _outcome(failed, error=committed), failed
        runner.keep(committed)
    outcome = _outcome(point, error=error)
    outcome.idle_error = idle_error
    outcome.handled_error = handled_error if source == "execute" else None
    return outcome, point


async def _offer_to_on_error(
    runner: _Runner,
    definition: Task[Any, Any],
    error: HandlerError,
    source: ErrorSource,
    partial: TaskContext[Any],
    point: _TaskPoint,
) -> TaskErrorContext[Any] | HandlerResult | None:
    """``on_error`` on the failed handler's partial changes: its context if it handled the
    failure, its result if it terminated the instance, else ``None``."""
    if definition.on_error is None:
        return None
    error_ctx = _task_context(
        runner,
        TaskErrorContext,
        _TaskPoint(partial.state, partial.scheduled_at, point.event_count, point.execute_count),
    )
    error_ctx.error_source = source
    result = await runner.handler(
        definition.on_error, _as_execution_error(runner.call, error), error_ctx
    )
    if result.terminated:
        return result
    return error_ctx if result.ok else None


def _as_execution_error(call: HandlerCall, error: HandlerError) -> ExecutionError:
    """The failure ``on_error`` receives: which handler failed and how."""
    return ExecutionError(
        kind="task",
        job_name=call.job_name,
        instance_id=call.instance_id,
        error_type=error.error_type,
        error_message=error.message,
    )
