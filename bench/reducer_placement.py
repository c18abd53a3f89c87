"""Where should a Debounce ``on_event`` reducer run? Measures the three options side by side.

Three minimal entity workflows fold the same event into the same state on an ``add`` update:
in the update handler itself (what ``workflows/debounce.py`` does), in a local activity, and in
a regular activity. Each gets the same load against one in-memory dev server: adds to one hot key
(8 concurrent producers, under Temporal's 10 updates in flight) and adds that each create a new
key (update-with-start, concurrency 20). Prints adds/s, p50/p99 latency and history events/add.

    .venv/bin/python -m bench.reducer_placement
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.timing import percentiles_ms, timed
from durable_jobs._servers import dev_server_path

HOT_ADDS = 400
NEW_KEYS = 200


def fold(state: list[int], n: int) -> list[int]:
    """The reducer every variant runs."""
    return [*state, n]


@activity.defn(name="fold")
async def fold_activity(args: tuple[list[int], int]) -> list[int]:
    """The reducer as an activity."""
    return fold(args[0], args[1])


@workflow.defn(name="InWorkflow")
class InWorkflow:
    """Folds in the update handler."""

    def __init__(self) -> None:
        self.state: list[int] = []

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update
    def add(self, n: int) -> int:
        self.state = fold(self.state, n)
        return len(self.state)


@workflow.defn(name="LocalActivity")
class LocalActivity:
    """Folds in a local activity, one add at a time."""

    def __init__(self) -> None:
        self.state: list[int] = []
        self.lock = asyncio.Lock()

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update
    async def add(self, n: int) -> int:
        async with self.lock:
            self.state = await workflow.execute_local_activity(
                fold_activity, (self.state, n), start_to_close_timeout=timedelta(seconds=10)
            )
            return len(self.state)


@workflow.defn(name="Activity")
class Activity:
    """Folds in a regular activity, one add at a time."""

    def __init__(self) -> None:
        self.state: list[int] = []
        self.lock = asyncio.Lock()

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update
    async def add(self, n: int) -> int:
        async with self.lock:
            self.state = await workflow.execute_activity(
                fold_activity, (self.state, n), start_to_close_timeout=timedelta(seconds=10)
            )
            return len(self.state)


def add_call(
    client: Client, wf: Any, workflow_id: str, task_queue: str, n: int
) -> Callable[[], Awaitable[Any]]:
    def call() -> Awaitable[Any]:
        return client.execute_update_with_start_workflow(
            wf.add,
            n,
            start_workflow_operation=WithStartWorkflowOperation(
                wf.run,
                id=workflow_id,
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            ),
        )

    return call


async def history_length(client: Client, workflow_id: str) -> int:
    return (
        await client.get_workflow_handle(workflow_id).describe()
    ).raw_description.workflow_execution_info.history_length


async def main() -> None:
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=dev_server_path())
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"
    print(
        f"{'reducer runs in':<16} {'scenario':<22} {'adds/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'events/add':>10}"
    )
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[InWorkflow, LocalActivity, Activity],
        activities=[fold_activity],
    ):
        for wf in (InWorkflow, LocalActivity, Activity):
            hot_id = f"hot-{uuid.uuid4().hex[:8]}"
            wall, lat = await timed(
                [add_call(env.client, wf, hot_id, task_queue, n) for n in range(HOT_ADDS)], 8
            )
            events = await history_length(env.client, hot_id) / HOT_ADDS
            report(wf.__name__, "one hot key (c=8)", HOT_ADDS / wall, lat, events)
            ids = [f"new-{uuid.uuid4().hex[:8]}" for _ in range(NEW_KEYS)]
            wall, lat = await timed([add_call(env.client, wf, i, task_queue, 1) for i in ids], 20)
            report(wf.__name__, "new keys (c=20)", NEW_KEYS / wall, lat, None)
    await env.shutdown()


def report(
    name: str, scenario: str, rate: float, latencies: list[float], events: float | None
) -> None:
    p50, p99 = percentiles_ms(latencies)
    shown = f"{events:10.1f}" if events is not None else f"{'':>10}"
    print(
        f"{name:<16} {scenario:<22} {rate:8.0f} {p50:8.1f} {p99:8.1f} {shown}",
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)
