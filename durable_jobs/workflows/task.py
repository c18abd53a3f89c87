"""The Task entity workflow: an event-driven state machine with one alarm (SPEC §5.3).

Workflow ID ``task:{name}:{id}``. ``send`` (update-with-start, or the ``send.nowait`` signal)
and ``trigger`` (update, or ``trigger.nowait``) go through the engine's ordered queue; queued
ones share one handler call, each a step of its own (``on_event``, then ``on_error`` if it
failed, then ``on_idle`` when nothing is scheduled; or ``execute`` for a trigger). ``execute``
runs when the alarm fires, retried per the job's policy; ``on_error`` gets its failure after
the last attempt. The alarm is consumed when it fires, before ``execute`` runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

from durable_jobs._models import json_size
from durable_jobs.protocol import (
    MAX_EVENT_BYTES,
    CallAnswer,
    CallRequest,
    CarriedMessage,
    LastError,
)
from durable_jobs.protocol.activities import (
    HandlerCall,
    HandlerError,
    HandlerStep,
    StepOutcome,
)
from durable_jobs.protocol.task import (
    SendReply,
    SendRequest,
    TaskInput,
    TaskRecord,
    TaskStateView,
    TaskStatusView,
    TaskTriggerReply,
)
from durable_jobs.workflows.engine import EntityEngine, Message, as_call


@workflow.defn(name="TaskJob", sandboxed=False)
class TaskJobWorkflow(EntityEngine):
    """One Task job instance."""

    @workflow.init
    def __init__(self, input: TaskInput) -> None:
        self._start_engine(
            kind="task",
            job_name=input.spec.job_name,
            carried=input.carried,
            answers=input.answers,
            key_window=timedelta(milliseconds=input.spec.idempotency_window_ms),
            local_handlers=input.spec.local_handlers,
            publish_status=input.spec.publish_status,
            new_instance=input.record is None,
            view_type=TaskStatusView,
        )
        self._spec = input.spec
        self._start_token = input.start_token
        self._record = input.record or TaskRecord(
            user_id=self._user_id(), created_at=workflow.now(), state_version=input.state_version
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
        self._check_update("send", request.call)

    @workflow.update(name="trigger")
    async def trigger(self, request: CallRequest) -> TaskTriggerReply:
        """Run ``execute`` now and wait; the pending alarm stays unless ``execute`` changes it."""
        result: TaskTriggerReply = await self._submit("trigger", request)
        return result

    @trigger.validator
    def _validate_trigger(self, request: CallRequest) -> None:
        self._check_update("trigger", request.call)

    @workflow.signal(name="send.nowait")
    def send_nowait(self, data: Any) -> None:
        """``send`` without waiting: the same queue, the same handlers.

        Its argument is taken as plain data (a ``SendRequest``'s JSON), as Debounce's
        ``add.nowait``: bursts of them are cheaper to take in.
        """
        request = SendRequest(event=data["event"], call=as_call(data["call"]))
        self._post("send", request, json_size(request.event))

    @workflow.signal(name="trigger.nowait")
    def trigger_nowait(self, request: CallRequest) -> None:
        """``trigger`` without waiting."""
        self._post("trigger", request)

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
        record = self._record
        return TaskStateView(record.state, record.scheduled_at, record.state_version)

    # --- the engine's hooks ---------------------------------------------------------------

    def _wake_at(self) -> datetime | None:
        return self._record.scheduled_at

    async def _on_alarm(self) -> None:
        record = self._record
        attempt = record.attempt
        if attempt == 1:
            record.first_attempt_at = workflow.now()
        will_retry = attempt < self._spec.retry.max_attempts
        step = HandlerStep("alarm", attempt=attempt, will_retry=will_retry)
        outcome = await self._run([step])
        if outcome and not outcome.ok and will_retry and not self._finished:
            assert outcome.error is not None and record.first_attempt_at is not None
            retry_at = self._retry_at(self._spec.retry, attempt, record.first_attempt_at)
            if retry_at is not None:
                record.attempt, record.scheduled_at = attempt + 1, retry_at
                return
            # max_duration left no retry after all: on_error gets the failure now.
            await self._run([HandlerStep("recover", attempt=attempt, error=outcome.error)])

    def _batchable(self, batch: list[Message], candidate: Message) -> bool:
        event_bytes = sum(m.size or _event_size(m) for m in [*batch, candidate])
        return event_bytes <= MAX_EVENT_BYTES

    async def _process(self, messages: list[Message]) -> None:
        steps = [
            HandlerStep("send", event=m.payload.event)
            if m.name == "send"
            else HandlerStep("trigger")
            for m in messages
        ]
        outcomes = await self._call(steps)
        for i, message in enumerate(messages):
            if i >= len(outcomes):  # a step before terminated the instance
                self._give_back_unhandled(messages[i:])
                return
            self._complete_step(message, outcomes[i])

    def _note_failure(self, failure: LastError) -> None:
        self._record.last_error = failure

    def _should_end(self) -> bool:
        """A new task that no send ever succeeded on ends: a refused first send (its on_event
        failed, nothing handled it) leaves no instance behind, as a refused first add does."""
        record = self._record
        return (
            record.event_count == 0
            and record.execute_count == 0
            and record.state is None
            and record.scheduled_at is None
        )

    def _creates_instance(self, name: str) -> bool:
        return name == "send"

    def _revive(self, carried: CarriedMessage) -> Message:
        payload = carried.payload
        call = as_call(payload["call"])
        request: Any = (
            SendRequest(event=payload["event"], call=call)
            if carried.name == "send"
            else CallRequest(call)
        )
        return Message(carried.name, request, call, True, carried.arrived_at, carried.size)

    def _continue_as_new_input(
        self, carried: list[CarriedMessage], answers: list[CallAnswer]
    ) -> TaskInput:
        return TaskInput(spec=self._spec, record=self._record, carried=carried, answers=answers)

    def _fresh_instance_input(self, carried: list[CarriedMessage]) -> TaskInput | None:
        if not carried:
            return None
        return TaskInput(spec=self._spec, state_version=self._record.state_version, carried=carried)

    # --- behaviour ------------------------------------------------------------------------

    async def _call(self, steps: list[HandlerStep]) -> list[StepOutcome]:
        """Run ``steps`` in one handler call; keep the state and counters they leave."""
        record = self._record
        outcome = await self._call_handler(
            HandlerCall(
                kind="task",
                job_name=self._spec.job_name,
                instance_id=workflow.info().workflow_id,
                user_id=record.user_id,
                state=record.state,
                state_version=record.state_version,
                steps=steps,
                now=workflow.now(),
                event_count=record.event_count,
                execute_count=record.execute_count,
                created_at=record.created_at,
                scheduled_at=record.scheduled_at,
            )
        )
        if outcome.state_changed:
            record.state, record.state_bytes = outcome.state, outcome.state_bytes
            record.state_version = outcome.state_version
        for step, step_outcome in zip(steps, outcome.steps, strict=False):
            self._commit(step, step_outcome)
        return outcome.steps

    async def _run(self, steps: list[HandlerStep]) -> StepOutcome | None:
        outcomes = await self._call(steps)
        return outcomes[0] if outcomes else None

    def _commit(self, step: HandlerStep, outcome: StepOutcome) -> None:
        """Keep what one step left: counters, the alarm (a new alarm starts a fresh retry
        count) and, for ``execute``, the last error (also one ``on_error`` handled)."""
        record = self._record
        if step.name != "send" or outcome.ok:
            record.event_count, record.execute_count = outcome.event_count, outcome.execute_count
        if outcome.terminated:
            record.scheduled_at = None
            self._finish()
            return
        runs_execute = step.name != "send"
        error = outcome.error or outcome.handled_error
        if runs_execute and error is not None:
            record.last_error = self._failure(error, step.attempt)
        elif runs_execute and outcome.ok:
            record.last_error = None
        if outcome.idle_error is not None:
            record.last_error = self._failure(outcome.idle_error, 1)
        if step.name == "send" and not outcome.ok:
            return  # a send that failed changes nothing
        if step.name == "alarm" and not outcome.ok and step.will_retry:
            record.scheduled_at = None  # consumed; the retry is set by _on_alarm
            return
        if runs_execute or outcome.scheduled_at != record.scheduled_at:
            record.attempt = 1
        record.scheduled_at = outcome.scheduled_at

    def _complete_step(self, message: Message, outcome: StepOutcome) -> None:
        if message.name == "trigger":
            if outcome.ok:
                error = outcome.handled_error
                reply = TaskTriggerReply(
                    triggered=True,
                    succeeded=error is None,
                    error=None if error is None else self._record.last_error,
                )
                self._complete(message, reply)
            else:
                self._complete(message, error=self._execution_error(_error_of(outcome)))
            return
        if not outcome.ok:
            self._complete(message, error=self._execution_error(_error_of(outcome)))
            return
        request: SendRequest = message.payload
        created = request.call.id == self._start_token
        scheduled_at = None if outcome.terminated else self._record.scheduled_at
        self._complete(message, SendReply(created=created, scheduled_at=scheduled_at))


def _error_of(outcome: StepOutcome) -> HandlerError:
    assert outcome.error is not None
    return outcome.error


def _event_size(message: Message) -> int:
    return json_size(message.payload.event) if message.name == "send" else 0
