"""``client.task(name)``: send, trigger, status, get_state, terminate (SPEC §5.3)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from durable_jobs._models import from_data
from durable_jobs.client.handle import JobHandle
from durable_jobs.client.results import SendResult, TaskStateResult, TaskStatus, TriggerResult
from durable_jobs.definitions import Task
from durable_jobs.durations import parse_duration
from durable_jobs.protocol.task import (
    SendReply,
    SendRequest,
    TaskInput,
    TaskSpec,
    TaskStateView,
    TaskStatusView,
)
from durable_jobs.retry import RetryPlan
from durable_jobs.workflows.task import TaskJobWorkflow

S = TypeVar("S", bound=BaseModel)
E = TypeVar("E")


class TaskHandle(JobHandle[Task[S, E]], Generic[S, E]):
    """The client calls of one Task job; typed by its state model ``S`` and event ``E``."""

    kind = "task"
    initial_status = "idle"

    def _spec(self) -> TaskSpec:
        definition = self._definition
        return TaskSpec(
            job_name=self._name,
            retry=RetryPlan.of(definition.retry),
            timeout_ms=parse_duration(definition.timeout) // timedelta(milliseconds=1),
            has_on_idle=definition.on_idle is not None,
            has_on_error=definition.on_error is not None,
        )

    async def send(self, *, id: str, event: E | Mapping[str, Any]) -> SendResult:
        """Deliver ``event``: creates the instance if needed, waits for ``on_event``/``on_idle``.

        Raises :class:`~jobs.errors.ExecutionError` when ``on_event`` fails and no ``on_error``
        handles it; state, counters and alarm are then unchanged.
        """
        workflow_id = self.instance_id(id)
        data = self._validate(self._definition.event, event, what="event", id=id)
        token = self._new_token()
        reply = await self._update_with_start(
            workflow_id,
            TaskJobWorkflow.run,
            TaskInput(spec=self._spec(), start_token=token),
            "send",
            SendRequest(event=data, start_token=token),
            SendReply,
        )
        return SendResult(
            created=reply.created, instance_id=workflow_id, scheduled_at=reply.scheduled_at
        )

    async def send_nowait(self, *, id: str, event: E | Mapping[str, Any]) -> None:
        """``send`` without waiting (signal-with-start): returns once Temporal has the event.

        The event is validated exactly as in ``send``. A failure of ``on_event`` shows in
        ``status().last_error`` and a ``job.failed`` event; state and alarm stay unchanged.
        """
        workflow_id = self.instance_id(id)
        data = self._validate(self._definition.event, event, what="event", id=id)
        await self._signal_with_start(
            workflow_id,
            TaskJobWorkflow.run,
            TaskInput(spec=self._spec()),
            "send.nowait",
            SendRequest(event=data),
        )

    async def trigger_nowait(self, id: str) -> bool:
        """``trigger`` without waiting (a signal): ``False`` when the task does not exist."""
        return await self._signal_unless_gone(self.instance_id(id), "trigger.nowait")

    async def trigger(self, id: str) -> TriggerResult:
        """Run ``execute`` now and wait; ``triggered=False`` when the task does not exist.

        The pending alarm stays unless ``execute`` changes it. A failing ``execute`` is not
        retried here: unless ``on_error`` handles it, it raises ExecutionError.
        """
        triggered = await self._update_unless_gone(self.instance_id(id), "trigger", bool, False)
        return TriggerResult(triggered=triggered)

    async def status(self, id: str) -> TaskStatus:
        """``active`` (an alarm is pending), ``idle`` or ``not_found``, with counters."""
        return await self._status(id, TaskStatusView, TaskStatus)

    async def get_state(self, id: str) -> TaskStateResult[S]:
        """The typed state and the pending alarm; ``state=None`` when not found."""
        view = await self._query_open(self.instance_id(id), "state", TaskStateView)
        if view is None:
            return TaskStateResult(state=None, scheduled_at=None)
        state = None if view.state is None else from_data(self._definition.state, view.state)
        return TaskStateResult(state=state, scheduled_at=view.scheduled_at)
