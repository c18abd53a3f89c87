"""The Continuous entity workflow: ``execute`` on a schedule, forever (SPEC §5.1).

Workflow ID ``continuous:{name}:{id}``. The one alarm is the next run or the next retry. Messages:
``start`` (update-with-start), ``trigger`` (update); queries ``status`` and ``state``. ``terminate``
is Temporal's own terminate, sent by the client, so it works even with no worker running.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from durable_jobs.protocol import LastError
    from durable_jobs.protocol.activities import HandlerCall, HandlerOutcome
    from durable_jobs.protocol.continuous import (
        ContinuousInput,
        ContinuousRecord,
        ContinuousStartReply,
        ContinuousStatusName,
        ContinuousStatusView,
    )
    from durable_jobs.workflows.engine import EntityEngine, Message


@workflow.defn(name="ContinuousJob")
class ContinuousJobWorkflow(EntityEngine):
    """One Continuous job instance."""

    @workflow.init
    def __init__(self, input: ContinuousInput) -> None:
        self._start_engine(
            kind="continuous",
            job_name=input.spec.job_name,
            pending=input.pending,
            new_instance=input.record is None,
        )
        self._spec = input.spec
        self._start_token = input.start_token
        if input.record is not None:
            self._record = input.record
        else:
            now = workflow.now()
            first = now if input.spec.start_immediately else input.spec.schedule.next_run_at(now)
            self._record = ContinuousRecord(
                user_id=self._user_id(), state=input.initial_state, next_run_at=first
            )

    @workflow.run
    async def run(self, input: ContinuousInput) -> None:
        """Run until terminated; continue as new long before Temporal's limits."""
        await self._run_loop()

    # --- client calls ---------------------------------------------------------------------

    @workflow.update(name="start")
    def start(self, start_token: str) -> ContinuousStartReply:
        """Answer an update-with-start: ``created`` is true only for the call that started us."""
        return ContinuousStartReply(
            created=bool(start_token) and start_token == self._start_token,
            status=self._status_name(),
        )

    @start.validator
    def _validate_start(self, start_token: str) -> None:
        self._refuse_while_continuing()

    @workflow.update(name="trigger")
    async def trigger(self) -> bool:
        """Run ``execute`` now (after any run in progress) and wait for its first attempt."""
        result: bool = await self._submit("trigger")
        return result

    @trigger.validator
    def _validate_trigger(self) -> None:
        self._refuse_while_continuing()

    @workflow.signal(name="trigger.nowait")
    def trigger_nowait(self) -> None:
        """``trigger`` without waiting: the same queue, the same run."""
        self._post("trigger")

    @workflow.query(name="status")
    def status(self) -> ContinuousStatusView:
        """The status summary; the memo keeps a copy for when no worker runs."""
        return self._status_view()

    def _status_view(self) -> ContinuousStatusView:
        """The instance's status, run count, next run time and last error."""
        record = self._record
        return ContinuousStatusView(
            status=self._status_name(),
            run_count=record.run_count,
            next_run_at=record.next_run_at,
            last_error=record.last_error,
        )

    @workflow.query(name="state")
    def state(self) -> Any:
        """The committed state, as JSON-ready data."""
        return self._record.state

    # --- the engine's hooks ---------------------------------------------------------------

    def _wake_at(self) -> datetime | None:
        return self._record.next_run_at

    async def _on_alarm(self) -> None:
        await self._run_execute(new_run=self._record.attempt == 1)

    async def _process(self, message: Message) -> Any:
        assert message.name == "trigger"
        outcome = await self._run_execute(new_run=True)
        if outcome.ok or self._record.next_run_at is not None:
            return True
        assert outcome.error is not None
        raise self._execution_error(outcome.error)

    def _note_failure(self, failure: LastError) -> None:
        self._record.last_error = failure

    def _reply_when_gone(self, message: Message) -> Any:
        return False

    def _continue_as_new_input(self) -> ContinuousInput:
        return ContinuousInput(
            spec=self._spec, record=self._record, pending=self._pending_signals()
        )

    # --- behaviour ------------------------------------------------------------------------

    def _status_name(self) -> ContinuousStatusName:
        return "stopped" if self._record.stopped else "running"

    async def _run_execute(self, *, new_run: bool) -> HandlerOutcome:
        """One attempt of ``execute``; commits state on success, else plans the retry."""
        record, spec = self._record, self._spec
        if new_run:
            record.run_count += 1
            record.attempt = 1
            record.run_started_at = workflow.now()
            record.stopped = False
        record.next_run_at = None
        outcome = await self._call_handler(
            HandlerCall(
                kind="continuous",
                job_name=spec.job_name,
                handler="execute",
                instance_id=workflow.info().workflow_id,
                user_id=record.user_id,
                attempt=record.attempt,
                state=record.state,
                run_count=record.run_count,
                will_retry=record.attempt < spec.retry.max_attempts,
            ),
            timeout=timedelta(milliseconds=spec.timeout_ms),
        )
        now = workflow.now()
        if outcome.terminated:
            self._finish()
        elif outcome.ok:
            record.state = outcome.state
            record.attempt = 1
            record.last_error = None
            record.next_run_at = spec.schedule.next_run_at(now)
        else:
            assert outcome.error is not None
            record.last_error = self._failure(outcome.error, record.attempt)
            assert record.run_started_at is not None
            retry_at = self._retry_at(spec.retry, record.attempt, record.run_started_at)
            if retry_at is None:
                record.stopped = True
                record.attempt = 1
            else:
                record.attempt += 1
            record.next_run_at = retry_at
        return outcome
