"""``client.debounce(name)``: add, flush, clear, status, get_state (SPEC §5.2)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar, get_args

from durable_jobs.client.handle import JobHandle
from durable_jobs.client.results import (
    AddResult,
    ClearResult,
    DebounceStatus,
    FlushResult,
    StateResult,
)
from durable_jobs.definitions import Debounce, milliseconds
from durable_jobs.durations import Duration
from durable_jobs.protocol import CallRequest, StateView
from durable_jobs.protocol.debounce import (
    AddReply,
    AddRequest,
    ClearReply,
    DebounceInput,
    DebounceSpec,
    DebounceStatusName,
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
    statuses = get_args(DebounceStatusName)

    def _spec(self) -> DebounceSpec:
        definition = self._definition
        return DebounceSpec(
            job_name=self._name,
            flush_after_ms=milliseconds(definition.flush_after),
            max_events=definition.max_events,
            retry=RetryPlan.of(definition.retry),
            sliding=definition.window == "sliding",
            max_wait_ms=None if definition.max_wait is None else milliseconds(definition.max_wait),
            idempotency_window_ms=milliseconds(definition.idempotency_window),
            local_handlers=definition.local,
            publish_status=definition.publish_status,
        )

    def _start(self, id: str, event: Any, idempotency_key: str | None) -> tuple[Any, ...]:
        """The workflow ID, the start input, the request and the first summary of an add."""
        workflow_id = self.instance_id(id)
        data = self._validate(self._definition.event, event, what="event", id=id)
        call = self._new_call(id, idempotency_key)
        now = datetime.now(UTC)
        flush_at = now + timedelta(milliseconds=milliseconds(self._definition.flush_after))
        return (
            workflow_id,
            DebounceInput(
                spec=self._spec(), start_token=call.id, state_version=self._definition.state_version
            ),
            AddRequest(event=data, call=call),
            (DebounceStatusView("debouncing", 1, flush_at, now, None), now),
        )

    async def add(
        self,
        *,
        id: str,
        event: E | Mapping[str, Any],
        idempotency_key: str | None = None,
        timeout: Duration | None = None,
    ) -> AddResult:
        """Fold ``event`` into the instance's batch, creating the instance if needed.

        The first event of a batch sets ``will_flush_at = now + flush_after`` (a sliding window
        moves it with each event); reaching ``max_events`` starts the flush at once. ``add``
        never waits for a flush. The same ``idempotency_key`` within the job's
        ``idempotency_window`` is applied once and answered with the first call's answer.
        """
        workflow_id, start_input, request, summary = self._start(id, event, idempotency_key)
        reply = await self._update_with_start(
            workflow_id,
            DebounceJobWorkflow.run,
            start_input,
            "add",
            request,
            AddReply,
            first_summary=summary,
            timeout=timeout,
        )
        return AddResult(
            created=reply.created,
            instance_id=workflow_id,
            event_count=reply.event_count,
            will_flush_at=reply.will_flush_at,
        )

    async def add_nowait(
        self, *, id: str, event: E | Mapping[str, Any], idempotency_key: str | None = None
    ) -> None:
        """``add`` without waiting (signal-with-start): returns once Temporal has the event.

        The event is validated exactly as in ``add``; a signal has no 10-in-flight limit. An
        event the instance refuses is dropped and shows in ``status().last_error`` and a
        ``job.failed`` event; a duplicate ``idempotency_key`` is dropped.
        """
        workflow_id, start_input, request, summary = self._start(id, event, idempotency_key)
        await self._signal_with_start(
            workflow_id,
            DebounceJobWorkflow.run,
            start_input,
            "add.nowait",
            request,
            first_summary=summary,
        )

    async def flush_nowait(self, id: str, *, idempotency_key: str | None = None) -> bool:
        """``flush`` without waiting (a signal): ``False`` when there is no instance."""
        request = CallRequest(self._new_call(id, idempotency_key))
        return await self._signal_unless_gone(self.instance_id(id), "flush.nowait", request)

    async def flush(
        self,
        id: str,
        *,
        idempotency_key: str | None = None,
        timeout: Duration | None = None,
    ) -> FlushResult:
        """Flush now and wait for it; ``flushed=False, reason="empty"`` when there is nothing.

        Raises :class:`~durable_jobs.errors.ExecutionError` when that flush attempt fails (the batch is
        kept, and retried as the job's retry policy says).
        """
        reply = await self._update_unless_gone(
            self.instance_id(id),
            "flush",
            CallRequest(self._new_call(id, idempotency_key)),
            FlushReply,
            FlushReply(flushed=False, event_count=0, reason="empty"),
            timeout=timeout,
        )
        return FlushResult(
            flushed=reply.flushed, event_count=reply.event_count, reason=reply.reason
        )

    async def clear(
        self,
        id: str,
        *,
        idempotency_key: str | None = None,
        timeout: Duration | None = None,
    ) -> ClearResult:
        """Drop the batch without ``execute``; ``cleared=False`` when there is nothing."""
        reply = await self._update_unless_gone(
            self.instance_id(id),
            "clear",
            CallRequest(self._new_call(id, idempotency_key)),
            ClearReply,
            ClearReply(cleared=False, discarded_events=0),
            timeout=timeout,
        )
        return ClearResult(cleared=reply.cleared, discarded_events=reply.discarded_events)

    async def status(self, id: str) -> DebounceStatus:
        """``debouncing`` (events waiting), ``idle`` or ``not_found``."""
        return await self._status(id, DebounceStatusView, DebounceStatus)

    async def get_state(self, id: str) -> StateResult[S]:
        """The folded state of the pending batch, or ``None`` when the instance does not exist."""
        view = await self._query_open(self.instance_id(id), "state", StateView)
        if view is None:
            return StateResult(state=None)
        return StateResult(state=self._load_state(id, view.state, view.state_version))
