"""Versioned state: instances started by one version of a job, run by the next (SPEC §10.4).

Version 1 keeps ``{"count": n}``; version 2 renamed the field to ``total`` and migrates. The
instances (a Continuous one, a Debounce batch in flight, a Task with an alarm set) are started
with a worker and client of version 1, then run on by a worker and client of version 2, on the
same time-skipping server and task queue. Every handler and ``get_state`` sees version-2 state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict
from temporalio.testing import WorkflowEnvironment

from durable_jobs import (
    Continuous,
    ContinuousContext,
    Debounce,
    DebounceEventContext,
    DebounceExecuteContext,
    DurableJobs,
    JobDefinitionError,
    JobsClient,
    Task,
    TaskContext,
    TaskEventContext,
    every,
)
from durable_jobs.testing import time_skipping_server_path
from durable_jobs.worker import build_worker


class V1(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = 0


class V2(BaseModel):
    model_config = ConfigDict(extra="forbid")
    total: int = 0
    migrated: bool = False


class Bump(BaseModel):
    by: int = 1


seen: list[tuple[str, str, object]] = []
migrations: list[tuple[object, int]] = []


def migrate(data: Any, from_version: int) -> V2:
    migrations.append((data, from_version))
    assert from_version == 1
    return V2(total=data["count"], migrated=True)


def definitions(version: int) -> DurableJobs:
    """The same three jobs, as version 1 or version 2 of the application declares them."""
    model: type[BaseModel] = V1 if version == 1 else V2

    def bumped(state: Any, by: int) -> Any:
        if state is None:
            return model(count=by) if version == 1 else V2(total=by)
        return state.model_copy(
            update={"count": state.count + by} if version == 1 else {"total": state.total + by}
        )

    async def tick(ctx: ContinuousContext[Any]) -> None:
        seen.append(("tick", f"v{version}", ctx.state))
        ctx.set_state(bumped(ctx.state, 1))

    def fold(ctx: DebounceEventContext[Bump, Any]) -> Any:
        return bumped(ctx.state, ctx.event.by)

    async def deliver(ctx: DebounceExecuteContext[Any]) -> None:
        seen.append(("flush", f"v{version}", ctx.state))

    async def on_event(event: Bump, ctx: TaskEventContext[Any]) -> None:
        ctx.set_state(bumped(ctx.state, event.by))
        ctx.schedule("1 hour")

    async def alarm(ctx: TaskContext[Any]) -> None:
        seen.append(("alarm", f"v{version}", ctx.state))

    options: dict[str, Callable[..., Any] | int] = (
        {} if version == 1 else {"state_version": 2, "migrate": migrate}
    )
    return DurableJobs(
        ticker=Continuous(state=model, schedule=every("1 hour"), execute=tick, **options),  # type: ignore[arg-type]
        batcher=Debounce(
            event=Bump,
            state=model,
            on_event=fold,
            execute=deliver,
            flush_after="1 minute",
            **options,  # type: ignore[arg-type]
        ),
        machine=Task(state=model, event=Bump, on_event=on_event, execute=alarm, **options),  # type: ignore[arg-type]
    )


async def test_instances_of_version_1_run_on_with_version_2(uid: str) -> None:
    seen.clear()
    migrations.clear()
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=time_skipping_server_path()
    )
    try:
        v1, v2 = definitions(1), definitions(2)
        old = JobsClient.from_client(environment.client, v1, task_queue=uid)
        # No sticky queue for the first worker: the time-skipping server would keep routing
        # queries to a stopped worker's sticky queue, and they would never be answered.
        async with build_worker(environment.client, v1, task_queue=uid, max_cached_workflows=0):
            await old.continuous("ticker").start(id=uid, input={"count": 5})
            await environment.sleep(timedelta(seconds=1))  # run 1: count 5 -> 6
            await old.debounce("batcher").add(id=uid, event=Bump(by=2))  # a batch in flight
            await old.task("machine").send(id=uid, event=Bump(by=3))  # an alarm in an hour
        assert [(w, v) for w, v, _ in seen] == [("tick", "v1")]

        new = JobsClient.from_client(environment.client, v2, task_queue=uid)
        async with build_worker(environment.client, v2, task_queue=uid):
            # get_state sees migrated state before any handler of version 2 ran
            assert (await new.continuous("ticker").get_state(uid)).state == V2(
                total=6, migrated=True
            )
            # A batch in flight is folded again by the new reducer when the new worker replays
            # its events from the history: it is version-2 state without a migration. (A batch
            # carried over continue-as-new is migrated; see _typed_state in the workflow.)
            await new.debounce("batcher").add(id=uid, event=Bump(by=4))
            assert (await new.debounce("batcher").get_state(uid)).state == V2(total=6)
            await environment.sleep(timedelta(minutes=61))
            assert (await new.task("machine").get_state(uid)).state == V2(total=3, migrated=True)
            # Migrated once per instance: the run kept version-2 state, read as it is now.
            before = len(migrations)
            assert (await new.continuous("ticker").get_state(uid)).state == V2(
                total=7, migrated=True
            )
            assert len(migrations) == before
        by_what = {what: state for what, version, state in seen if version == "v2"}
        assert by_what == {
            "tick": V2(total=6, migrated=True),  # the next run, an hour on
            "flush": V2(total=6),
            "alarm": V2(total=3, migrated=True),
        }
    finally:
        await environment.shutdown()


def test_a_state_version_above_1_needs_migrate() -> None:
    async def tick(ctx: ContinuousContext[V2]) -> None: ...

    with pytest.raises(JobDefinitionError, match="needs migrate="):
        Continuous(state=V2, schedule=every("1 hour"), execute=tick, state_version=2)
    with pytest.raises(JobDefinitionError, match="expected an int >= 1"):
        Continuous(state=V2, schedule=every("1 hour"), execute=tick, state_version=0)
