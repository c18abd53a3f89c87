"""The Continuous entity workflow: ``execute`` on a schedule, forever (SPEC §5.1, §10.4).

Workflow ID ``continuous:{name}:{id}``. The one alarm is the next run or the next retry.
Messages: ``start`` (update-with-start), ``trigger`` (update, or the ``trigger.nowait``
signal), ``pause``, ``resume`` and ``reschedule`` (updates); queries ``status`` and ``state``.
``terminate`` is Temporal's own terminate, sent by the client, so it works with no worker
running. Queued triggers share one handler call, each its own run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

from durable_jobs.protocol import (
    CallAnswer,
    CallRequest,
    CarriedMessage,
    LastError,
    StateView,
)
from durable_jobs.protocol.activities import HandlerCall, HandlerStep, StepOutcome
from durable_jobs.protocol.continuous import (
    ContinuousInput,
    ContinuousRecord,
    ContinuousStatusView,
    PauseRequest,
    RescheduleRequest,
    ScheduleReply,
    StartReply,
    StartRequest,
    TriggerReply,
)
from durable_jobs.workflows.engine import EntityEngine, Message, as_call


@workflow.defn(name="ContinuousJob", sandboxed=False)
class ContinuousJobWorkflow(EntityEngine):
    """One Continuous job instance."""

    @workflow.init
    def __init__(self, input: ContinuousInput) -> None:
        self._start_engine(
            kind="continuous",
            job_name=input.spec.job_name,
            carried=input.carried,
            answers=input.answers,
            key_window=timedelta(milliseconds=input.spec.idempotency_window_ms),
            local_handlers=input.spec.local_handlers,
            publish_status=input.spec.publish_status,
            new_instance=input.record is None,
            view_type=ContinuousStatusView,
        )
        self._spec = input.spec
        self._start_token = input.start_token
        if input.record is not None:
            self._record = input.record
        else:
            now = workflow.now()
            first = now if input.spec.start_immediately else self._next_regular_run(now)
            self._record = ContinuousRecord(
                user_id=self._user_id(),
                state=input.initial_state,
                state_version=input.state_version,
                next_run_at=first,
            )

    @workflow.run
    async def run(self, input: ContinuousInput) -> None:
        """Run until terminated; continue as new long before Temporal's limits."""
        await self._run_loop()

    # --- client calls ---------------------------------------------------------------------

    @workflow.update(name="start")
    def start(self, request: StartRequest) -> StartReply:
        """Answer an update-with-start: ``created`` is true only for the call that started us."""
        self._accept()
        return StartReply(created=request.call.id == self._start_token, status=self._record.status)

    @start.validator
    def _validate_start(self, request: StartRequest) -> None:
        self._check_update("start", request.call)

    @workflow.update(name="trigger")
    async def trigger(self, request: CallRequest) -> TriggerReply:
        """Run ``execute`` now (after any run in progress) and wait for its first attempt."""
        result: TriggerReply = await self._submit("trigger", request)
        return result

    @trigger.validator
    def _validate_trigger(self, request: CallRequest) -> None:
        self._check_update("trigger", request.call)

    @workflow.signal(name="trigger.nowait")
    def trigger_nowait(self, request: CallRequest) -> None:
        """``trigger`` without waiting: the same queue, the same run."""
        self._post("trigger", request)

    @workflow.update(name="pause")
    async def pause(self, request: PauseRequest) -> ScheduleReply:
        """Stop scheduling runs until ``resume`` (a ``trigger`` still runs once)."""
        result: ScheduleReply = await self._submit("pause", request)
        return result

    @pause.validator
    def _validate_pause(self, request: PauseRequest) -> None:
        self._check_update("pause", request.call)

    @workflow.update(name="resume")
    async def resume(self, request: CallRequest) -> ScheduleReply:
        """Schedule the next run from now again, after ``pause`` or a stop on failure."""
        result: ScheduleReply = await self._submit("resume", request)
        return result

    @resume.validator
    def _validate_resume(self, request: CallRequest) -> None:
        self._check_update("resume", request.call)

    @workflow.update(name="reschedule")
    async def reschedule(self, request: RescheduleRequest) -> ScheduleReply:
        """Run on a new schedule from now on, keeping state and counters."""
        result: ScheduleReply = await self._submit("reschedule", request)
        return result

    @reschedule.validator
    def _validate_reschedule(self, request: RescheduleRequest) -> None:
        self._check_update("reschedule", request.call)

    @workflow.query(name="status")
    def status(self) -> ContinuousStatusView:
        """The status summary; the memo keeps a copy for when no worker runs."""
        return self._status_view()

    def _status_view(self) -> ContinuousStatusView:
        """The instance's status, run count, next run time and last error."""
        record = self._record
        return ContinuousStatusView(
            status=record.status,
            run_count=record.run_count,
            next_run_at=record.next_run_at,
            last_error=record.last_error,
        )

    @workflow.query(name="state")
    def state(self) -> StateView:
        """The committed state, as JSON-ready data, and its version."""
        return StateView(self._record.state, self._record.state_version)

    # --- the engine's hooks ---------------------------------------------------------------

    def _wake_at(self) -> datetime | None:
        return self._record.next_run_at

    async def _on_alarm(self) -> None:
        record, window = self._record, self._spec.catch_up_window_ms
        due = record.next_run_at
        assert due is not None
        late = workflow.now() - due
        if record.attempt == 1 and window is not None and late > timedelta(milliseconds=window):
            # Found this late when the instance woke (a worker or server outage): skip it.
            self._record_event("job.skipped", reason="missed", due_at=due.isoformat())
            record.next_run_at = self._next_regular_run(workflow.now())
            return
        await self._run([], attempt=record.attempt)

    def _batchable(self, batch: list[Message], candidate: Message) -> bool:
        return batch[0].name == "trigger" and candidate.name == "trigger"

    async def _process(self, messages: list[Message]) -> None:
        first = messages[0]
        if first.name == "trigger":
            await self._run(messages, attempt=1)
            return
        self._complete(first, self._change_schedule(first))

    def _note_failure(self, failure: LastError) -> None:
        self._record.last_error = failure

    def _revive(self, carried: CarriedMessage) -> Message:
        request = CallRequest(as_call(carried.payload["call"]))
        return Message(carried.name, request, request.call, True, carried.arrived_at, carried.size)

    def _continue_as_new_input(
        self, carried: list[CarriedMessage], answers: list[CallAnswer]
    ) -> ContinuousInput:
        return ContinuousInput(
            spec=self._spec, record=self._record, carried=carried, answers=answers
        )

    # --- behaviour ------------------------------------------------------------------------

    def _next_regular_run(self, after: datetime) -> datetime:
        return self._spec.schedule.next_run_at(after, workflow.random().random())

    def _change_schedule(self, message: Message) -> ScheduleReply:
        """``pause``, ``resume`` or ``reschedule``: cheap, no handler runs."""
        record, now = self._record, workflow.now()
        if message.name == "pause":
            request: Any = message.payload
            done = record.status != "paused"
            record.status, record.paused_reason = "paused", request.reason
            record.next_run_at, record.attempt = None, 1
        elif message.name == "resume":
            done = record.status != "running"
            if done:
                record.status, record.paused_reason, record.attempt = "running", None, 1
                record.next_run_at = self._next_regular_run(now)
        else:
            self._spec.schedule = message.payload.schedule
            done = True
            if record.status == "running" and record.attempt == 1:
                record.next_run_at = self._next_regular_run(now)
        return ScheduleReply(done=done, next_run_at=record.next_run_at)

    async def _run(self, triggers: list[Message], *, attempt: int) -> None:
        """Runs of ``execute``: one per trigger (each a new run), or the alarm's attempt."""
        record, spec = self._record, self._spec
        steps = [
            HandlerStep(
                "run",
                attempt=1 if triggers else attempt,
                run_count=record.run_count + (i + 1 if triggers or attempt == 1 else 0),
                will_retry=(1 if triggers else attempt) < spec.retry.max_attempts,
            )
            for i in range(max(len(triggers), 1))
        ]
        started = workflow.now()
        record.next_run_at = None
        outcome = await self._call_handler(
            HandlerCall(
                kind="continuous",
                job_name=spec.job_name,
                instance_id=workflow.info().workflow_id,
                user_id=record.user_id,
                state=record.state,
                state_version=record.state_version,
                steps=steps,
                now=started,
            )
        )
        if outcome.state_changed:
            record.state, record.state_bytes = outcome.state, outcome.state_bytes
            record.state_version = outcome.state_version
        for i, step in enumerate(steps):
            if i >= len(outcome.steps):  # a step before terminated the instance
                self._give_back_unhandled(triggers[i:])
                break
            if step.attempt == 1:
                record.run_count, record.run_started_at = step.run_count, started
            reply = self._commit_run(step, outcome.steps[i])
            if triggers:
                if isinstance(reply, TriggerReply):
                    self._complete(triggers[i], reply)
                else:
                    self._complete(triggers[i], error=self._execution_error(reply))

    def _commit_run(self, step: HandlerStep, outcome: StepOutcome) -> Any:
        """Keep what one run did; its trigger's reply, or the error a trigger raises."""
        record, now = self._record, workflow.now()
        if outcome.terminated:
            self._finish()
            return TriggerReply(triggered=True, succeeded=True)
        if outcome.ok:
            record.attempt, record.last_error = 1, None
            if record.status == "stopped":
                record.status = "running"  # a trigger resumes a stopped instance
            record.next_run_at = None if record.status == "paused" else self._next_regular_run(now)
            return TriggerReply(triggered=True, succeeded=True)
        assert outcome.error is not None and record.run_started_at is not None
        failure = record.last_error = self._failure(outcome.error, step.attempt)
        retry_at = self._retry_at(self._spec.retry, step.attempt, record.run_started_at)
        if retry_at is not None:
            record.attempt, record.next_run_at = step.attempt + 1, retry_at
            return TriggerReply(triggered=True, succeeded=False, error=failure)
        record.attempt = 1
        if record.status == "running" and self._spec.pause_on_failure:
            record.status = "stopped"
        record.next_run_at = None if record.status != "running" else self._next_regular_run(now)
        return outcome.error
