"""Prometheus metrics from a worker: Temporal's own and the jobs' (issue 7, point 4)."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from pydantic import BaseModel
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from durable_jobs import Continuous, Debounce, DurableJobs, ExecutionError, RetryConfig, every
from durable_jobs.client import JobsClient
from durable_jobs.context import ContinuousContext, DebounceExecuteContext
from durable_jobs.worker import build_worker, prometheus_runtime
from tests.integration.helpers import eventually
from tests.system.processes import free_port


class Count(BaseModel):
    n: int = 0


async def count(ctx: ContinuousContext[Count]) -> None:
    if ctx.state.n == 1:
        raise ConnectionError("downstream down")
    ctx.set_state(Count(n=ctx.state.n + 1))


async def deliver(ctx: DebounceExecuteContext[Count]) -> None:
    return None


ticker = Continuous(
    state=Count,
    schedule=every("1 hour"),
    execute=count,
    start_immediately=False,
    retry=RetryConfig(max_attempts=1),
)
batch = Debounce(event=Count, execute=deliver, flush_after="1 hour")
jobs = DurableJobs(ticker=ticker, batch=batch)


def value(scrape: str, name: str, **labels: str) -> float:
    """The sum of the series of ``name`` whose labels include ``labels`` (0 when none)."""
    total = 0.0
    for line in scrape.splitlines():
        match = re.match(rf"{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


async def test_job_metrics_are_served_next_to_temporals(
    dev_env: WorkflowEnvironment, uid: str
) -> None:
    port, queue = free_port(), f"metrics-{uuid.uuid4().hex[:8]}"
    temporal_client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        runtime=prometheus_runtime(port, host="127.0.0.1"),
    )
    client = JobsClient.from_client(temporal_client, jobs, task_queue=queue)
    async with build_worker(temporal_client, jobs, task_queue=queue):
        h = client.continuous(ticker)
        await h.start(id=uid, input=Count())
        await h.trigger(uid)
        with pytest.raises(ExecutionError):  # the failed run the failure counter counts
            await h.trigger(uid)
        for n in range(3):
            await client.debounce(batch).add(id=uid, event=Count(n=n))
        await client.debounce(batch).flush(uid)

        async def scrape() -> str:
            async with httpx.AsyncClient() as http:
                return (await http.get(f"http://127.0.0.1:{port}/metrics")).text

        text = await eventually(
            scrape, lambda t: value(t, "durable_jobs_batch_size_count") >= 1, timeout=20
        )
    calls = "durable_jobs_handler_calls"
    assert value(text, calls, job_name="ticker", handler="execute", outcome="ok") == 1
    assert value(text, calls, job_name="ticker", handler="execute", outcome="failed") == 1
    assert value(text, "durable_jobs_flushes", job_kind="debounce", job_name="batch") == 1
    assert value(text, "durable_jobs_batch_size_sum", job_name="batch") == 3
    assert value(text, "durable_jobs_handler_duration_count", job_name="ticker") == 2
    assert value(text, "temporal_activity_execution_latency_count") >= 3  # Temporal's own
