"""The entity engine shared by the three kinds of job.

One instance is one long-lived workflow. Every client call (an update, or a signal for the
fire-and-forget variants) is a message with an identity; a duplicate of a call the instance
already answered gets that answer again, one of a call still queued waits for it. Messages are
handled one at a time, in arrival order, by one main loop, which otherwise sleeps until the
instance's single alarm (next run, flush deadline, user alarm or retry) is due; several queued
messages may share one handler activity call. So user handlers never overlap.

A kind (see ``continuous.py``) supplies what messages do, what the alarm does, when the alarm
is, and the input to continue as new with. The engine owns the loop, admission (duplicates,
payload budgets, jobs the worker does not have), the handler activity, the alarm timer, the
status summary, the end of an instance and the decision to continue as new long before
Temporal's limits (2,000 updates and ~50,000 events per run, 2 MB per payload).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

from durable_jobs._registry import registry_for_task_queue
from durable_jobs.errors import JobNotFoundError
from durable_jobs.protocol import (
    CONTINUING_AS_NEW_ERROR_TYPE,
    EXECUTION_ERROR_TYPE,
    INSTANCE_ENDED_ERROR_TYPE,
    JOB_KIND,
    JOB_STATUS,
    MAX_QUEUED_BYTES,
    NOT_REGISTERED_ERROR_TYPE,
    PAYLOAD_LIMIT_BYTES,
    REFUSED_ERROR_TYPE,
    STATUS_AS_OF_MEMO,
    STATUS_MEMO,
    Call,
    CallAnswer,
    CarriedMessage,
    LastError,
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
    StepOutcome,
)
from durable_jobs.retry import RetryPlan
from durable_jobs.workflows.calls import CallMemory, replay

MESSAGE_CAP_PATCH = "messages-per-run-1500"
"""The patch that raised a run's message cap from ``MESSAGE_CAP_BEFORE_PATCH`` to 1,500."""

MESSAGE_CAP_BEFORE_PATCH = 1_000

SUMMARY_AFTER_CALL_PATCH = "summary-after-handler-call"
"""The patch that holds back a summary write made due only by ``SUMMARY_INTERVAL`` while an
alarm's or a message's handler call is under way, until it returns."""

SUMMARY_INTERVAL = timedelta(minutes=1)
"""How often at most the memo summary is written for changes that do not make it due at once."""

SUMMARY_TIMES = ("next_run_at", "will_flush_at", "scheduled_at")
"""The field of a status view that holds its next time (one per kind)."""

STEP_EVENTS_RETRY = RetryPolicy(maximum_attempts=5)
"""Retries of the step-events local activity; events are reports, never a job's failure."""

WORK_PER_ACTIVATION = 250
"""The most in-workflow folds (Debounce reducers) one workflow activation does; the rest waits
for the next one, so a backlog never trips Temporal's deadlock detector (2 s per activation)."""

HANDLER_CALL_TIMEOUT = timedelta(days=30)
"""The start-to-close timeout of a handler call: a formality. The worker's definition is the
one source of the handler timeout (the activity enforces it), and a lost worker is noticed by
the heartbeat timeout."""

LOCAL_HANDLER_CALL_TIMEOUT = timedelta(minutes=10)
"""The start-to-close timeout of a handler call run as a local activity (``local=True``): local
activities cannot heartbeat, so this is what notices a lost one. The definition's timeout (at
most 30 s for local handlers) is still what the activity enforces; batched steps add up."""

INFRASTRUCTURE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=[NOT_REGISTERED_ERROR_TYPE],
)
"""Temporal's retries of the handler activity: infrastructure faults only, bounded.

A user's exception never fails the activity (it comes back as an outcome), so these retries
cover a lost worker or a timed-out heartbeat, which must not use up a user attempt (SPEC §6).
After ten such faults in a row the call counts as a handler failure, and the job's own retry
policy decides what follows: nothing re-runs a user's handler forever.
"""

CARRY_MARGIN_BYTES = 64 * 1024
"""Room kept under Temporal's payload limit when continuing as new (the input's framing)."""


