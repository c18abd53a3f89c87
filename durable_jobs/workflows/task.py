"""The Task entity workflow: an event-driven state machine with one alarm (SPEC §5.3).

Workflow ID ``task:{name}:{id}``. ``send`` (update-with-start) and ``trigger`` (update) go through
the engine's ordered queue; each runs user handlers in the handler activity: ``on_event``, then
``on_idle`` when nothing is scheduled; ``execute`` when the alarm fires or on ``trigger``;
``on_error`` for failures of ``on_event`` and of ``execute`` after its retries. The alarm is
consumed when it fires, before ``execute`` runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from durable_jobs.protocol import LastError, PendingSignal
    from durable_jobs.protocol.activities import HandlerCall, HandlerOutcome
    from durable_jobs.protocol.task import (
        SendReply,
        SendRequest,
        TaskInput,
        TaskRecord,
        TaskStateView,
        TaskStatusView,
    )
    from durable_jobs.workflows.engine import EntityEngine, Message


@workflow.defn(name="TaskJob")
class TaskJobWorkflow(EntityEngine):
    """One Task job instance."""

    @workflow.init
    def __init__(self, input: TaskInput) -> None:
        self._start_engine(
            kind="task",
            job_name=input.spec.job_name,
            pending=input.pending,
            new_instance=input.record is None,
        )
        self._spec = input.spec
        self._start_token = input.start_token
        self._record = input.record or TaskRecord(
            user_id=self._user_id(), created_at=workflow.now()
        )

    @workflow.run
    async def run(self, input: TaskInput) -> None:
        """Run until terminated; continue as new long before Temporal's limits."""
        await self._run_loop()

    # --- client calls ---------------------------------------------------------------------

    @workflow.update(name="send")
    async def send(self, request: SendRequest) -> SendReply:
        """Run ``on_event`` (and ``on_idle``) for one event and wait for them."""
        result: SendReply = await self._submit("send", request)
        return result

    @send.validator
    def _validate_send(self, request: SendRequest) -> None:
        self._refuse_while_continuing()

    @workflow.update(name="trigger")
    async def trigger(self) -> bool:
        """Run ``execute`` now and wait; the pending alarm stays unless ``execute`` changes it."""
        result: bool = await self._submit("trigger")
        return result

    @trigger.validator
    def _validate_trigger(self) -> None:
        self._refuse_while_continuing()

    @workflow.signal(name="send.nowait")
    def send_nowait(self, request: SendRequest) -> None:
        """``send`` without waiting: the same queue, the same handlers."""
        self._post("send", request)

    @workflow.signal(name="trigger.nowait")
    def trigger_nowait(self) -> None:
        """``trigger`` without waiting."""
        self._post("trigger")

    @workflow.query(name="status")
    def status(self) -> TaskStatusView:
        """The status summary; the memo keeps a copy for when no worker runs."""
        return self._status_view()

    def _status_view(self) -> TaskStatusView:
        """``active`` while an alarm is pending, else ``idle``; counters and last error."""
        record = self._record
        return TaskStatusView(
            status="active" if record.scheduled_at is not None else "idle",
            scheduled_at=record.scheduled_at,
            event_count=record.event_count,
            execute_count=record.execute_count,
            created_at=record.created_at,
            last_error=record.last_error,
        )

    @workflow.query(name="state")
    def state(self) -> TaskStateView:
        """The committed state (JSON-ready data) and the pending alarm."""
        return TaskStateView(state=self._record.state, scheduled_at=self._record.scheduled_at)

    # --- the engine's hooks ---------------------------------------------------------------

    def _wake_at(self) -> datetime | None:
        return self._record.scheduled_at

    async def _on_alarm(self) -> None:
        record = self._record
        record.scheduled_at = None  # the alarm is consumed when it fires
        await self._execute(keep_alarm=False)

    async def _process(self, message: Message) -> Any:
        if message.name == "trigger":
            await self._execute(keep_alarm=True)
            return True
        assert message.name == "send"
        request: SendRequest = message.payload
        created = bool(request.start_token) and request.start_token == self._start_token
        await self._on_event(request.event)
        return SendReply(created=created, scheduled_at=self._record.scheduled_at)

    def _note_failure(self, failure: LastError) -> None:
        self._record.last_error = failure

    def _reply_when_gone(self, message: Message) -> Any:
        if message.name == "trigger":
            return False
        return SendReply(created=False, scheduled_at=None)

    def _revive(self, signal: PendingSignal) -> Message:
        if signal.name == "send":
            # A carried SendRequest comes back as plain data; a signal has no start token.
            return Message("send", SendRequest(event=signal.payload["event"]), from_signal=True)
        return super()._revive(signal)

    def _continue_as_new_input(self) -> TaskInput:
        return TaskInput(spec=self._spec, record=self._record, pending=self._pending_signals())

    # --- behaviour ------------------------------------------------------------------------

    def _call(self, handler: str, **fields: Any) -> HandlerCall:
        record = self._record
        return HandlerCall(
            kind="task",
            job_name=self._spec.job_name,
            handler=handler,
            instance_id=workflow.info().workflow_id,
            user_id=record.user_id,
            attempt=fields.pop("attempt", 1),
            state=fields.pop("state", record.state),
            scheduled_at=fields.pop("scheduled_at", record.scheduled_at),
            event_count=record.event_count,
            execute_count=record.execute_count,
            created_at=record.created_at,
            now=workflow.now(),
            **fields,
        )

    async def _run(self, call: HandlerCall) -> HandlerOutcome:
        return await self._call_handler(call, timeout=timedelta(milliseconds=self._spec.timeout_ms))

    def _commit(self, outcome: HandlerOutcome) -> None:
        """Keep what a handler left: state and alarm (a new alarm starts a fresh retry count)."""
        record = self._record
        record.state = outcome.state
        if outcome.scheduled_at != record.scheduled_at:
            record.attempt = 1
        record.scheduled_at = outcome.scheduled_at

    async def _on_event(self, event: Any) -> None:
        """``on_event`` (through ``on_error`` if it fails), then ``on_idle`` if nothing is set."""
        record = self._record
        record.event_count += 1
        outcome = await self._run(
            self._call("on_event", event=event, is_first_event=record.event_count == 1)
        )
        if outcome.terminated:
            return self._finish()
        if not outcome.ok:
            assert outcome.error is not None
            handled = await self._on_error(outcome, "on_event")
            if handled is None:
                record.event_count -= 1  # a send that failed changes nothing
                raise self._execution_error(outcome.error)
            outcome = handled
            if outcome.terminated:
                return self._finish()
        self._commit(outcome)
        await self._maybe_idle("on_event")

    async def _execute(self, *, keep_alarm: bool) -> None:
        """One attempt of ``execute``; failures retry per policy, then go to ``on_error``.

        A ``trigger`` (``keep_alarm``) is answered to its waiting caller instead of retried, so
        its failure never replaces the pending alarm with a retry.
        """
        record = self._record
        if record.attempt == 1:
            record.execute_count += 1
            record.first_attempt_at = workflow.now()
        will_retry = not keep_alarm and record.attempt < self._spec.retry.max_attempts
        outcome = await self._run(
            self._call("execute", attempt=record.attempt, will_retry=will_retry)
        )
        if outcome.terminated:
            return self._finish()
        if outcome.ok:
            record.attempt, record.last_error = 1, None
            self._commit(outcome)
            await self._maybe_idle("execute")
            return None
        assert outcome.error is not None and record.first_attempt_at is not None
        record.last_error = self._failure(outcome.error, record.attempt)
        retry_at = None
        if not keep_alarm:
            retry_at = self._retry_at(self._spec.retry, record.attempt, record.first_attempt_at)
        if retry_at is not None:
            record.attempt += 1
            record.scheduled_at = retry_at
            return None
        record.attempt = 1
        handled = await self._on_error(outcome, "execute")
        if handled is None:
            if keep_alarm:
                raise self._execution_error(outcome.error)
            await self._maybe_idle("execute")
            return None
        if handled.terminated:
            return self._finish()
        self._commit(handled)
        await self._maybe_idle("execute")
        return None

    async def _on_error(self, failed: HandlerOutcome, source: str) -> HandlerOutcome | None:
        """Run ``on_error`` on the failed handler's partial changes; ``None`` if not handled."""
        if not self._spec.has_on_error:
            return None
        outcome = await self._run(
            self._call(
                "on_error",
                state=failed.state,
                scheduled_at=failed.scheduled_at,
                error=failed.error,
                error_source=source,
            )
        )
        return outcome if outcome.ok else None

    async def _maybe_idle(self, reason: str) -> None:
        """Run ``on_idle`` when nothing is scheduled; it may set the alarm again."""
        if self._finished or self._record.scheduled_at is not None or not self._spec.has_on_idle:
            return
        outcome = await self._run(self._call("on_idle", idle_reason=reason))
        if outcome.terminated:
            return self._finish()
        if not outcome.ok:
            assert outcome.error is not None
            self._record.last_error = self._failure(outcome.error, 1)
            return None
        self._commit(outcome)
        return None
