"""The Debounce entity workflow: fold events per key, flush one batch (SPEC §5.2, §10.3, §10.4).

Workflow ID ``debounce:{name}:{id}``. ``add`` (update-with-start) and ``add.nowait`` (a
signal) fold the event into the batch as they arrive: the reducer is pure by contract and runs
in the workflow, so an add costs no activity, and adds fold in the order Temporal delivers
them. The typed state is kept between events (folding costs O(1) per event, not a re-read and
re-write of the whole state) and written out only when it leaves the workflow: a flush, a
``state`` query, continue-as-new. A batch never holds more than ``max_events`` events; events
that arrive while a flush attempt runs, or while the batch is full, are held in arrival order
and folded when they can be: into a new batch after a success, into the same batch after a
failure. One activation folds at most ``WORK_PER_ACTIVATION`` events; a backlog goes on in the
next. The one alarm is the flush deadline (or the next retry, or, for an idle instance holding
idempotency keys, when the last of them expires).
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from durable_jobs._models import adapter_for, from_data, json_size, type_name
from durable_jobs._registry import registry_for_task_queue
from durable_jobs._state import StoredStateError, load_state
from durable_jobs.context import DebounceEventContext
from durable_jobs.protocol import (
    MAX_STATE_BYTES,
    CallAnswer,
    CallRequest,
    CarriedMessage,
    LastError,
    StateView,
)
from durable_jobs.protocol.activities import (
    DebounceBatch,
    HandlerCall,
    HandlerError,
    HandlerStep,
)
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
from durable_jobs.workflows.calls import replay
from durable_jobs.workflows.engine import EntityEngine, Message, as_call

BATCH_STATE_SOFT_LIMIT = MAX_STATE_BYTES // 2
"""A batch whose state reaches this size flushes at once (``flush_reason="max_size"``), so the
state a flush delivers stays under the state budget even though it is measured only now and
then (see ``_measure``)."""


class _Held:
    """An acknowledged event waiting to be folded; ``waiter`` is the add waiting for its fold."""

    __slots__ = ("arrived_at", "event", "size", "waiter")

    def __init__(
        self, event: Any, arrived_at: datetime, size: int, waiter: Message | None = None
    ) -> None:
        self.event, self.arrived_at, self.size, self.waiter = event, arrived_at, size, waiter


@workflow.defn(name="DebounceJob", sandboxed=False)
class DebounceJobWorkflow(EntityEngine):
    """One Debounce job instance (one key)."""

    @workflow.init
    def __init__(self, input: DebounceInput) -> None:
        self._start_engine(
            kind="debounce",
            job_name=input.spec.job_name,
            carried=input.carried,
            answers=input.answers,
            key_window=timedelta(milliseconds=input.spec.idempotency_window_ms),
            local_handlers=input.spec.local_handlers,
            publish_status=input.spec.publish_status,
            new_instance=input.record is None,
            view_type=DebounceStatusView,
        )
        self._spec = input.spec
        self._start_token = input.start_token
        self._record = input.record or DebounceRecord(
            user_id=self._user_id(), state_version=input.state_version
        )
        self._held: deque[_Held] = deque(_Held(h.event, h.arrived_at, h.size) for h in input.held)
        self._queued_bytes += sum(h.size for h in input.held)
        self._flushing = False
        self._idle_after_flush = False
        self._size_full = False
        self._typed: Any = None
        self._typed_known = self._record.event_count == 0
        self._measured_bytes = 0
        self._unmeasured_bytes = 0
        if self._held:  # a new instance that its predecessor's held events start
            self._accept()

    @workflow.run
    async def run(self, input: DebounceInput) -> None:
        """Run until the batch is flushed or cleared with nothing new behind it."""
        await self._run_loop()

    # --- client calls ---------------------------------------------------------------------

    @workflow.update(name="add")
    async def add(self, request: AddRequest) -> AddReply:
        """Fold one event into the batch (or hold it behind a running flush)."""
        self._accept()
        earlier = self._duplicate(request.call)
        if isinstance(earlier, CallAnswer):
            reply: AddReply = replay(earlier)
            return reply
        taken = earlier if earlier is not None else self._take(request, waiting=True)
        if not isinstance(taken, Message):
            assert taken is not None  # a waiting add is refused by raising
            return taken
        await workflow.wait_condition(lambda: taken.done)
        if taken.error is not None:
            raise taken.error
        result: AddReply = taken.result
        return result

    @add.validator
    def _validate_add(self, request: AddRequest) -> None:
        self._check_update("add", request.call)
        if self._will_wait():
            self._check_room(json_size(request.event))

    @workflow.signal(name="add.nowait")
    def add_nowait(self, data: Any) -> None:
        """``add`` without waiting: folded the same way, in delivery order.

        Its argument is taken as plain data (an ``AddRequest``'s JSON): after an outage
        thousands of them arrive in one activation, and converting each to dataclasses was a
        third of that activation's time.
        """
        request = AddRequest(event=data["event"], call=as_call(data["call"]))
        if self._duplicate(request.call) is not None:
            return
        try:
            self._check_registered()
            self._check_same_call("add", request.call)
            if self._will_wait():
                self._check_room(json_size(request.event))
        except ApplicationError as err:
            self._report_unanswered(err, "on_event")
            return
        self._accept()
        self._take(request, waiting=False)

    @workflow.signal(name="flush.nowait")
    def flush_nowait(self, request: CallRequest) -> None:
        """``flush`` without waiting: the same queue."""
        self._post("flush", request)

    @workflow.update(name="flush")
    async def flush(self, request: CallRequest) -> FlushReply:
        """Flush now and wait for the attempt; ``reason="empty"`` when there is nothing."""
        result: FlushReply = await self._submit("flush", request)
        return result

    @flush.validator
    def _validate_flush(self, request: CallRequest) -> None:
        self._check_update("flush", request.call)

    @workflow.update(name="clear")
    async def clear(self, request: CallRequest) -> ClearReply:
        """Drop the batch without ``execute``."""
        result: ClearReply = await self._submit("clear", request)
        return result

    @clear.validator
    def _validate_clear(self, request: CallRequest) -> None:
        self._check_update("clear", request.call)

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
        waiting = record.event_count > 0 or bool(self._held)
        return DebounceStatusView(
            status="debouncing" if waiting else "idle",
            event_count=len(self._held) if self._flushing else record.event_count,
            will_flush_at=record.will_flush_at,
            started_at=record.started_at,
            last_error=record.last_error,
        )

    @workflow.query(name="state")
    def state(self) -> StateView:
        """The folded state of the pending batch, as JSON-ready data, and its version."""
        return StateView(self._state_data(), self._record.state_version)

    # --- the engine's hooks ---------------------------------------------------------------

    def _wake_at(self) -> datetime | None:
        if self._record.event_count:
            return self._record.will_flush_at
        return self._calls.user_keys_expire_at()

    async def _on_alarm(self) -> None:
        if self._record.event_count:
            await self._flush_attempt()
        # else: the idempotency keys an idle instance held have expired; the loop ends it

    async def _process(self, messages: list[Message]) -> None:
        message, record = messages[0], self._record
        if message.name == "clear":
            discarded = record.event_count + len(self._held)
            for held in self._held:  # none waits: a full batch answers its waiters as held
                self._release_held(held)
            self._held.clear()
            self._new_batch(last_error=record.last_error)
            self._complete(message, ClearReply(cleared=discarded > 0, discarded_events=discarded))
            return
        if record.event_count == 0:
            self._complete(message, FlushReply(flushed=False, event_count=0, reason="empty"))
            return
        record.flush_reason, record.attempt = "manual", 1
        size = record.event_count
        error = await self._flush_attempt()
        if error is not None:
            self._complete(message, error=self._execution_error(error))
        else:
            self._complete(message, FlushReply(flushed=True, event_count=size, reason="manual"))

    def _note_failure(self, failure: LastError) -> None:
        self._record.last_error = failure

    def _should_end(self) -> bool:
        return (
            self._record.event_count == 0
            and not self._held
            and self._calls.user_keys_expire_at() is None
        )

    def _has_backlog(self) -> bool:
        return bool(self._held) and not self._must_hold()

    async def _work_off_backlog(self) -> None:
        self._fold_held()

    def _creates_instance(self, name: str) -> bool:
        return name == "add"

    def _revive(self, carried: CarriedMessage) -> Message:
        request = CallRequest(as_call(carried.payload["call"]))
        return Message(carried.name, request, request.call, True, carried.arrived_at, carried.size)

    def _continue_as_new_input(
        self, carried: list[CarriedMessage], answers: list[CallAnswer]
    ) -> DebounceInput:
        self._record.state = self._state_data()
        return DebounceInput(
            spec=self._spec,
            record=self._record,
            held=self._carry_held(),
            carried=carried,
            answers=answers,
        )

    def _fresh_instance_input(self, carried: list[CarriedMessage]) -> DebounceInput | None:
        held = self._carry_held()
        if not held:
            return None
        return DebounceInput(spec=self._spec, state_version=self._record.state_version, held=held)

    # --- behaviour ------------------------------------------------------------------------

    def _definition(self) -> Any:
        jobs = registry_for_task_queue(workflow.info().task_queue)
        return jobs.get("debounce", self._spec.job_name)[1]

    def _batch_full(self) -> bool:
        max_events = self._spec.max_events
        return self._size_full or (
            max_events is not None and self._record.event_count >= max_events
        )

    def _must_hold(self) -> bool:
        """True when an arriving event cannot fold now: a flush runs, or the batch is full."""
        return self._flushing or self._batch_full()

    def _will_wait(self) -> bool:
        """True when an arriving event cannot fold at once: it waits behind a flush, a full
        batch or other waiting events, or for this activation's fold budget. Such events
        count against ``MAX_QUEUED_BYTES``, so what continue-as-new carries stays bounded."""
        return bool(self._held) or self._must_hold() or self._work_spent()

    def _take(self, request: AddRequest, *, waiting: bool) -> AddReply | Message | None:
        """Fold, hold or queue one arriving event; the reply when it is known at once.

        Folded: the batch's count and deadline. Held behind a flush or a full batch: the count
        of events held (the event was checked against the reducer first). Behind a backlog of
        this activation: a message the waiting ``add`` waits on until its event is folded.
        """
        self._count_message()
        now, size = workflow.now(), json_size(request.event)
        record = self._record
        if self._must_hold():
            try:
                self._reduce(request.event, None, 1)  # refuse now what can never fold
            except ApplicationError as err:
                self._refuse(request, err, waiting)
                return None
            self._held.append(_Held(request.event, now, size))
            self._queued_bytes += size
            reply = AddReply(self._created(request), len(self._held), None)
            self._remember(request.call, "add", reply)
            return reply
        if self._held or not self._spend_work():
            message = Message("add", request, request.call, not waiting, now, size)
            if request.call is not None:
                self._in_flight[request.call.identity] = message
            self._held.append(_Held(request.event, now, size, message))
            self._queued_bytes += size
            return message
        created = self._created(request)
        try:
            self._fold(request.event, now, size)
        except ApplicationError as err:
            self._refuse(request, err, waiting)
            return None
        reply = AddReply(created, record.event_count, record.will_flush_at)
        self._remember(request.call, "add", reply)
        return reply

    def _created(self, request: AddRequest) -> bool:
        """This add created the instance, or starts a batch where the instance would have gone.

        After a successful flush with nothing behind it, an instance lingers only while it
        holds idempotency keys; the add that starts its next batch answers as a new one would.
        """
        if request.call.id == self._start_token:
            return True
        if self._idle_after_flush and self._record.event_count == 0:
            self._idle_after_flush = False
            return True
        return False

    def _refuse(self, request: AddRequest, err: ApplicationError, waiting: bool) -> None:
        """An event the reducer cannot fold: a waiting add raises, a signal is reported."""
        if not waiting:
            self._report_unanswered(err, "on_event")
            return None
        self._calls.remember(request.call, "add", error=err)
        raise err

    def _release_held(self, held: _Held, result: Any = None, error: Any = None) -> None:
        self._queued_bytes -= held.size
        if held.waiter is not None:
            held.waiter.size = 0  # counted here, not as a queued signal
            self._complete(held.waiter, result, error)

    def _fold_held(self) -> None:
        """Fold held events while the batch has room and this activation has budget."""
        while self._held and not self._must_hold() and self._spend_work():
            held = self._held.popleft()
            try:
                created = held.waiter is not None and self._created(held.waiter.payload)
                self._fold(held.event, held.arrived_at, held.size)
            except ApplicationError as err:
                if held.waiter is None or held.waiter.from_signal:
                    self._report_unanswered(err, "on_event")
                    self._release_held(held)
                else:
                    self._release_held(held, error=err)
                continue
            record = self._record
            self._release_held(held, AddReply(created, record.event_count, record.will_flush_at))
        if self._must_hold():
            self._answer_waiters_as_held()

    def _answer_waiters_as_held(self) -> None:
        """Adds still waiting for their fold when the batch filled up: answer them as held."""
        for position, held in enumerate(self._held, start=1):
            waiter = held.waiter
            if waiter is not None:
                held.waiter = None
                waiter.size = 0
                self._complete(waiter, AddReply(self._created(waiter.payload), position, None))

    def _revive_held(self, held: HeldEvent) -> _Held:
        """A held event carried over; one not answered yet waits for its fold again."""
        if held.call is None:
            return _Held(held.event, held.arrived_at, held.size)
        call = as_call(held.call)
        request = AddRequest(event=held.event, call=call)
        waiter = Message("add", request, call, True, held.arrived_at, held.size)
        self._in_flight[call.identity] = waiter
        return _Held(held.event, held.arrived_at, held.size, waiter)

    def _give_back_waiting(self) -> None:
        """Adds still waiting for their fold are sent again by their clients to the next run."""
        kept: deque[_Held] = deque()
        for held in self._held:
            if held.waiter is not None and not held.waiter.from_signal:
                self._queued_bytes -= held.size
                self._give_back(held.waiter, self._refusal_to_resend())
            else:
                kept.append(held)
        self._held = kept

    def _carry_held(self) -> list[HeldEvent]:
        """Held events for the next run (after :meth:`_give_back_waiting`), with the calls of
        those not answered yet, so that the next run still knows them as duplicates."""
        return [
            HeldEvent(
                held.event,
                held.arrived_at,
                held.size,
                None if held.waiter is None else held.waiter.call,
            )
            for held in self._held
        ]

    def _state_data(self) -> Any:
        """The pending batch's state as JSON-ready data."""
        if self._typed_known:
            definition = self._definition()
            if self._typed is None:
                return None
            return adapter_for(definition.state).dump_python(self._typed, mode="json")
        return self._record.state

    def _typed_state(self) -> Any:
        """The pending batch's typed state (read from the record once after continue-as-new)."""
        if not self._typed_known:
            definition = self._definition()
            record = self._record
            self._typed = load_state(definition, record.state, record.state_version)
            record.state_version = definition.state_version
            self._typed_known = True
        return self._typed

    def _reduce(self, event: Any, state: Any, event_count: int) -> Any:
        """The reducer's new typed state for ``event`` on ``state``; raises ApplicationError."""
        definition = self._definition()
        try:
            typed_event = from_data(definition.event, event)
            if definition.on_event is None:
                return adapter_for(definition.state).validate_python(typed_event)
            ctx: DebounceEventContext[Any, Any] = DebounceEventContext(
                job_name=self._spec.job_name,
                instance_id=workflow.info().workflow_id,
                id=self._record.user_id,
                event=typed_event,
                state=state,
                event_count=event_count,
            )
            return adapter_for(definition.state).validate_python(
                _call_pure(definition.on_event, ctx)
            )
        except Exception as err:
            raise self._execution_error(
                HandlerError(
                    type(err).__name__,
                    f"on_event could not fold the event into {type_name(definition.state)}: {err}",
                )
            ) from err

    def _fold(self, event: Any, now: datetime, size: int) -> None:
        """Fold ``event`` into the pending batch; arm or move the deadline."""
        record, spec = self._record, self._spec
        try:
            state = self._typed_state() if record.event_count else None
        except StoredStateError as err:  # a migrate that fails: the add fails, nothing changes
            raise self._execution_error(HandlerError("StoredStateError", str(err))) from err
        self._typed = self._reduce(event, state, record.event_count + 1)
        self._typed_known = True
        record.event_count += 1
        self._unmeasured_bytes += size
        flush_after = timedelta(milliseconds=spec.flush_after_ms)
        if record.event_count == 1:
            record.state_version = self._definition().state_version
            record.started_at = now
            record.flush_reason = "flush_after"
            record.will_flush_at = now + flush_after
            self._record_event("debounce.started", will_flush_at=record.will_flush_at.isoformat())
        elif spec.sliding and record.attempt == 1:
            assert record.started_at is not None
            record.will_flush_at, record.flush_reason = now + flush_after, "flush_after"
            if spec.max_wait_ms is not None:
                cap = record.started_at + timedelta(milliseconds=spec.max_wait_ms)
                if record.will_flush_at >= cap:
                    record.will_flush_at, record.flush_reason = cap, "max_wait"
        self._measure()
        if record.attempt == 1 and self._batch_full():
            record.flush_reason = "max_size" if self._size_full else "max_events"
            record.will_flush_at = now

    def _measure(self) -> None:
        """Measure the batch's state now and then, and mark it full at the soft limit.

        Measuring costs a write-out of the whole state, so it happens only once the events
        folded since the last measure could have taken the state halfway to the soft limit.
        """
        room = BATCH_STATE_SOFT_LIMIT - self._measured_bytes
        if self._unmeasured_bytes < max(64 * 1024, room // 2):
            return
        self._measured_bytes = json_size(self._state_data())
        self._unmeasured_bytes = 0
        self._size_full = self._measured_bytes >= BATCH_STATE_SOFT_LIMIT

    def _new_batch(self, last_error: LastError | None = None) -> None:
        self._record = DebounceRecord(
            user_id=self._record.user_id,
            state_version=self._record.state_version,
            last_error=last_error,
            flush_count=self._record.flush_count,
        )
        self._typed, self._typed_known, self._size_full = None, True, False
        self._measured_bytes = self._unmeasured_bytes = 0

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
                    instance_id=workflow.info().workflow_id,
                    user_id=record.user_id,
                    state=self._state_data(),
                    state_version=record.state_version,
                    steps=[
                        HandlerStep(
                            "flush",
                            attempt=record.attempt,
                            run_count=record.flush_count + 1,
                            will_retry=record.attempt < spec.retry.max_attempts,
                        )
                    ],
                    now=workflow.now(),
                    batch=DebounceBatch(
                        event_count=record.event_count,
                        started_at=record.started_at,
                        flush_reason=record.flush_reason,
                    ),
                )
            )
        finally:
            self._flushing = False
        step, now = outcome.steps[0], workflow.now()
        if step.terminated:
            self._finish()
            return None
        if step.ok:
            record.flush_count += 1
            self._new_batch()
            self._idle_after_flush = True
        else:
            assert step.error is not None and record.first_attempt_at is not None
            record.last_error = self._failure(step.error, record.attempt)
            retry_at = self._retry_at(spec.retry, record.attempt, record.first_attempt_at)
            if retry_at is None:
                # Keep the batch and arm a fresh flush; clear is the explicit way to drop it.
                record.attempt, record.flush_reason = 1, "flush_after"
                record.will_flush_at = now + timedelta(milliseconds=spec.flush_after_ms)
            else:
                record.attempt += 1
                record.will_flush_at = retry_at
        self._fold_held()
        record = self._record
        if record.event_count and record.will_flush_at is not None:
            record.will_flush_at = max(record.will_flush_at, now)
        return step.error


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
