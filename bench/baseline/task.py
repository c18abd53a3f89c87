"""Baseline Task: a per-key entity workflow with one alarm, the user's handlers in activities.

``send`` is an update that runs ``on_event`` in an activity (user code may do I/O, as the
library assumes of Task handlers) and keeps the state and alarm it returns; the alarm is a
timer that runs ``execute`` in an activity when it fires, consumed first. A lock keeps
handlers one at a time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

FAR_ALARM_SECONDS = 3600.0
"""The alarm an event without ``due_at`` sets, as ``bench.jobs.FAR_ALARM``."""

HANDLER_TIMEOUT = timedelta(minutes=1)


@dataclass
class AlarmState:
    """As ``bench.jobs.Alarm``: ``due_at`` records the alarm ``on_event`` set."""

    events: int = 0
    due_at: float | None = None
    fired_at: float | None = None


@dataclass
class TaskInput:
    """The start argument; ``state`` and ``alarm_at`` carry it across continue-as-new."""

    start_token: str = ""
    state: AlarmState | None = None
    alarm_at: float | None = None


@dataclass
class SendRequest:
    """One event (``due_at``: epoch seconds or ``None`` for an hour out) and a start token."""

    due_at: float | None
    start_token: str = ""


@dataclass
class SendReply:
    """What ``send`` answers: as the library's ``SendResult``."""

    created: bool
    scheduled_at: float | None


@dataclass
class OnEventCall:
    """The ``on_event`` activity's argument."""

    state: AlarmState | None
    due_at: float | None


@activity.defn(name="baseline_task_on_event")
async def on_event(call: OnEventCall) -> AlarmState:
    """The user's ``on_event``: count the event, arm the alarm (as ``bench.jobs.arm``)."""
    due_at = call.due_at if call.due_at is not None else time.time() + FAR_ALARM_SECONDS
    events = 1 if call.state is None else call.state.events + 1
    return AlarmState(events=events, due_at=due_at)


@activity.defn(name="baseline_task_execute")
async def execute(state: AlarmState) -> AlarmState:
    """The user's ``execute``: record when it ran (as ``bench.jobs.fire``)."""
    return AlarmState(events=state.events, due_at=state.due_at, fired_at=time.time())


@workflow.defn(name="BaselineTask")
class TaskBaseline:
    """One task."""

    @workflow.init
    def __init__(self, input: TaskInput) -> None:
        self._input = input
        self._state = input.state
        self._alarm_at = input.alarm_at
        self._lock = asyncio.Lock()

    @workflow.run
    async def run(self, input: TaskInput) -> None:
        """Fire the alarm when due; continue as new when Temporal suggests it."""
        while True:
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(TaskInput(state=self._state, alarm_at=self._alarm_at))
            due_at = self._alarm_at
            if due_at is None:
                await workflow.wait_condition(lambda: self._alarm_at is not None)
                continue
            if await self._due(due_at):
                await self._fire(due_at)

    async def _due(self, due_at: float) -> bool:
        """Sleep until ``due_at``; ``False`` if the alarm moved or went away meanwhile."""
        delay = due_at - workflow.now().timestamp()
        if delay <= 0:
            return True
        try:
            await workflow.wait_condition(lambda: self._alarm_at != due_at, timeout=delay)
        except TimeoutError:
            return True
        return False

    async def _fire(self, due_at: float) -> None:
        """Consume the alarm and run ``execute`` (unless a ``send`` moved it meanwhile)."""
        async with self._lock:
            if self._state is None or self._alarm_at != due_at:
                return
            self._alarm_at = None  # the alarm is consumed when it fires
            self._state = await workflow.execute_activity(
                execute, self._state, start_to_close_timeout=HANDLER_TIMEOUT
            )

    @workflow.update
    async def send(self, request: SendRequest) -> SendReply:
        """Run ``on_event`` for one event and answer the pending alarm."""
        async with self._lock:
            self._state = await workflow.execute_activity(
                on_event,
                OnEventCall(self._state, request.due_at),
                start_to_close_timeout=HANDLER_TIMEOUT,
            )
            self._alarm_at = self._state.due_at
        created = bool(request.start_token) and request.start_token == self._input.start_token
        return SendReply(created, self._alarm_at)

    @workflow.query
    def get_state(self) -> AlarmState | None:
        """The state, alarm included."""
        return self._state
