"""The two sides of every comparison, behind one interface: the library and the baseline.

``DurableSide`` calls the library's ``JobsClient``; ``BaselineSide`` is the client code a
Temporal developer would write for the hand-written workflows in ``bench/baseline``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from bench import jobs as bench_jobs
from bench.baseline.continuous import ContinuousBaseline, ContinuousInput, TickState
from bench.baseline.debounce import AddRequest, DebounceBaseline, DebounceInput
from bench.baseline.task import SendRequest, TaskBaseline, TaskInput
from durable_jobs.client import JobsClient

SideName = Literal["durable", "baseline", "unpublished"]
"""``unpublished``: the library with the Task and Continuous jobs defined ``publish_status=False``."""
Kind = Literal["debounce", "task", "continuous", "ticker"]


@dataclass
class AlarmView:
    """A Task instance's alarm: when it was due and when ``execute`` started (epoch s)."""

    due_at: float | None
    fired_at: float | None


@dataclass
class TicksView:
    """A Continuous instance's runs and the lateness of each run after the first (seconds)."""

    runs: int
    lateness: list[float]


class Side(Protocol):
    """What the scenarios do to one side."""

    client: Client

    def workflow_id(self, kind: Kind, key: str) -> str: ...
    async def debounce_add(self, key: str, n: int, idempotency_key: str | None = None) -> None: ...
    async def task_send(self, key: str, due_at: float | None, local: bool = False) -> None: ...
    async def task_alarm(self, key: str) -> AlarmView: ...
    async def continuous_start(self, kind: Kind, key: str) -> None: ...
    async def continuous_status(self, kind: Kind, key: str) -> None: ...
    async def continuous_trigger(self, kind: Kind, key: str) -> None: ...
    async def continuous_ticks(self, kind: Kind, key: str) -> TicksView: ...


def _interval(kind: Kind) -> float:
    return bench_jobs.TICK_EVERY_SECONDS if kind == "ticker" else 3600.0


class DurableSide:
    """The library, through its client."""

    def __init__(self, client: Client, task_queue: str, *, published: bool = True) -> None:
        self.client = client
        self._jobs = JobsClient.from_client(client, bench_jobs.jobs, task_queue=task_queue)
        suffix = "" if published else "_unpublished"
        self._names = {
            "debounce": "batcher",
            "task": f"alarm{suffix}",
            "continuous": f"hourly{suffix}",
        }
        self._batcher = self._jobs.debounce("batcher")
        self._alarm = self._jobs.task(self._names["task"])
        self._alarm_local = self._jobs.task("alarm_local")

    def _job(self, kind: Kind) -> str:
        return self._names.get(kind, kind)

    def workflow_id(self, kind: Kind, key: str) -> str:
        stem = "continuous" if kind == "ticker" else kind
        return f"{stem}:{self._job(kind)}:{key}"

    async def debounce_add(self, key: str, n: int, idempotency_key: str | None = None) -> None:
        await self._batcher.add(
            id=key, event=bench_jobs.Event(n=n), idempotency_key=idempotency_key
        )

    async def task_send(self, key: str, due_at: float | None, local: bool = False) -> None:
        task = self._alarm_local if local else self._alarm
        await task.send(id=key, event=bench_jobs.Arm(due_at=due_at))

    async def task_alarm(self, key: str) -> AlarmView:
        state = (await self._alarm.get_state(key)).state
        assert state is not None, key
        return AlarmView(state.due_at, state.fired_at)

    async def continuous_start(self, kind: Kind, key: str) -> None:
        handle = self._jobs.continuous(self._job(kind))
        await handle.start(id=key, input=bench_jobs.Ticks(interval_s=_interval(kind)))

    async def continuous_status(self, kind: Kind, key: str) -> None:
        status = await self._jobs.continuous(self._job(kind)).status(key)
        assert status.status == "running", (key, status)

    async def continuous_trigger(self, kind: Kind, key: str) -> None:
        result = await self._jobs.continuous(self._job(kind)).trigger(key)
        assert result.triggered and result.succeeded, (key, result)

    async def continuous_ticks(self, kind: Kind, key: str) -> TicksView:
        state = (await self._jobs.continuous(self._job(kind)).get_state(key)).state
        assert state is not None, key
        return TicksView(state.runs, state.lateness)


class BaselineSide:
    """The hand-written workflows, through plain ``temporalio`` calls."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self._task_queue = task_queue

    def workflow_id(self, kind: Kind, key: str) -> str:
        stem = "continuous" if kind == "ticker" else kind
        return f"baseline-{stem}:{key}"

    def _start(
        self, run: object, arg: object, kind: Kind, key: str
    ) -> WithStartWorkflowOperation[Any, Any]:
        return WithStartWorkflowOperation(
            run,  # type: ignore[arg-type]
            arg,
            id=self.workflow_id(kind, key),
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )

    async def debounce_add(self, key: str, n: int, idempotency_key: str | None = None) -> None:
        assert idempotency_key is None, "the baseline has no idempotency keys"
        token = uuid.uuid4().hex
        flush_after = 3600.0
        await self.client.execute_update_with_start_workflow(
            DebounceBaseline.add,
            AddRequest(n, token),
            start_workflow_operation=self._start(
                DebounceBaseline.run, DebounceInput(flush_after, token), "debounce", key
            ),
        )

    async def task_send(self, key: str, due_at: float | None, local: bool = False) -> None:
        assert not local, "the baseline has one way to run on_event: an activity"
        token = uuid.uuid4().hex
        await self.client.execute_update_with_start_workflow(
            TaskBaseline.send,
            SendRequest(due_at, token),
            start_workflow_operation=self._start(TaskBaseline.run, TaskInput(token), "task", key),
        )

    async def task_alarm(self, key: str) -> AlarmView:
        handle = self.client.get_workflow_handle_for(
            TaskBaseline.run, self.workflow_id("task", key)
        )
        state = await handle.query(TaskBaseline.get_state)
        assert state is not None, key
        return AlarmView(state.due_at, state.fired_at)

    async def continuous_start(self, kind: Kind, key: str) -> None:
        token = uuid.uuid4().hex
        start = ContinuousInput(TickState(_interval(kind)), token)
        await self.client.execute_update_with_start_workflow(
            ContinuousBaseline.start,
            token,
            start_workflow_operation=self._start(ContinuousBaseline.run, start, kind, key),
        )

    async def continuous_status(self, kind: Kind, key: str) -> None:
        handle = self.client.get_workflow_handle_for(
            ContinuousBaseline.run, self.workflow_id(kind, key)
        )
        status = await handle.query(ContinuousBaseline.status)
        assert status.status == "running", (key, status)

    async def continuous_trigger(self, kind: Kind, key: str) -> None:
        handle = self.client.get_workflow_handle_for(
            ContinuousBaseline.run, self.workflow_id(kind, key)
        )
        await handle.execute_update(ContinuousBaseline.trigger)

    async def continuous_ticks(self, kind: Kind, key: str) -> TicksView:
        handle = self.client.get_workflow_handle_for(
            ContinuousBaseline.run, self.workflow_id(kind, key)
        )
        state = await handle.query(ContinuousBaseline.get_state)
        return TicksView(state.runs, state.lateness)


def make_side(name: SideName, client: Client, task_queue: str) -> Side:
    """The side called ``name``, on ``client`` and ``task_queue``."""
    if name == "baseline":
        return BaselineSide(client, task_queue)
    return DurableSide(client, task_queue, published=name == "durable")
