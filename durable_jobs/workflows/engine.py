"""The entity engine shared by the three kinds of job.

One instance is one long-lived workflow. An update handler whose message needs a user handler
enqueues it; the main loop takes messages one at a time, in arrival order, and otherwise sleeps
until the instance's single alarm (next run, flush deadline, user alarm or retry) is due. So user
handlers never overlap. A message that needs no activity (a Debounce add, folded by a pure
reducer) is applied by its synchronous update handler at once, which keeps Temporal's delivery
order too.

A kind (see ``continuous.py``) supplies what a message does, what the alarm does, when the alarm
is, and the input to continue as new with. The engine owns the loop, the handler activity and the
decision to continue as new long before Temporal's limits (2,000 updates and ~50,000 events per
run).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from durable_jobs.protocol import (
        CONTINUING_AS_NEW_ERROR_TYPE,
        EXECUTION_ERROR_TYPE,
        JOB_KIND,
        JOB_STATUS,
        STATUS_AS_OF_MEMO,
        STATUS_MEMO,
        LastError,
        PendingSignal,
    )
    from durable_jobs.protocol.activities import (
        EMIT_STEP_EVENTS,
        HEARTBEAT_TIMEOUT,
        RUN_HANDLER,
        HandlerCall,
        HandlerError,
        HandlerOutcome,
        StepEvent,
        StepEvents,
    )
    from durable_jobs.retry import RetryPlan

CARRY_SIGNALS_PATCH = "carry-pending-signals-over-continue-as-new"
"""``workflow.patched`` id of continuing as new with signals still queued (carried over)."""

OPERATIONS_PATCH = "status-summary-and-step-events"
"""``workflow.patched`` id of keeping the status summary in the memo and ``JobStatus`` current,
and of emitting the lifecycle events of workflow steps."""

SUMMARY_INTERVAL = timedelta(minutes=1)
"""How often at most the memo summary is written for changes that do not make it due at once."""

SUMMARY_TIMES = ("next_run_at", "will_flush_at", "scheduled_at")
"""The field of a status view that holds its next time (one per kind)."""

STEP_EVENTS_RETRY = RetryPolicy(maximum_attempts=5)
"""Retries of the step-events local activity; events are reports, never a job's failure."""

MAX_CARRIED_BYTES = 512 * 1024
"""The most signal payload carried to the next run; beyond it the run handles signals first."""

INFRASTRUCTURE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
    non_retryable_error_types=["JobNotRegistered"],
)
"""Temporal's retries of the handler activity: infrastructure faults only, without limit.

A user's exception never fails the activity (it comes back as an outcome), so these retries
cover a lost worker or a timed-out heartbeat, which must not use up a user attempt (SPEC §6).
"""


@dataclass
class Message:
    """One queued client call; ``result`` or ``error`` is set when the main loop has handled it."""

    name: str
    payload: Any = None
    from_signal: bool = False
    done: bool = False
    result: Any = None
    error: BaseException | None = field(default=None, repr=False)