@dataclass
class Message:
    """One client call; ``result`` or ``error`` is set when the instance has handled it."""

    name: str
    payload: Any
    call: Call | None
    from_signal: bool
    arrived_at: datetime
    size: int = 0
    """Payload bytes, counted against ``MAX_QUEUED_BYTES`` while an acknowledged message waits."""
    done: bool = False
    result: Any = None
    error: ApplicationError | None = field(default=None, repr=False)


class EntityEngine:
    """The message loop, the alarm, the handler activity and continue-as-new of one instance."""

    max_messages_per_run = 1_500
    """Continue as new after this many messages: under Temporal's 2,000 updates per run with room
    for the 10 in flight and the 10 given back. Temporal's own suggestion (about 4,000 history
    events) usually comes first on a busy key."""

    max_history_events = 10_000
    """Continue as new past this history length, well under Temporal's ~50,000 event limit."""

    max_batch = 8
    """The most queued messages one handler activity call takes."""

    def _start_engine(
        self,
        *,
        kind: str,
        job_name: str,
        carried: list[CarriedMessage],
        answers: list[CallAnswer],
        key_window: timedelta,
        local_handlers: bool,
        publish_status: bool,
        new_instance: bool,
        view_type: type[Any],
    ) -> None:
        self._kind = kind
        self._job_name = job_name
        self._local_handlers = local_handlers
        self._publish_status = publish_status
        self._inbox: deque[Message] = deque(self._revive(m) for m in carried)
        self._queued_bytes = sum(m.size for m in carried)
        self._calls = CallMemory(answers, key_window)
        self._in_flight: dict[str, Message] = {
            m.call.identity: m for m in self._inbox if m.call is not None
        }
        self._messages_this_run = 0
        self._finished = False
        self._ending = False
        self._continuing = False
        self._new_instance = new_instance
        self._accepted_any = not new_instance
        # The client writes the first summary with the start request; continue-as-new carries
        # memo and search attributes over.
        self._published_view: Any = workflow.memo_value(STATUS_MEMO, None, type_hint=view_type)
        self._published_at: datetime = workflow.memo_value(
            STATUS_AS_OF_MEMO, workflow.now(), type_hint=datetime
        )
        self._published_status = workflow.info().typed_search_attributes.get(JOB_STATUS)
        self._outbox: list[StepEvent] = []
        self._emitting = False
        self._handler_calls = 0
        """Handler activity calls in flight (one at a time; a count keeps the bookkeeping plain)."""
        self._summary_held_since: datetime | None = None
        """When a summary write due by the interval was first held back for a step under way."""
        self._alarm_at: datetime | None = None
        self._alarm_timer: asyncio.Task[None] | None = None
        self._alarm_rang = False
        self._work_at: datetime | None = None
        self._work_left = 0
        self._arrivals_at: datetime | None = None
        self._arrivals = 0
        if carried:  # a new instance that its predecessor's queued calls start
            self._accept()

    # --- what a kind provides -------------------------------------------------------------

    def _wake_at(self) -> datetime | None:
        """When the alarm is due, or ``None`` when nothing is scheduled."""
        raise NotImplementedError

    async def _on_alarm(self) -> None:
        """Do what the alarm is for; it is due now."""
        raise NotImplementedError

    async def _process(self, messages: list[Message]) -> None:
        """Handle the messages (one, or a batch from :meth:`_batchable`) and complete each."""
        raise NotImplementedError

    def _batchable(self, batch: list[Message], candidate: Message) -> bool:
        """True when ``candidate`` may share one handler call with ``batch`` (default: never)."""
        return False

    def _note_failure(self, failure: LastError) -> None:
        """Record a failure nobody is waiting for (a signal's) as the instance's last error."""
        raise NotImplementedError

    def _status_view(self) -> Any:
        """The ``status`` query's answer; a dataclass with a ``status`` name."""
        raise NotImplementedError

    def _should_end(self) -> bool:
        """True when the instance has nothing left to do and should close (default: never)."""
        return False

    def _has_backlog(self) -> bool:
        """True when acknowledged work waits for the fold budget of a later activation."""
        return False

    async def _work_off_backlog(self) -> None:
        """Do some of that work (it spends :meth:`_spend_work`)."""

    def _give_back_waiting(self) -> None:
        """Give back the updates a kind keeps waiting outside the queue (see :meth:`_give_back`),
        before the run moves on without them."""

    def _creates_instance(self, name: str) -> bool:
        """True for a message that would create an instance (``add``, ``send``)."""
        return False

    def _continue_as_new_input(
        self, carried: list[CarriedMessage], answers: list[CallAnswer]
    ) -> Any:
        """The argument of the next run: everything the instance needs to go on."""
        raise NotImplementedError

    def _fresh_instance_input(self, carried: list[CarriedMessage]) -> Any:
        """The argument of a new instance that starts with ``carried`` (after an end), or
        ``None`` when nothing is left for one (default)."""
        return None

    def _revive(self, carried: CarriedMessage) -> Message:
        """The queued message of one carried over from the previous run."""
        raise NotImplementedError

    # --- admission ------------------------------------------------------------------------

    def _check_update(self, name: str, call: Call) -> None:
        """Update validator: refuse, before anything is recorded, a call this run cannot take.

        The refusal is not recorded. While the run is continuing as new (or ending) the client
        sends the update again, which reaches the next run (or instance).
        """
        if self._continuing:
            raise _continuing_as_new()
        if self._ending:
            raise _instance_ended()
        self._check_registered()
        self._check_same_call(name, call)

    def _check_registered(self) -> None:
        """Refuse a call for a job that the worker running this workflow does not have."""
        task_queue = workflow.info().task_queue
        try:
            registry = registry_for_task_queue(task_queue)
            registry.get(self._kind, self._job_name)  # type: ignore[arg-type]
        except JobNotFoundError as err:
            known = sorted(registry) if "registry" in locals() else []
            raise ApplicationError(
                f"the worker on task queue {task_queue!r} has no {self._kind} job named "
                f"{self._job_name!r}; its jobs: {known}",
                task_queue,
                type=NOT_REGISTERED_ERROR_TYPE,
                non_retryable=True,
            ) from err

    def _check_same_call(self, name: str, call: Call) -> None:
        """Refuse an idempotency key already used for another kind of call on this instance."""
        known = self._calls.get(call)
        earlier = known.name if known else None
        if earlier is None and call.identity in self._in_flight:
            earlier = self._in_flight[call.identity].name
        if earlier is not None and earlier != name:
            raise self._refused(
                f"idempotency key {call.idempotency_key!r} was already used for a {earlier!r} "
                f"call on this instance; a {name!r} call needs a key of its own"
            )

    def _check_room(self, size: int) -> None:
        """Refuse a message that would take the acknowledged-but-waiting messages over budget."""
        if self._queued_bytes and self._queued_bytes + size > MAX_QUEUED_BYTES:
            raise self._refused(
                f"the instance holds {self._queued_bytes:,} bytes of calls it has not handled "
                f"yet; this one ({size:,} bytes) would take it over {MAX_QUEUED_BYTES:,} "
                "(Temporal refuses payloads over 2 MB); send it again once the instance catches up"
            )

    def _refused(self, message: str) -> ApplicationError:
        return ApplicationError(
            f"{self._kind} job {self._job_name!r} instance {workflow.info().workflow_id!r}: "
            f"{message}",
            type=REFUSED_ERROR_TYPE,
            non_retryable=True,
        )

    def _duplicate(self, call: Call) -> CallAnswer | Message | None:
        """The answer or the queued message of an earlier call with ``call``'s identity."""
        return self._calls.get(call) or self._in_flight.get(call.identity)

    async def _submit(self, name: str, request: Any) -> Any:
        """Handle an update: the same answer for a duplicate, else queue it and wait."""
        call: Call = request.call
        self._accept()
        earlier = self._duplicate(call)
        if isinstance(earlier, CallAnswer):
            return replay(earlier)
        message = earlier or self._enqueue(name, request, from_signal=False)
        await workflow.wait_condition(lambda: message.done)
        if message.error is not None:
            raise message.error
        return message.result

    def _post(self, name: str, request: Any, size: int = 0) -> None:
        """Handle a signal: drop a duplicate; refuse (and report) what cannot be taken; queue."""
        call: Call = request.call
        if self._duplicate(call) is not None:
            return
        try:
            self._check_registered()
            self._check_same_call(name, call)
            self._check_room(size)
        except ApplicationError as err:
            self._report_unanswered(err, handler_of_message(name))
            return
        self._accept()
        self._enqueue(name, request, from_signal=True, size=size)

    def _accept(self) -> None:
        """A call is taken: a new instance now exists for it (a refused first call leaves none)."""
        if not self._accepted_any:
            self._accepted_any = True
            if self._new_instance:
                self._record_event("job.started")

    def _messages_in_activation(self) -> int:
        """How many calls arrived in this activation (told apart by workflow time)."""
        now = workflow.now()
        if now != self._arrivals_at:
            self._arrivals_at, self._arrivals = now, 0
        return self._arrivals

    def _count_arrival(self) -> None:
        self._messages_in_activation()
        self._arrivals += 1

    def _enqueue(self, name: str, request: Any, *, from_signal: bool, size: int = 0) -> Message:
        message = Message(name, request, request.call, from_signal, workflow.now(), size)
        self._inbox.append(message)
        if message.call is not None:
            self._in_flight[message.call.identity] = message
        if from_signal:
            self._queued_bytes += size
        self._count_message()
        return message

    def _count_message(self) -> None:
        """Count a call against this run's budget and this activation's arrivals."""
        self._messages_this_run += 1
        self._count_arrival()

    def _complete(
        self, message: Message, result: Any = None, error: ApplicationError | None = None
    ) -> None:
        """Answer ``message`` and remember the answer for duplicates.

        A signal's failure cannot be answered: it becomes the instance's ``last_error`` (the
        handler activity has already emitted its ``job.failed``).
        """
        message.result, message.error = result, error
        self._release(message)
        if message.call is not None:
            self._calls.remember(message.call, message.name, result=result, error=error)
        if error is not None and message.from_signal:
            self._note_failure(self._failure(handler_error(error), 1))

    def _remember(self, call: Call, name: str, result: Any) -> None:
        """Remember the answer of a call answered outside the inbox (a Debounce add)."""
        self._calls.remember(call, name, result=result)

    def _give_back(self, message: Message, error: ApplicationError) -> None:
        """Answer ``message`` with a refusal that its client acts on by sending it again."""
        message.error = error
        self._release(message)

    def _release(self, message: Message) -> None:
        message.done = True
        if message.call is not None and self._in_flight.get(message.call.identity) is message:
            del self._in_flight[message.call.identity]
        if message.from_signal:
            self._queued_bytes -= message.size

    def _refusal_to_resend(self) -> ApplicationError:
        """The refusal that sends a queued update's client to the next run or instance."""
        return _continuing_as_new() if self._continuing else _instance_ended()

    def _report_unanswered(self, err: ApplicationError, handler: str) -> None:
        """A fire-and-forget call refused in the workflow: ``last_error`` and ``job.failed``."""
        error = handler_error(err)
        self._note_failure(self._failure(error, 1))
        self._record_event(
            "job.failed",
            handler=handler,
            error=f"{error.error_type}: {error.message}",
            attempt=1,
            will_retry=False,
        )

    # --- helpers for kinds ----------------------------------------------------------------

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

    def _give_back_unhandled(self, messages: list[Message]) -> None:
        """Put messages a terminating step left unhandled back at the head of the queue."""
        for message in reversed(messages):
            if not message.done:
                self._inbox.appendleft(message)

    def _spend_work(self) -> bool:
        """Take one unit of this activation's in-workflow work budget; False when spent.

        Workflow time is the time of the workflow task, the same on replay, so it tells
        activations apart deterministically.
        """
        now = workflow.now()
        if now != self._work_at:
            self._work_at, self._work_left = now, WORK_PER_ACTIVATION
        if self._work_left <= 0:
            return False
        self._work_left -= 1
        return True

    def _work_spent(self) -> bool:
        return workflow.now() == self._work_at and self._work_left <= 0

    async def _next_activation(self) -> None:
        """Let this activation end, so work goes on in the next one (a 1 ms timer)."""
        await workflow.sleep(timedelta(milliseconds=1))

    def _record_event(self, name: str, **fields: Any) -> None:
        """Emit lifecycle event ``name`` of the step being taken, from an activity (never here)."""
        self._outbox.append(StepEvent(name, workflow.now(), fields))

    # --- the status summary and step events ----------------------------------------------

    def _summary_due(self) -> bool:
        """True when the memo summary should be written again.

        At once when the status or the last error changed, or when there is a next time and the
        summary shows none ahead (none, or one that has passed, when the next is at least
        ``SUMMARY_INTERVAL`` away). Any other change (counts, an alarm moved later, the next
        run of a frequent schedule) waits for one of those, or for ``SUMMARY_INTERVAL`` after
        the last write (held back while a step is under way, a minute more at most): writing the
        memo makes the server rewrite the visibility record, and once per call it made an
        ``add`` to an idle Debounce key 50% slower on the dev server.
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
        # The summary shows no time ahead, and there is one: at once, unless the next time is
        # under SUMMARY_INTERVAL away (an `every("5 seconds")` job would write its memo, one
        # more history event and a visibility update, after every run).
        if next_time is not None and (
            shown is None or (shown <= now and next_time - now >= SUMMARY_INTERVAL)
        ):
            return True
        if now - self._published_at < SUMMARY_INTERVAL:
            return False
        # An alarm that rang or a handler call in flight changes the view again when the call
        # returns (a Task left idle, a run that sets the next one): one write then says both,
        # unless the instance stays busy for another interval. Runs recorded before the patch
        # wrote at once, and keep doing so on replay; the patch is asked only here, so a run
        # that never holds a write back carries no marker.
        if not (self._handler_calls or self._alarm_rang):
            return True
        if self._summary_held_since is None:
            self._summary_held_since = now
        if now - self._summary_held_since >= SUMMARY_INTERVAL:
            return True
        return not workflow.patched(SUMMARY_AFTER_CALL_PATCH)

    async def _keep_summary_current(self) -> None:
        """Write the status summary to the memo when it is due, and ``JobStatus`` with it.

        The memo is what ``status`` answers from when no worker runs; the summary is exact as of
        the time written with it. This runs beside the main loop and waits on a condition, which
        Temporal checks once per workflow activation, so a burst of calls costs one upsert
        event at most, and no timer is disturbed. ``JobStatus`` is written only when the status
        name changes, and only when the instance was started with the job search attributes.
        """
        while True:
            await workflow.wait_condition(self._summary_due)
            view = self._published_view = self._status_view()
            self._published_at, self._summary_held_since = workflow.now(), None
            workflow.upsert_memo({STATUS_MEMO: view, STATUS_AS_OF_MEMO: self._published_at})
            if view.status != self._published_status:
                self._published_status = view.status
                if workflow.info().typed_search_attributes.get(JOB_KIND) is not None:
                    workflow.upsert_search_attributes([JOB_STATUS.value_set(view.status)])

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

    # --- the main loop --------------------------------------------------------------------

    async def _run_loop(self) -> None:
        """Handle messages and alarms until the instance ends or continues as new."""
        # Created in this order (the summary first), as the recorded histories were.
        self._reporters = [
            *([asyncio.create_task(self._keep_summary_current())] if self._publish_status else []),
            asyncio.create_task(self._emit_step_events()),
        ]
        while not self._finished:
            if self._has_backlog():  # cheap, and never carried over continue-as-new
                if self._work_spent():
                    await self._next_activation()
                await self._work_off_backlog()
            elif self._continuing or self._should_continue_as_new():
                await self._continue_as_new()
            elif not self._accepted_any or (not self._inbox and self._should_end()):
                # A new instance whose creating call was refused ends at once, having run
                # nothing. A call may still arrive while the last handlers return: it keeps
                # the instance going.
                await workflow.wait_condition(
                    lambda: bool(self._inbox) or self._handlers_and_events_done()
                )
                if not self._inbox and (not self._accepted_any or self._should_end()):
                    self._disarm_alarm()
                    return
            elif self._inbox:
                await self._handle_next()
            elif self._alarm_due():
                self._alarm_rang = False
                await self._on_alarm()
            else:
                await self._sleep_until_next_event()
        await self._end()

    async def _handle_next(self) -> None:
        """Handle the next message, with the queued ones that may share its handler call."""
        batch = [self._inbox.popleft()]
        while (
            self._inbox and len(batch) < self.max_batch and self._batchable(batch, self._inbox[0])
        ):
            batch.append(self._inbox.popleft())
        await self._process(batch)

    async def _end(self) -> None:
        """Close the instance after ``ctx.terminate()``: nothing queued is answered for it.

        Queued updates are given back (their clients send them again: a ``send`` then creates
        the next instance, a ``trigger`` finds none). Queued fire-and-forget calls that create
        an instance (``add_nowait``, ``send_nowait``) start the next instance as this run
        continues as new into it; the others are dropped, as they would find no instance.
        """
        self._ending = True
        creating: list[CarriedMessage] = []
        while True:
            while self._inbox:
                message = self._inbox.popleft()
                if not message.from_signal:
                    self._give_back(message, _instance_ended())
                    continue
                self._release(message)
                if self._creates_instance(message.name):
                    creating.append(_carried(message))
            self._give_back_waiting()
            await workflow.wait_condition(
                lambda: bool(self._inbox) or self._handlers_and_events_done()
            )
            if not self._inbox:
                break
        self._disarm_alarm()
        next_input = self._fresh_instance_input(creating)
        if next_input is not None:
            workflow.continue_as_new(next_input)

    async def _continue_as_new(self) -> None:
        """Continue as new now, carrying the acknowledged messages over to the next run.

        From here on updates are refused, and the queued ones (their handlers not run yet) are
        given back with the same refusal: the client sends them again (with the same update ID)
        and the next run takes them, after the carried messages that arrived before them.
        """
        self._continuing = True
        for message in [m for m in self._inbox if not m.from_signal]:
            self._give_back(message, _continuing_as_new())
        self._inbox = deque(m for m in self._inbox if m.from_signal)
        self._give_back_waiting()
        await workflow.wait_condition(self._handlers_and_events_done)
        if self._messages_in_activation() > WORK_PER_ACTIVATION:
            # A burst (signals after an outage) took this activation's time; encoding what
            # is carried too could trip the deadlock detector: go on in the next one.
            await self._next_activation()
        carried = [_carried(m) for m in self._inbox]
        next_input = self._continue_as_new_input(carried, self._calls.to_carry())
        # Encoded once: for its size here, and as the continue-as-new input itself.
        payload = workflow.payload_converter().to_payloads([next_input])[0]
        if payload.ByteSize() > PAYLOAD_LIMIT_BYTES - CARRY_MARGIN_BYTES:
            # Admission keeps this rare: handle something that shrinks what is carried first.
            if self._inbox:
                await self._handle_next()
                return
            if self._alarm_due():
                self._alarm_rang = False
                await self._on_alarm()
                return
        self._disarm_alarm()
        workflow.continue_as_new(RawValue(payload))

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (
            self._past_message_cap()
            or info.get_current_history_length() >= self.max_history_events
            or info.is_continue_as_new_suggested()
        )

    def _past_message_cap(self) -> bool:
        """True past ``max_messages_per_run`` messages in this run.

        Runs recorded before ``MESSAGE_CAP_PATCH`` continued as new at 1,000 messages, and keep
        doing so on replay. The patch is asked only then, so other runs carry no marker.
        """
        if self._messages_this_run < MESSAGE_CAP_BEFORE_PATCH:
            return False
        if self._messages_this_run >= self.max_messages_per_run:
            return True
        return not workflow.patched(MESSAGE_CAP_PATCH)

    # --- the alarm ------------------------------------------------------------------------

    def _alarm_due(self) -> bool:
        wake_at = self._wake_at()
        if wake_at is None:
            return False
        return workflow.now() >= wake_at or (self._alarm_rang and self._alarm_at == wake_at)

    def _arm_alarm(self, wake_at: datetime | None) -> None:
        """Keep one timer for ``wake_at``: a message that leaves the alarm where it is does not
        cancel and re-arm it (two history events per message).

        An alarm that moves is cancelled and re-armed in the same workflow task (two events).
        Keeping the old timer to ring early and re-arm then was measured worse for the common
        case of one move per period: five events and a workflow task of its own.
        """
        timer_runs = self._alarm_timer is not None and not self._alarm_timer.done()
        if wake_at == self._alarm_at and (timer_runs or wake_at is None):
            return
        self._disarm_alarm()
        self._alarm_at = wake_at
        if wake_at is None or wake_at <= workflow.now():
            return
        self._alarm_timer = asyncio.create_task(self._ring(wake_at - workflow.now()))

    def _disarm_alarm(self) -> None:
        if self._alarm_timer is not None and not self._alarm_timer.done():
            self._alarm_timer.cancel()
        self._alarm_timer, self._alarm_at, self._alarm_rang = None, None, False

    async def _ring(self, delay: timedelta) -> None:
        await workflow.sleep(delay)
        self._alarm_rang = True

    async def _sleep_until_next_event(self) -> None:
        wake_at = self._wake_at()
        self._arm_alarm(wake_at)
        # Wake for a message, a moved or ringing alarm, or nothing left to do; the loop decides.
        await workflow.wait_condition(
            lambda: (
                bool(self._inbox)
                or self._wake_at() != wake_at
                or self._alarm_rang
                or self._has_backlog()
                or self._should_end()
                or self._should_continue_as_new()
            )
        )

    # --- the handler activity -------------------------------------------------------------

    async def _call_handler(self, call: HandlerCall) -> HandlerOutcome:
        """Run the steps of ``call`` in the handler activity and return their outcomes.

        The activity enforces the handler timeout of the worker's definition and reports an
        overrun as a failure; an infrastructure fault that outlasts Temporal's bounded retries
        comes back as every step's failure.
        """
        # Step events so far go with this call, which the same workflow task schedules: they
        # are emitted before the handler's own.
        call.step_events, self._outbox = self._outbox, []
        self._handler_calls += 1  # see _summary_due
        try:
            if self._local_handlers:
                local: HandlerOutcome = await workflow.execute_local_activity(
                    RUN_HANDLER,
                    call,
                    result_type=HandlerOutcome,
                    start_to_close_timeout=LOCAL_HANDLER_CALL_TIMEOUT,
                    retry_policy=INFRASTRUCTURE_RETRY,
                )
                return local
            outcome: HandlerOutcome = await workflow.execute_activity(
                RUN_HANDLER,
                call,
                result_type=HandlerOutcome,
                start_to_close_timeout=HANDLER_CALL_TIMEOUT,
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
            error = HandlerError(error_type, message)
            return HandlerOutcome(steps=[StepOutcome(ok=False, error=error) for _ in call.steps])
        finally:
            self._handler_calls -= 1


def handler_of_message(name: str) -> str:
    """The user handler a message is for, as lifecycle events name it."""
    return "on_event" if name in ("add", "send") else "execute"


def as_call(data: Any) -> Call:
    """A call identity that came back from a carried payload as plain data."""
    if isinstance(data, Call):
        return data
    return Call(id=data["id"], idempotency_key=data.get("idempotency_key"))


def _carried(message: Message) -> CarriedMessage:
    return CarriedMessage(message.name, message.payload, message.arrived_at, message.size)


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


def _instance_ended() -> ApplicationError:
    """The refusal of an update queued when the instance ended; the client sends it again."""
    return ApplicationError(
        "the instance ended before this call was handled; send it again",
        type=INSTANCE_ENDED_ERROR_TYPE,
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
