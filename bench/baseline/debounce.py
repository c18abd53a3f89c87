"""Baseline Debounce: a per-key entity workflow that folds ``add`` updates and flushes once.

The fold is pure, so it runs in the synchronous update handler (as the library does). The
batch flushes ``flush_after`` after its first event, through an activity; the workflow then
ends unless new events came.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow


@dataclass
class DebounceInput:
    """The start argument; ``count``/``flush_at`` carry a batch across continue-as-new."""

    flush_after_s: float
    start_token: str = ""
    count: int = 0
    flush_at: float | None = None


@dataclass
class AddRequest:
    """One event, and the caller's start token (to answer ``created``)."""

    n: int
    start_token: str = ""


@dataclass
class AddReply:
    """What ``add`` answers: as the library's ``AddResult``."""

    created: bool
    event_count: int
    will_flush_at: float | None


@activity.defn(name="baseline_debounce_flush")
async def flush(count: int) -> None:
    """Deliver a batch (nothing to deliver to, as in ``bench.jobs.deliver``)."""
    return None


@workflow.defn(name="BaselineDebounce")
class DebounceBaseline:
    """One key's batch."""

    @workflow.init
    def __init__(self, input: DebounceInput) -> None:
        self._input = input
        self._count = input.count
        self._flush_at = input.flush_at

    @workflow.run
    async def run(self, input: DebounceInput) -> None:
        """Wait for the deadline, flush, end; continue as new when Temporal suggests it."""
        while True:
            flush_at = self._flush_at
            if flush_at is not None:
                delay = flush_at - workflow.now().timestamp()
                try:
                    if delay > 0:
                        await workflow.wait_condition(self._suggested, timeout=delay)
                except TimeoutError:
                    pass
            else:
                await workflow.wait_condition(
                    lambda: self._flush_at is not None or self._suggested()
                )
            if self._suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    DebounceInput(self._input.flush_after_s, "", self._count, self._flush_at)
                )
            if self._flush_at is not None and workflow.now().timestamp() >= self._flush_at:
                batch, self._count, self._flush_at = self._count, 0, None
                await workflow.execute_activity(
                    flush, batch, start_to_close_timeout=timedelta(minutes=1)
                )
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._count == 0:
                    return

    @workflow.update
    def add(self, request: AddRequest) -> AddReply:
        """Fold one event into the batch; the first one sets the deadline."""
        self._count += 1
        if self._count == 1:
            self._flush_at = workflow.now().timestamp() + self._input.flush_after_s
        created = bool(request.start_token) and request.start_token == self._input.start_token
        return AddReply(created, self._count, self._flush_at)

    @workflow.query
    def event_count(self) -> int:
        """Events in the pending batch."""
        return self._count

    def _suggested(self) -> bool:
        return workflow.info().is_continue_as_new_suggested()
