"""``client.task(name)``: send, trigger, status, get_state, terminate (SPEC §5.3)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, get_args

from pydantic import BaseModel

from durable_jobs.client.handle import JobHandle
from durable_jobs.client.results import (
    LastErrorInfo,
    SendResult,
    TaskStateResult,
    TaskStatus,
    TriggerResult,
)
from durable_jobs.definitions import Task, milliseconds
from durable_jobs.durations import Duration
from durable_jobs.protocol import CallRequest
from durable_jobs.protocol.task import (
    SendReply,
    SendRequest,
    TaskInput,
    TaskSpec,
    TaskStateView,
    TaskStatusName,
    TaskStatusView,
    TaskTriggerReply,
)
from durable_jobs.retry import RetryPlan
from durable_jobs.workflows.task import TaskJobWorkflow

S = TypeVar("S", bound=BaseModel)
E = TypeVar("E")


class TaskHandle(JobHandle[Task[S, E]], Generic[S, E]):
    """The client calls of one Task job; typed by its state model ``S`` and event ``E``."""

    kind = "task"
    initial_status = "idle"
    statuses = get_args(TaskStatusName)

    def _spec(self) -> TaskSpec:
        definition = self._definition
        return TaskSpec(
            job_name=self._name,
            retry=RetryPlan.of(definition.retry),
            idempotency_window_ms=milliseconds(definition.idempotency_window),
            local_handlers=definition.local,
            publish_status=definition.publish_status,
        )

    def _start(self, id: str, event: Any, idempotency_key: str | None) -> tuple[Any, ...]:
        """The workflow ID, the start input, the request and the first summary of a send."""
        workflow_id = self.instance_id(id)
        data = self._validate(self._definition.event, event, what="event", id=id)
        call = self._new_call(id, idempotency_key)
        now = datetime.now(UTC)
        return (
            workflow_id,
            TaskInput(
                spec=self._spec(), start_token=call.id, state_version=self._definition.state_version
            ),
            SendRequest(event=data, call=call),
            (TaskStatusView("idle", None, 0, 0, now, None), now),
        )

    async def send(
        self,
        *,
        id: str,
        event: E | Mapping[str, Any],
        idempotency_key: str | None = None,
        timeout: Duration | None = None,
    ) -> SendResult:
        """Deliver ``event``: creates the instance if needed, waits for ``on_event``/``on_idle``.

        Raises :class:`~durable_jobs.errors.ExecutionError` when ``on_event`` fails and no
        ``on_error`` handles it; state, counters and alarm are then unchanged. The same
        ``idempotency_key`` within the job's ``idempotency_window`` is applied once.
        """
        workflow_id, start_input, request, summary = self._start(id, event, idempotency_key)
        reply = await self._update_with_start(
            workflow_id,
            TaskJobWorkflow.run,
            start_input,
            "send",
            request,
            SendReply,
            first_summary=summary,
            timeout=timeout,
        )
        return SendResult(
            created=reply.created, instance_id=workflow_id, scheduled_at=reply.scheduled_at
        )

    async def send_nowait(
        self, *, id: str, event: E | Mapping[str, Any], idempotency_key: str | None = None
    ) -> None:
        """``send`` without waiting (signal-with-start): returns once Temporal has the event.

        The event is validated exactly as in ``send``. A failure of ``on_event`` shows in
        ``status().last_error`` and a ``job.failed`` event; state and alarm stay unchanged.
        """
        workflow_id, start_input, request, summary = self._start(id, event, idempotency_key)
        await self._signal_with_start(
            workflow_id,
            TaskJobWorkflow.run,
            start_input,
            "send.nowait",
            request,
            first_summary=summary,
        )

    async def trigger_nowait(self, id: str, *, idempotency_key: str | None = None) -> bool:
        """``trigger`` without waiting (a signal): ``False`` when the task does not exist."""
        request = CallRequest(self._new_call(id, idempotency_key))
        return await self._signal_unless_gone(self.instance_id(id), "trigger.nowait", request)

    async def trigger(
        self,
        id: str,
        *,
        idempotency_key: str | None = None,
        timeout: Duration | None = None,
    ) -> TriggerResult:
        """Run ``execute`` now and wait; ``triggered=False`` when the task does not exist.

        The pending alarm stays unless ``execute`` changes it. A failing ``execute`` is not
        retried here: when ``on_error`` handles it, ``succeeded=False`` with the ``error``;
        else it raises ExecutionError.
        """
        reply = await self._update_unless_gone(
            self.instance_id(id),
            "trigger",
            CallRequest(self._new_call(id, idempotency_key)),
            TaskTriggerReply,
            TaskTriggerReply(triggered=False),
            timeout=timeout,
        )
        error = (
            None
            if reply.error is None
            else LastErrorInfo.model_validate(reply.error, from_attributes=True)
        )
        return TriggerResult(triggered=reply.triggered, succeeded=reply.succeeded, error=error)

    async def status(self, id: str) -> TaskStatus:
        """``active`` (an alarm is pending), ``idle`` or ``not_found``, with counters."""
        return await self._status(id, TaskStatusView, TaskStatus)

    async def get_state(self, id: str) -> TaskStateResult[S]:
        """The typed state and the pending alarm; ``state=None`` when not found."""
        view = await self._query_open(self.instance_id(id), "state", TaskStateView)
        if view is None:
            return TaskStateResult(state=None, scheduled_at=None)
        state = self._load_state(id, view.state, view.state_version)
        return TaskStateResult(state=state, scheduled_at=view.scheduled_at)
