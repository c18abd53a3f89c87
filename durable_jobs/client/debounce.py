"""``client.debounce(name)``: add, flush, clear, status, get_state (SPEC §5.2)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Generic, TypeVar

from durable_jobs._models import from_data
from durable_jobs.client.handle import JobHandle
from durable_jobs.client.results import (
    AddResult,
    ClearResult,
    DebounceStatus,
    FlushResult,
    StateResult,
)
from durable_jobs.definitions import Debounce
from durable_jobs.durations import parse_duration
from durable_jobs.protocol.debounce import (
    AddReply,
    AddRequest,
    ClearReply,
    DebounceInput,
    DebounceSpec,
    DebounceStatusView,
    FlushReply,
)
from durable_jobs.retry import RetryPlan
from durable_jobs.workflows.debounce import DebounceJobWorkflow

E = TypeVar("E")
S = TypeVar("S")


class DebounceHandle(JobHandle[Debounce[E, S]], Generic[E, S]):
    """The client calls of one Debounce job; typed by its event ``E`` and state ``S``."""

    kind = "debounce"
    initial_status = "debouncing"

    def _spec(self) -> DebounceSpec:
        definition = self._definition
        return DebounceSpec(
            job_name=self._name,
            flush_after_ms=parse_duration(definition.flush_after) // timedelta(milliseconds=1),
            max_events=definition.max_events,
            retry=RetryPlan.of(definition.retry),
            timeout_ms=parse_duration(definition.timeout) // timedelta(milliseconds=1),
        )

    async def add(self, *, id: str, event: E | Mapping[str, Any]) -> AddResult:
        """Fold ``event`` into the instance's batch, creating the instance if needed.

        The first event of a batch sets ``will_flush_at = now + flush_after``; reaching
        ``max_events`` starts the flush at once. ``add`` never waits for a flush.
        """
        workflow_id = self.instance_id(id)
        data = self._validate(self._definition.event, event, what="event", id=id)
        token = self._new_token()
        reply = await self._update_with_start(
            workflow_id,
            DebounceJobWorkflow.run,
            DebounceInput(spec=self._spec(), start_token=token),
            "add",
            AddRequest(event=data, start_token=token),
            AddReply,
        )
        return AddResult(
            created=reply.created,
            instance_id=workflow_id,
            event_count=reply.event_count,
            will_flush_at=reply.will_flush_at,
        )

    async def add_nowait(self, *, id: str, event: E | Mapping[str, Any]) -> None:
        """``add`` without waiting (signal-with-start): returns once Temporal has the event.

        The event is validated exactly as in ``add``; a signal has no 10-in-flight limit. An
        event the reducer refuses is dropped and shows in ``status().last_error``.
        """
        workflow_id = self.instance_id(id)
        data = self._validate(self._definition.event, event, what="event", id=id)
        await self._signal_with_start(
            workflow_id,
            DebounceJobWorkflow.run,
            DebounceInput(spec=self._spec()),
            "add.nowait",
            AddRequest(event=data),
        )

    async def flush_nowait(self, id: str) -> bool:
        """``flush`` without waiting (a signal): ``False`` when there is no instance."""
        return await self._signal_unless_gone(self.instance_id(id), "flush.nowait")

    async def flush(self, id: str) -> FlushResult:
        """Flush now and wait for it; ``flushed=False, reason="empty"`` when there is nothing.

        Raises :class:`~jobs.errors.ExecutionError` when that flush attempt fails (the batch is
        kept, and retried as the job's retry policy says).
        """
        empty = FlushReply(flushed=False, event_count=0, reason="empty")
        reply = await self._update_unless_gone(self.instance_id(id), "flush", FlushReply, empty)
        return FlushResult(
            flushed=reply.flushed, event_count=reply.event_count, reason=reply.reason
        )

    async def clear(self, id: str) -> ClearResult:
        """Drop the batch without ``execute``; ``cleared=False`` when there is nothing."""
        nothing = ClearReply(cleared=False, discarded_events=0)
        reply = await self._update_unless_gone(self.instance_id(id), "clear", ClearReply, nothing)
        return ClearResult(cleared=reply.cleared, discarded_events=reply.discarded_events)

    async def status(self, id: str) -> DebounceStatus:
        """``debouncing`` (events waiting), ``idle`` or ``not_found``."""
        return await self._status(id, DebounceStatusView, DebounceStatus)

    async def get_state(self, id: str) -> StateResult[S]:
        """The folded state of the pending batch, or ``None`` when the instance does not exist."""
        data = await self._query_open(self.instance_id(id), "state", Any)
        if data is None:
            return StateResult(state=None)
        return StateResult(state=from_data(self._definition.state, data))
