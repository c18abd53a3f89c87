"""OpenTelemetry tracing through Temporal's interceptor, with job attributes (issue 7, point 4)."""

from __future__ import annotations

import uuid

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import WorkflowEnvironment

from durable_jobs import Continuous, DurableJobs, every
from durable_jobs.client import JobsClient
from durable_jobs.context import ContinuousContext
from durable_jobs.worker import build_worker


class Count(BaseModel):
    n: int = 0


async def count(ctx: ContinuousContext[Count]) -> None:
    ctx.set_state(Count(n=ctx.state.n + 1))


ticker = Continuous(state=Count, schedule=every("1 hour"), execute=count, start_immediately=False)
jobs = DurableJobs(ticker=ticker)


async def test_handler_spans_carry_the_job(dev_env: WorkflowEnvironment, uid: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    temporal_client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        interceptors=[TracingInterceptor(provider.get_tracer("test"))],
    )
    queue = f"tracing-{uuid.uuid4().hex[:8]}"
    client = JobsClient.from_client(temporal_client, jobs, task_queue=queue)
    async with build_worker(temporal_client, jobs, task_queue=queue):
        await client.continuous(ticker).start(id=uid, input=Count())
        assert (await client.continuous(ticker).trigger(uid)).triggered
    spans = exporter.get_finished_spans()
    handler_spans = [s for s in spans if s.name == "RunActivity:durable_jobs.run_handler"]
    assert len(handler_spans) == 1
    attributes = dict(handler_spans[0].attributes or {})
    assert {k: attributes.get(k) for k in ("job.kind", "job.name", "job.id", "job.handler")} == {
        "job.kind": "continuous",
        "job.name": "ticker",
        "job.id": uid,
        "job.handler": "execute",
    }
    assert attributes["job.instance_id"] == f"continuous:ticker:{uid}"
    # The handler's span hangs under the workflow's StartActivity span, in the trace the
    # client's start call opened: one trace from the shell to the handler.
    (schedule,) = [s for s in spans if s.name == "StartActivity:durable_jobs.run_handler"]
    (started,) = [s for s in spans if s.name == "StartUpdateWithStartWorkflow:ContinuousJob"]
    assert handler_spans[0].parent is not None
    assert handler_spans[0].parent.span_id == schedule.context.span_id
    assert handler_spans[0].context.trace_id == started.context.trace_id