class EntityEngine:
    """The message loop, the alarm, the handler activity and continue-as-new of one instance."""

    max_messages_per_run = 1_000
    """Continue as new after this many messages: half of Temporal's 2,000 updates per run."""

    max_history_events = 10_000
    """Continue as new past this history length, well under Temporal's ~50,000 event limit."""

    def _start_engine(
        self,
        *,
        kind: str,
        job_name: str,
        pending: list[PendingSignal] | None = None,
        new_instance: bool,
    ) -> None:
        self._kind = kind
        self._job_name = job_name
        # Carried signals come first, as they arrived; the previous run already counted them.
        self._queue: deque[Message] = deque(self._revive(signal) for signal in pending or [])
        self._messages_this_run = 0
        self._finished = False
        self._continuing = False
        # Every run writes its summary once at first; continue-as-new carries memo and
        # search attributes over, but the first write also stamps the run's time.
        self._published_view: Any = None
        self._published_at = workflow.now()
        self._published_status = workflow.info().typed_search_attributes.get(JOB_STATUS)
        # Events of workflow steps wait here for an activity to take them. ``None``: not known
        # yet whether this run emits them (runs started before OPERATIONS_PATCH do not).
        self._step_events_on: bool | None = None
        self._outbox: list[StepEvent] = []
        self._emitting = False
        if new_instance:
            self._record_event("job.started")

    # --- what a kind provides -------------------------------------------------------------

    def _wake_at(self) -> datetime | None:
        """When the alarm is due, or ``None`` when nothing is scheduled."""
        raise NotImplementedError

    async def _on_alarm(self) -> None:
        """Do what the alarm is for; it is due now."""
        raise NotImplementedError

    async def _process(self, message: Message) -> Any:
        """Handle one message and return the reply for its caller."""
        raise NotImplementedError

    def _note_failure(self, failure: LastError) -> None:
        """Record a failure nobody is waiting for (a signal's) as the instance's last error."""
        raise NotImplementedError

    def _status_view(self) -> Any:
        """The ``status`` query's answer; a dataclass with a ``status`` name."""
        raise NotImplementedError

    def _should_end(self) -> bool:
        """True when the instance has nothing left to do and should close (default: never)."""
        return False

    def _reply_when_gone(self, message: Message) -> Any:
        """The reply to a message still queued when the instance ended."""
        raise NotImplementedError

    def _continue_as_new_input(self) -> Any:
        """The argument of the next run: everything the instance needs to go on.

        It includes :meth:`_pending_signals` as ``pending``.
        """
        raise NotImplementedError

    def _revive(self, signal: PendingSignal) -> Message:
        """The queued message of a signal carried over from the previous run."""
        return Message(signal.name, signal.payload, from_signal=True)

    # --- the engine -----------------------------------------------------------------------

    def _pending_signals(self) -> list[PendingSignal]:
        """The queued messages, all from signals once the run is ready to continue as new."""
        return [PendingSignal(m.name, m.payload) for m in self._queue]

    def _refuse_while_continuing(self) -> None:
        """Update validator: a run that is about to continue as new takes no more updates.

        The refusal is not recorded and the client sends the update again, so it reaches the
        next run; this is what lets a run under constant traffic end (see ``_run_loop``).
        """
        if self._continuing:
            raise _continuing_as_new()

    def _count_message(self) -> None:
        """Count a client call against this run's budget (Temporal allows 2,000 updates a run)."""
        self._messages_this_run += 1

    def _post(self, name: str, payload: Any = None) -> None:
        """Enqueue a message that came as a signal: the same ordered path, nobody waits.

        Its failure cannot be answered, so it is recorded as the instance's ``last_error``.
        """
        self._queue.append(Message(name, payload, from_signal=True))
        self._count_message()

    async def _submit(self, name: str, payload: Any = None) -> Any:
        """Enqueue a message for the main loop and wait for its reply (or error)."""
        message = Message(name, payload)
        self._queue.append(message)
        self._count_message()
        await workflow.wait_condition(lambda: message.done)
        if message.error is not None:
            raise message.error
        return message.result

    def _user_id(self) -> str:
        """The user id: the workflow ID after ``{kind}:{name}:`` (ids may contain ``:``)."""
        return workflow.info().workflow_id.split(":", 2)[2]

    def _failure(self, error: HandlerError, attempt: int) -> LastError:
        """``last_error`` for ``error`` on ``attempt``, stamped now."""
        return LastError(error.error_type, error.message, attempt, workflow.now())

    def _retry_at(
        self, plan: RetryPlan, failed_attempt: int, first_attempt_at: datetime
    ) -> datetime | None:
        """When the next attempt is due after ``failed_attempt`` failed, or ``None``: no retry."""
        return plan.next_attempt_at(
            failed_attempt=failed_attempt,
            first_attempt_at=first_attempt_at,
            now=workflow.now(),
            random_unit=workflow.random().random(),
        )

    def _execution_error(self, error: HandlerError) -> ApplicationError:
        """The failure an update answers with when a handler failed and nothing handled it."""
        return execution_error(
            kind=self._kind,
            job_name=self._job_name,
            instance_id=workflow.info().workflow_id,
            error=error,
        )

    def _finish(self) -> None:
        """End the instance after the current step (``ctx.terminate()``)."""
        self._finished = True

    def _summary_due(self) -> bool:
        """True when the memo summary should be written again.

        At once when the status or the last error changed, or when there is a next time and the
        summary shows none ahead (none, or one that has passed). Any other change (counts, an
        alarm moved later) waits for one of those, or for ``SUMMARY_INTERVAL`` after the last
        write: writing the memo makes the server rewrite the visibility record, and once per
        call it made an ``add`` to an idle Debounce key 50% slower on the dev server (README,
        "Status without a worker").
        """
        view, published = self._status_view(), self._published_view
        if view == published:
            return False
        now = workflow.now()
        if (
            published is None
            or view.status != published.status
            or view.last_error != published.last_error
        ):
            return True
        shown, next_time = _next_time(published), _next_time(view)
        if next_time is not None and (shown is None or shown <= now):
            return True  # the summary shows no time ahead, and there is one
        return now - self._published_at >= SUMMARY_INTERVAL

    async def _keep_summary_current(self) -> None:
        """Write the status summary to the memo when it is due, and ``JobStatus`` with it.

        The memo is what ``status`` answers from when no worker runs; the summary is exact as of
        the time written with it. This runs beside the main loop and waits on a condition, which
        Temporal checks once per workflow activation, so a burst of calls costs one upsert
        event at most, and no timer is disturbed. ``JobStatus`` is written only when the status
        name changes, and only when the instance was started with the job search attributes.
        """
        while True:
            view = self._published_view = self._status_view()
            self._published_at = workflow.now()
            workflow.upsert_memo({STATUS_MEMO: view, STATUS_AS_OF_MEMO: self._published_at})
            if view.status != self._published_status:
                self._published_status = view.status
                if workflow.info().typed_search_attributes.get(JOB_KIND) is not None:
                    workflow.upsert_search_attributes([JOB_STATUS.value_set(view.status)])
            await workflow.wait_condition(self._summary_due)

    def _record_event(self, name: str, **fields: Any) -> None:
        """Emit lifecycle event ``name`` of the step being taken, from an activity (never here)."""
        if self._step_events_on is not False:
            self._outbox.append(StepEvent(name, workflow.now(), fields))

    def _events_emitted(self) -> bool:
        return not self._outbox and not self._emitting

    async def _emit_step_events(self) -> None:
        """Hand step events no handler call took to the step-events local activity, in batches.

        It is a local activity: it runs in this worker while the workflow task that took the
        step completes, and its result is recorded with it (one marker event; a replay does not
        run it again). A regular activity would cost five more events and a workflow task per
        new Debounce instance. Like every activity it is at least once: if that workflow task
        fails, the step is taken again and its events emitted again.
        """
        while True:
            await workflow.wait_condition(lambda: bool(self._outbox))
            batch, self._outbox = self._outbox, []
            self._emitting = True
            try:
                await workflow.execute_local_activity(
                    EMIT_STEP_EVENTS,
                    StepEvents(
                        kind=self._kind,
                        job_name=self._job_name,
                        instance_id=workflow.info().workflow_id,
                        user_id=self._user_id(),
                        events=batch,
                    ),
                    start_to_close_timeout=timedelta(seconds=10),
                    retry_policy=STEP_EVENTS_RETRY,
                )
            except ActivityError:
                workflow.logger.warning("lifecycle events lost: %s", [e.name for e in batch])
            finally:
                self._emitting = False

    def _handlers_and_events_done(self) -> bool:
        """Every update handler has returned and every step event is emitted."""
        return workflow.all_handlers_finished() and self._events_emitted()

    async def _run_loop(self) -> None:
        """Handle messages and alarms until the instance ends or continues as new."""
        # Runs started before OPERATIONS_PATCH replay without the summary and step events.
        self._step_events_on = workflow.patched(OPERATIONS_PATCH)
        if self._step_events_on:
            self._reporters = [
                asyncio.create_task(self._keep_summary_current()),
                asyncio.create_task(self._emit_step_events()),
            ]
        else:
            self._outbox.clear()
        while not self._finished:
            if self._continuing or (
                self._should_continue_as_new() and workflow.patched(CARRY_SIGNALS_PATCH)
            ):
                await self._continue_as_new_carrying_signals()
            elif self._queue:
                await self._handle(self._queue.popleft())
            elif self._alarm_due():
                await self._on_alarm()
            elif self._should_end():
                # A call may still arrive while the last handlers return; it keeps us going.
                await workflow.wait_condition(
                    lambda: bool(self._queue) or workflow.all_handlers_finished()
                )
                if not self._queue and self._should_end():
                    break
            elif self._should_continue_as_new():
                # Before CARRY_SIGNALS_PATCH: continue only once the queue is empty. Under a
                # steady stream of signals that could grow the history without bound.
                # Let every handler that already has its reply return before moving on;
                # a message that arrives meanwhile is handled first.
                await workflow.wait_condition(
                    lambda: bool(self._queue) or self._handlers_and_events_done()
                )
                if not self._queue:
                    workflow.continue_as_new(self._continue_as_new_input())
            else:
                await self._sleep_until_next_event()
        while self._queue:
            message = self._queue.popleft()
            message.result, message.done = self._reply_when_gone(message), True
        await workflow.wait_condition(self._handlers_and_events_done)

    async def _continue_as_new_carrying_signals(self) -> None:
        """Continue as new now, carrying the queued signals over to the next run.

        From here on updates are refused, and the queued ones (their handlers not run yet) are
        answered with the same refusal: the client sends them again and the next run takes them,
        after the carried signals that arrived before them. So no handler runs in this run any
        more, except for signals beyond ``MAX_CARRIED_BYTES``, which are handled here first.
        """
        self._continuing = True
        for message in self._queue:
            if not message.from_signal:
                message.error, message.done = _continuing_as_new(), True
        self._queue = deque(m for m in self._queue if m.from_signal)
        if self._carried_bytes() > MAX_CARRIED_BYTES:
            await self._handle(self._queue.popleft())
            return
        await workflow.wait_condition(self._handlers_and_events_done)
        # Signals that arrived meanwhile are queued and carried too, unless they are too many.
        if self._carried_bytes() <= MAX_CARRIED_BYTES:
            workflow.continue_as_new(self._continue_as_new_input())

    def _carried_bytes(self) -> int:
        converter = workflow.payload_converter()
        return sum(converter.to_payloads([m.payload])[0].ByteSize() for m in self._queue)

    async def _handle(self, message: Message) -> None:
        try:
            message.result = await self._process(message)
        except ApplicationError as err:
            message.error = err
            if message.from_signal:
                self._note_failure(self._failure(handler_error(err), 1))
        message.done = True

    def _alarm_due(self) -> bool:
        wake_at = self._wake_at()
        return wake_at is not None and workflow.now() >= wake_at

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (
            self._messages_this_run >= self.max_messages_per_run
            or info.get_current_history_length() >= self.max_history_events
            or info.is_continue_as_new_suggested()
        )

    async def _sleep_until_next_event(self) -> None:
        wake_at = self._wake_at()
        timeout = None if wake_at is None else wake_at - workflow.now()
        # Wake for a message, a moved alarm or nothing left to do; a timeout means the alarm is
        # due. The loop then decides.
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: (
                    bool(self._queue)
                    or self._wake_at() != wake_at
                    or self._should_end()
                    or self._should_continue_as_new()
                ),
                timeout=timeout,
            )

    async def _call_handler(self, call: HandlerCall, timeout: timedelta) -> HandlerOutcome:
        """Run one user handler in the handler activity and return its outcome.

        ``timeout`` is the definition's handler timeout; the activity enforces it itself and
        reports an overrun as a handler failure, so the start-to-close timeout here only catches a
        worker that stopped answering.
        """
        # Step events so far go with this call, which the same workflow task schedules: they
        # are emitted before the handler's own.
        call.step_events, self._outbox = self._outbox, []
        try:
            outcome: HandlerOutcome = await workflow.execute_activity(
                RUN_HANDLER,
                call,
                result_type=HandlerOutcome,
                start_to_close_timeout=timeout + timedelta(minutes=1),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=INFRASTRUCTURE_RETRY,
            )
            return outcome
        except ActivityError as err:
            cause = err.cause
            error_type = (
                (cause.type or "ApplicationError")
                if isinstance(cause, ApplicationError)
                else type(cause or err).__name__
            )
            message = cause.message if isinstance(cause, FailureError) else str(err)
            return HandlerOutcome(ok=False, error=HandlerError(error_type, message))


