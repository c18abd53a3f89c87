"""The installed wheel, used as an application uses it (run by tests/package/check_wheel.py)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import client as app_client
import myjobs
import pytest
from temporalio.testing import WorkflowEnvironment

import worker as app_worker
from durable_jobs import JobValidationError, testing
from durable_jobs.testing import JobsTestEnvironment


async def test_continuous_round_trip(jobs_env: JobsTestEnvironment) -> None:
    handle = jobs_env.client.continuous(myjobs.ticker)
    assert (await handle.start(id="u1", input=myjobs.Counter())).created
    await jobs_env.sleep("90 seconds")
    assert (await handle.status("u1")).run_count == 2
    state = (await handle.get_state("u1")).state
    assert state is not None and state.runs == 2


async def test_debounce_round_trip(jobs_env: JobsTestEnvironment) -> None:
    handle = jobs_env.client.debounce(myjobs.batcher)
    await handle.add(id="c1", event=myjobs.Hit(n=2))
    assert (await handle.add(id="c1", event={"n": 3})).event_count == 2
    with pytest.raises(JobValidationError, match="expected Hit"):
        await handle.add(id="c1", event={"n": "many"})
    await jobs_env.sleep("11 seconds")
    assert (await handle.status("c1")).status == "not_found"
    assert myjobs.flushed[-1] == myjobs.Hits(total=5)


async def test_task_round_trip(jobs_env: JobsTestEnvironment) -> None:
    handle = jobs_env.client.task(myjobs.orders)
    sent = await handle.send(id="o1", event=myjobs.OrderEvent(note="placed"))
    assert sent.created and sent.scheduled_at is not None
    await jobs_env.sleep("61 minutes")
    state = (await handle.get_state("o1")).state
    assert state == myjobs.Order(events=1, alarms=1)


async def test_plugin_hosts_the_jobs_beside_the_apps_own_workflow() -> None:
    """One worker of the application runs its own workflow and all three kinds of job."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=testing.time_skipping_server_path()
    )
    try:
        client = await app_worker.connect(env.client.service_client.config.target_host)
        async with app_worker.app_worker(client):
            assert await app_client.greet(client, "Ada") == "Hello, Ada!"
            jobs = app_client.jobs_client(client)
            key = uuid.uuid4().hex
            assert (await jobs.continuous(myjobs.ticker).start(id=key, input={})).created
            assert (await jobs.debounce(myjobs.batcher).add(id=key, event={"n": 1})).created
            assert (await jobs.task(myjobs.orders).send(id=key, event={"note": "x"})).created
            await env.sleep(timedelta(seconds=1))
            assert (await jobs.continuous(myjobs.ticker).status(key)).run_count == 1
            assert (await jobs.task(myjobs.orders).status(key)).event_count == 1
    finally:
        await env.shutdown()
