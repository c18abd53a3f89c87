"""``client.continuous(name)``: start, trigger, pause, resume, reschedule, status, get_state,
terminate (SPEC §5.1, §10.4)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, get_args

from pydantic import BaseModel

from durable_jobs.client.handle import JobHandle
from durable_jobs.client.results import (
    ContinuousStatus,
    LastErrorInfo,
    PauseResult,
    RescheduleResult,
    ResumeResult,
    StartResult,
    StateResult,
    TriggerResult,
)
from durable_jobs.definitions import Continuous, milliseconds
from durable_jobs.durations import Duration
from durable_jobs.errors import JobValidationError
from durable_jobs.protocol import CallRequest, StateView
from durable_jobs.protocol.continuous import (
    ContinuousInput,
    ContinuousSpec,
    ContinuousStatusName,
    ContinuousStatusView,
    PauseRequest,
    RescheduleRequest,
    ScheduleReply,
    StartReply,
    StartRequest,
    TriggerReply,
)
from durable_jobs.retry import RetryPlan
from durable_jobs.schedules import Schedule
from durable_jobs.workflows.continuous import ContinuousJobWorkflow

S = TypeVar("S", bound=BaseModel)


class ContinuousHandle(JobHandle[Continuous[S]], Generic[S]):
    """The client calls of one Continuous job; typed by its state model ``S``."""

    kind = "continuous"
    initial_status = "running"
    statuses = get_args(ContinuousStatusName)

    def _spec(self) -> ContinuousSpec:
        definition = self._definition
        window = definition.catch_up_window
        return ContinuousSpec(
            job_name=self._name,
            schedule=definition.schedule,
            start_immediately=definition.start_immediately,
            retry=RetryPlan.of(definition.retry),
            pause_on_failure=definition.pause_on_failure,
            catch_up_window_ms=None if window is None else milliseconds(window),
            idempotency_window_ms=milliseconds(definition.idempotency_window),
            local_handlers=definition.local,
            publish_status=definition.publish_status,
        )

    async def start(
        self, *, id: str, input: S | dict[str, Any], timeout: Duration | None = None
    ) -> StartResult:
        """Create the instance with ``input`` as its state; if it exists, change nothing.

        With ``start_immediately`` the first run follows at once, without ``start`` waiting for it.
        """
        workflow_id = self.instance_id(id)
        state = self._validate(self._definition.state, input, what="input", id=id)
        call = self._new_call(id, None)
        now = datetime.now(UTC)
        first_run = now if self._definition.start_immediately else None
        reply = await self._update_with_start(
            workflow_id,
            ContinuousJobWorkflow.run,
            ContinuousInput(
                spec=self._spec(),
                start_token=call.id,
                initial_state=state,
                state_version=self._definition.state_version,
            ),
            "start",
            StartRequest(call),
            StartReply,
            first_summary=(ContinuousStatusView("running", 0, first_run, None), now),
            timeout=timeout,
        )
        return StartResult(created=reply.created, instance_id=workflow_id, status=reply.status)

    async def trigger(
        self,
        id: str,
        *,
        idempotency_key: str | None = None,
        timeout: Duration | None = None,
    ) -> TriggerResult:
        """Run ``execute`` now and wait for its first attempt; ``triggered=False`` if not found.

        ``succeeded=False`` (with ``error``) when that attempt failed and a retry is scheduled;
        raises :class:`~durable_jobs.errors.ExecutionError` when it failed with no retry left.
        """
        request = CallRequest(self._new_call(id, idempotency_key))
        reply = await self._update_unless_gone(
            self.instance_id(id),
            "trigger",
            request,
            TriggerReply,
            TriggerReply(triggered=False),
            timeout=timeout,
        )
        error = (
            None
            if reply.error is None
            else LastErrorInfo.model_validate(reply.error, from_attributes=True)
        )
        return TriggerResult(triggered=reply.triggered, succeeded=reply.succeeded, error=error)

    async def trigger_nowait(self, id: str, *, idempotency_key: str | None = None) -> bool:
        """``trigger`` without waiting (a signal): ``False`` when the instance does not exist.

        A failure of the run it starts shows in ``status().last_error`` and the events.
        """
        request = CallRequest(self._new_call(id, idempotency_key))
        return await self._signal_unless_gone(self.instance_id(id), "trigger.nowait", request)

    async def pause(
        self, id: str, reason: str | None = None, *, timeout: Duration | None = None
    ) -> PauseResult:
        """Stop scheduling runs (status ``paused``) until :meth:`resume`; a run in progress
        finishes. ``paused=False`` when the instance does not exist or was paused already."""
        reply = await self._schedule_call(
            id, "pause", PauseRequest(self._new_call(id, None), reason), timeout
        )
        return PauseResult(paused=reply.done)

    async def resume(self, id: str, *, timeout: Duration | None = None) -> ResumeResult:
        """Schedule the next run from now, after :meth:`pause` or a stop on failure."""
        reply = await self._schedule_call(
            id, "resume", CallRequest(self._new_call(id, None)), timeout
        )
        return ResumeResult(resumed=reply.done, next_run_at=reply.next_run_at)

    async def reschedule(
        self, id: str, schedule: Schedule, *, timeout: Duration | None = None
    ) -> RescheduleResult:
        """Run on ``schedule`` from now on; the instance keeps its state and counters."""
        if not isinstance(schedule, Schedule):
            raise JobValidationError(
                f"{self._where(id)}: reschedule got {schedule!r}; expected every(...) or cron(...)"
            )
        reply = await self._schedule_call(
            id, "reschedule", RescheduleRequest(self._new_call(id, None), schedule), timeout
        )
        return RescheduleResult(rescheduled=reply.done, next_run_at=reply.next_run_at)

    async def _schedule_call(
        self, id: str, update: str, request: Any, timeout: Duration | None
    ) -> ScheduleReply:
        return await self._update_unless_gone(
            self.instance_id(id),
            update,
            request,
            ScheduleReply,
            ScheduleReply(done=False, next_run_at=None),
            timeout=timeout,
        )

    async def status(self, id: str) -> ContinuousStatus:
        """``running``, ``stopped``, ``paused`` or ``not_found``, with run count, next run and
        last error."""
        return await self._status(id, ContinuousStatusView, ContinuousStatus)

    async def get_state(self, id: str) -> StateResult[S]:
        """The typed state, or ``state=None`` when the instance does not exist."""
        view = await self._query_open(self.instance_id(id), "state", StateView)
        if view is None:
            return StateResult(state=None)
        return StateResult(state=self._load_state(id, view.state, view.state_version))