def _next_time(view: Any) -> datetime | None:
    """The next time a status view shows (each kind has one such field)."""
    for name in SUMMARY_TIMES:
        if hasattr(view, name):
            shown: datetime | None = getattr(view, name)
            return shown
    return None


def _continuing_as_new() -> ApplicationError:
    """The refusal of an update by a run that is continuing as new; the client sends it again."""
    return ApplicationError(
        "this run is continuing as new; send the update again",
        type=CONTINUING_AS_NEW_ERROR_TYPE,
        non_retryable=True,
    )


def handler_error(err: ApplicationError) -> HandlerError:
    """The handler error inside an ``execution_error`` (or the error itself otherwise)."""
    if err.type == EXECUTION_ERROR_TYPE and len(err.details) == 5:
        return HandlerError(str(err.details[3]), str(err.details[4]))
    return HandlerError(err.type or "ApplicationError", err.message)


def execution_error(
    *, kind: str, job_name: str, instance_id: str, error: HandlerError
) -> ApplicationError:
    """The failure an update answers with when a handler failed and nothing handled it."""
    return ApplicationError(
        f"{kind} job {job_name!r} instance {instance_id!r} failed: "
        f"{error.error_type}: {error.message}",
        kind,
        job_name,
        instance_id,
        error.error_type,
        error.message,
        type=EXECUTION_ERROR_TYPE,
        non_retryable=True,
    )
