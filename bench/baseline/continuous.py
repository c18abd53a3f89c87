"""Baseline Continuous: a per-key entity workflow that runs an activity, sleeps, and repeats.

``start`` is an update-with-start that answers whether this call created the instance. The
schedule is a fixed delay, as the library's ``every``: the next run is due ``interval_s``
after the previous one finished. ``trigger`` is an update that runs ``execute`` now and answers
once it ran; a lock keeps runs one at a time, as a hand-written entity workflow would.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow

MAX_LATENESS_SAMPLES = 20
"""As ``bench.jobs.MAX_LATENESS_SAMPLES``."""


@dataclass
class TickState:
    """As ``bench.jobs.Ticks``."""

    interval_s: float
    runs: int = 0
    last_finished: float | None = None
    lateness: list[float] = field(default_factory=list)


@dataclass
class ContinuousInput:
    """The start argument: the initial (or carried) state and the caller's start token."""

    state: TickState
    start_token: str = ""


@dataclass
class StartReply:
    """What ``start`` answers: as the library's ``StartResult``."""

    created: bool
    status: str


@dataclass
class StatusView:
    """What the ``status`` query answers: as the library's ``ContinuousStatus``."""

    status: str
    run_count: int
    next_run_at: float | None


@activity.defn(name="baseline_continuous_tick")
async def tick(state: TickState) -> TickState:
    """The user's ``execute``: as ``bench.jobs.tick``."""
    started = time.time()
    lateness = state.lateness
    if state.last_finished is not None and len(lateness) < MAX_LATENESS_SAMPLES:
        lateness = [*lateness, started - state.last_finished - state.interval_s]
    return TickState(state.interval_s, state.runs + 1, time.time(), lateness)


@workflow.defn(name="BaselineContinuous")
class ContinuousBaseline:
    """One scheduled job."""

    @workflow.init
    def __init__(self, input: ContinuousInput) -> None:
        self._input = input
        self._state = input.state
        self._next_run_at: float | None = workflow.now().timestamp()
        self._lock = asyncio.Lock()

    @workflow.run
    async def run(self, input: ContinuousInput) -> None:
        """Run at once, then every ``interval_s``; continue as new when Temporal suggests it."""
        while True:
            self._next_run_at = None
            await self._run_once()
            self._next_run_at = workflow.now().timestamp() + self._state.interval_s
            await workflow.sleep(self._state.interval_s)
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(ContinuousInput(self._state))

    async def _run_once(self) -> None:
        async with self._lock:
            self._state = await workflow.execute_activity(
                tick, self._state, start_to_close_timeout=timedelta(minutes=1)
            )

    @workflow.update
    async def trigger(self) -> int:
        """Run ``execute`` now; answer the run count once it ran."""
        await self._run_once()
        return self._state.runs

    @workflow.update
    def start(self, start_token: str) -> StartReply:
        """Answer an update-with-start: ``created`` only for the call that started us."""
        created = bool(start_token) and start_token == self._input.start_token
        return StartReply(created, "running")

    @workflow.query
    def status(self) -> StatusView:
        """Status, run count and next run."""
        return StatusView("running", self._state.runs, self._next_run_at)

    @workflow.query
    def get_state(self) -> TickState:
        """The state."""
        return self._state
