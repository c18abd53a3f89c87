"""``client.continuous(name)``: start, trigger, status, get_state, terminate (SPEC §5.1)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from durable_jobs._models import from_data
from durable_jobs.client.handle import JobHandle
from durable_jobs.client.results import ContinuousStatus, StartResult, StateResult, TriggerResult
from durable_jobs.definitions import Continuous
from durable_jobs.durations import parse_duration
from durable_jobs.protocol.continuous import (
    ContinuousInput,
    ContinuousSpec,
    ContinuousStartReply,
    ContinuousStatusView,
)
from durable_jobs.retry import RetryPlan
from durable_jobs.workflows.continuous import ContinuousJobWorkflow

S = TypeVar("S", bound=BaseModel)


class ContinuousHandle(JobHandle[Continuous[S]], Generic[S]):
    """The client calls of one Continuous job; typed by its state model ``S``."""

    kind = "continuous"
    initial_status = "running"

    def _spec(self) -> ContinuousSpec:
        definition = self._definition
        return ContinuousSpec(
            job_name=self._name,
            schedule=definition.schedule,
            start_immediately=definition.start_immediately,
            retry=RetryPlan.of(definition.retry),
            timeout_ms=parse_duration(definition.timeout) // timedelta(milliseconds=1),
        )

    async def start(self, *, id: str, input: S | dict[str, Any]) -> StartResult:
        """Create the instance with ``input`` as its state; if it exists, change nothing.

        With ``start_immediately`` the first run follows at once, without ``start`` waiting for it.
        """
        workflow_id = self.instance_id(id)
        state = self._validate(self._definition.state, input, what="input", id=id)
        token = self._new_token()
        reply = await self._update_with_start(
            workflow_id,
            ContinuousJobWorkflow.run,
            ContinuousInput(spec=self._spec(), start_token=token, initial_state=state),
            "start",
            token,
            ContinuousStartReply,
        )
        return StartResult(created=reply.created, instance_id=workflow_id, status=reply.status)

    async def trigger(self, id: str) -> TriggerResult:
        """Run ``execute`` now and wait for its first attempt; ``triggered=False`` if not found.

        Raises :class:`~jobs.errors.ExecutionError` when that attempt fails with no retry left.
        """
        triggered = await self._update_unless_gone(self.instance_id(id), "trigger", bool, False)
        return TriggerResult(triggered=triggered)

    async def trigger_nowait(self, id: str) -> bool:
        """``trigger`` without waiting (a signal): ``False`` when the instance does not exist.

        A failure of the run it starts shows in ``status().last_error`` and the events.
        """
        return await self._signal_unless_gone(self.instance_id(id), "trigger.nowait")

    async def status(self, id: str) -> ContinuousStatus:
        """``running``, ``stopped`` or ``not_found``, with run count, next run and last error."""
        return await self._status(id, ContinuousStatusView, ContinuousStatus)

    async def get_state(self, id: str) -> StateResult[S]:
        """The typed state, or ``state=None`` when the instance does not exist."""
        data = await self._query_open(self.instance_id(id), "state", Any)
        if data is None:
            return StateResult(state=None)
        return StateResult(state=from_data(self._definition.state, data))
