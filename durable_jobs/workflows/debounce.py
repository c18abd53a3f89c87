"""The Debounce entity workflow: fold events per key, flush one batch (SPEC §5.2).

Workflow ID ``debounce:{name}:{id}``. ``add`` (update-with-start) folds the event into the batch
right in its update handler: the reducer is pure by contract and runs in the workflow, so an add
costs no activity, and synchronous handlers apply adds in exactly the order Temporal delivers
them. The one alarm is the flush deadline (or the next retry). ``flush`` and ``clear`` go through
the engine's ordered queue. While a flush attempt runs, new events are held in arrival order and
folded when it ends: into a new batch after success, into the same batch after a failure.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from durable_jobs._models import from_data, to_data, type_name
    from durable_jobs._registry import registry_for_task_queue
    from durable_jobs.context import DebounceEventContext
    from durable_jobs.protocol import LastError
    from durable_jobs.protocol.activities import HandlerCall, HandlerError
    from durable_jobs.protocol.debounce import (
        AddReply,
        AddRequest,
        ClearReply,
        DebounceInput,
        DebounceRecord,
        DebounceStatusView,
        FlushReply,
        HeldEvent,
    )
    from durable_jobs.workflows.engine import EntityEngine, Message, handler_error


@workflow.defn(name="DebounceJob")
class DebounceJobWorkflow(EntityEngine):
    """One Debounce job instance (one key)."""

    @workflow.init
    def __init__(self, input: DebounceInput) -> None:
        self._start_engine(
            kind="debounce",
            job_name=input.spec.job_name,
            pending=input.pending,
            new_instance=input.record is None,
        )
        self._spec = input.spec
        self._start_token = input.start_token
        self._record = input.record or DebounceRecord(user_id=self._user_id())
        # A new instance exists for the add that created it: never end before that add ran.
        self._has_work_arrived = input.record is not None
        self._flushing = False

    @workflow.run
    async def run(self, input: DebounceInput) -> None:
        """Run until the batch is flushed or cleared with nothing new behind it."""
        await self._run_loop()

    # --- client calls ---------------------------------------------------------------------

    @workflow.update(name="add")
    def add(self, request: AddRequest) -> AddReply:
        """Fold one event into the batch (or hold it behind a running flush)."""
        return self._add(request)

    @add.validator
    def _validate_add(self, request: AddRequest) -> None:
        self._refuse_while_continuing()

    @workflow.signal(name="add.nowait")
    def add_nowait(self, request: AddRequest) -> None:
        """``add`` without waiting: folded the same way, in delivery order."""
        try:
            self._add(request)
        except ApplicationError as err:
            self._note_failure(self._failure(handler_error(err), 1))

    def _add(self, request: AddRequest) -> AddReply:
        self._has_work_arrived = True
        self._count_message()
        created = bool(request.start_token) and request.start_token == self._start_token
        record, now = self._record, workflow.now()
        if self._flushing:
            self._fold_check(request.event)
            record.held.append(HeldEvent(request.event, now))
            return AddReply(created=created, event_count=len(record.held), will_flush_at=None)
        self._fold(request.event, now)
        return AddReply(
            created=created, event_count=record.event_count, will_flush_at=record.will_flush_at
        )

    @workflow.signal(name="flush.nowait")
    def flush_nowait(self) -> None:
        """``flush`` without waiting: the same queue."""
        self._post("flush")

    @workflow.update(name="flush")
    async def flush(self) -> FlushReply:
        """Flush now and wait for the attempt; ``reason="empty"`` when there is nothing."""
        result: FlushReply = await self._submit("flush")
        return result

    @flush.validator
    def _validate_flush(self) -> None:
        self._refuse_while_continuing()

    @workflow.update(name="clear")
    async def clear(self) -> ClearReply:
        """Drop the batch without ``execute``."""
        result: ClearReply = await self._submit("clear")
        return result

    @clear.validator
    def _validate_clear(self) -> None:
        self._refuse_while_continuing()

    @workflow.query(name="status")
    def status(self) -> DebounceStatusView:
        """The status summary; the memo keeps a copy for when no worker runs."""
        return self._status_view()

    def _status_view(self) -> DebounceStatusView:
        """``debouncing`` while events wait, else ``idle``.

        While a flush attempt runs, ``event_count`` counts the events held behind it, as
        ``add`` reports them.
        """
        record = self._record
        waiting = record.event_count > 0 or bool(record.held)
        return DebounceStatusView(
            status="debouncing" if waiting else "idle",
            event_count=len(record.held) if self._flushing else record.event_count,
            will_flush_at=record.will_flush_at,
            started_at=record.started_at,
            last_error=record.last_error,
        )

    @workflow.query(name="state")
    def state(self) -> Any:
        """The folded state of the pending batch, as JSON-ready data."""
        return self._record.state

    # --- the engine's hooks ---------------------------------------------------------------

    def _wake_at(self) -> datetime | None:
        return self._record.will_flush_at

    async def _on_alarm(self) -> None:
        await self._flush_attempt()

    async def _process(self, message: Message) -> Any:
        record = self._record
        if message.name == "clear":
            discarded = record.event_count + len(record.held)
            self._record = DebounceRecord(user_id=record.user_id, last_error=record.last_error)
            return ClearReply(cleared=discarded > 0, discarded_events=discarded)
        assert message.name == "flush"
        if record.event_count == 0:
            return FlushReply(flushed=False, event_count=0, reason="empty")
        record.flush_reason, record.attempt = "manual", 1
        size = record.event_count
        error = await self._flush_attempt()
        if error is not None:
            raise self._execution_error(error)
        return FlushReply(flushed=True, event_count=size, reason="manual")

    def _note_failure(self, failure: LastError) -> None:
        self._record.last_error = failure

    def _should_end(self) -> bool:
        record = self._record
        return self._has_work_arrived and record.event_count == 0 and not record.held

    def _reply_when_gone(self, message: Message) -> Any:
        if message.name == "clear":
            return ClearReply(cleared=False, discarded_events=0)
        return FlushReply(flushed=False, event_count=0, reason="empty")

    def _continue_as_new_input(self) -> DebounceInput:
        return DebounceInput(spec=self._spec, record=self._record, pending=self._pending_signals())

    # --- behaviour ------------------------------------------------------------------------

    def _definition(self) -> Any:
        jobs = registry_for_task_queue(workflow.info().task_queue)
        return jobs.get("debounce", self._spec.job_name)[1]

    def _fold_check(self, event: Any) -> None:
        """Refuse an event the job's event model or reducer cannot take, changing nothing."""
        self._reduce(event, None, 1)

    def _reduce(self, event: Any, state: Any, event_count: int) -> Any:
        """The reducer's new state (as data) for ``event`` on ``state``; raises ApplicationError."""
        definition = self._definition()
        try:
            typed_event = from_data(definition.event, event)
            if definition.on_event is None:
                return to_data(definition.state, typed_event)
            typed_state = None if state is None else from_data(definition.state, state)
            ctx: DebounceEventContext[Any, Any] = DebounceEventContext(
                job_name=self._spec.job_name,
                instance_id=workflow.info().workflow_id,
                id=self._record.user_id,
                event=typed_event,
                state=typed_state,
                event_count=event_count,
            )
            return to_data(definition.state, _call_pure(definition.on_event, ctx))
        except Exception as err:
            raise self._execution_error(
                HandlerError(
                    type(err).__name__,
                    f"on_event could not fold the event into {type_name(definition.state)}: {err}",
                )
            ) from err

    def _fold(self, event: Any, now: datetime) -> None:
        """Fold ``event`` into the pending batch, arming the deadline on the batch's first event."""
        record = self._record
        record.state = self._reduce(
            event, record.state if record.event_count else None, record.event_count + 1
        )
        record.event_count += 1
        if record.event_count == 1:
            record.started_at = now
            record.flush_reason = "flush_after"
            record.will_flush_at = now + timedelta(milliseconds=self._spec.flush_after_ms)
            self._record_event("debounce.started", will_flush_at=record.will_flush_at.isoformat())
        max_events = self._spec.max_events
        if max_events is not None and record.event_count >= max_events and record.attempt == 1:
            record.flush_reason = "max_events"
            record.will_flush_at = now

    async def _flush_attempt(self) -> HandlerError | None:
        """Deliver the batch as it is now; then fold the events that arrived meanwhile."""
        record, spec = self._record, self._spec
        assert record.started_at is not None
        if record.attempt == 1:
            record.first_attempt_at = workflow.now()
        record.will_flush_at = None
        self._flushing = True
        try:
            outcome = await self._call_handler(
                HandlerCall(
                    kind="debounce",
                    job_name=spec.job_name,
                    handler="execute",
                    instance_id=workflow.info().workflow_id,
                    user_id=record.user_id,
                    attempt=record.attempt,
                    state=record.state,
                    event_count=record.event_count,
                    started_at=record.started_at,
                    flush_reason=record.flush_reason,
                    will_retry=record.attempt < spec.retry.max_attempts,
                ),
                timeout=timedelta(milliseconds=spec.timeout_ms),
            )
        finally:
            self._flushing = False
        now = workflow.now()
        held, record.held = record.held, []
        if outcome.terminated:
            self._finish()
            return None
        if outcome.ok:
            self._record = record = DebounceRecord(user_id=record.user_id)
        else:
            assert outcome.error is not None and record.first_attempt_at is not None
            record.last_error = self._failure(outcome.error, record.attempt)
            retry_at = self._retry_at(spec.retry, record.attempt, record.first_attempt_at)
            if retry_at is None:
                # Keep the batch and arm a fresh flush; clear is the explicit way to drop it.
                record.attempt = 1
                record.will_flush_at = now + timedelta(milliseconds=spec.flush_after_ms)
            else:
                record.attempt += 1
                record.will_flush_at = retry_at
        for event in held:
            try:
                self._fold(event.event, event.arrived_at)
            except ApplicationError as err:
                # Each held event was checked on arrival; a reducer that still refuses it on
                # this batch's state is recorded rather than failing the workflow.
                record.last_error = self._failure(handler_error(err), 1)
        if record.event_count and record.will_flush_at is not None:
            record.will_flush_at = max(record.will_flush_at, now)
        return None if outcome.ok else outcome.error


def _call_pure(reducer: Any, ctx: Any) -> Any:
    """Call a reducer; an ``async def`` one is driven to completion without an event loop.

    A pure reducer never awaits anything; one that does cannot run in a workflow.
    """
    result = reducer(ctx)
    if hasattr(result, "send") and hasattr(result, "close"):
        try:
            result.send(None)
        except StopIteration as done:
            return done.value
        result.close()
        raise TypeError("on_event awaited something; a reducer must be pure and not await")
    return result
