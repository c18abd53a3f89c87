"""The HTTP event sink against a local HTTP server: batches, retries, and never in a job's way."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import BaseModel

from durable_jobs import Continuous, DurableJobs, ExecutionError, RetryConfig, every
from durable_jobs.context import ContinuousContext
from durable_jobs.events import JobEvent, add_event_sink, remove_event_sink
from durable_jobs.http_sink import HttpEventSink
from durable_jobs.testing import JobsTestEnvironment


class Endpoint:
    """A local HTTP server that records JSON bodies and answers 500 to the first ``fail`` posts."""

    def __init__(self, fail: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        self.fail = fail
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.attempts += 1
                if endpoint.attempts <= endpoint.fail:
                    self.send_response(500)
                else:
                    endpoint.bodies.append(body)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        return [event for body in self.bodies for event in body["events"]]


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint(fail=2)
    yield server
    server.server.shutdown()


class Count(BaseModel):
    n: int = 0


async def count(ctx: ContinuousContext[Count]) -> None:
    if ctx.state.n == 1:
        raise ConnectionError("downstream down")
    ctx.set_state(Count(n=ctx.state.n + 1))


counter = Continuous(
    state=Count,
    schedule=every("1 hour"),
    execute=count,
    retry=RetryConfig(max_attempts=1),
    start_immediately=False,
)
jobs = DurableJobs(counter=counter)


@pytest.fixture
async def env() -> AsyncIterator[JobsTestEnvironment]:
    async with await JobsTestEnvironment.start_time_skipping(jobs) as jobs_env:
        yield jobs_env


def event(n: int) -> JobEvent:
    return JobEvent(
        "job.executed", f"continuous:c:u{n}", f"u{n}", "continuous", "c", datetime.now(UTC)
    )


async def test_job_events_reach_the_endpoint_in_batches_through_failures(
    env: JobsTestEnvironment, endpoint: Endpoint
) -> None:
    sink = HttpEventSink(endpoint.url, batch_size=2, flush_interval=0.05, backoff=0.01)
    emitted: list[JobEvent] = []
    add_event_sink(emitted.append)
    add_event_sink(sink)
    try:
        h = env.client.continuous(counter)
        await h.start(id="u1", input=Count())
        await h.trigger("u1")  # run 1 succeeds
        with pytest.raises(ExecutionError):
            await h.trigger("u1")  # run 2 fails: a job.failed event
        with pytest.raises(ExecutionError):
            await h.trigger("u1")  # run 3 fails too
    finally:
        remove_event_sink(sink)
        remove_event_sink(emitted.append)
        await sink.aclose()
    names = [e["name"] for e in endpoint.events()]
    assert names == [e.name for e in emitted]  # every event, once, in order
    exhausted = ["job.failed", "job.retry_exhausted"]  # one attempt allowed
    # job.started comes from the step-events activity, concurrently with the first run.
    assert names.count("job.started") == 1
    assert [n for n in names if n != "job.started"] == ["job.executed", *exhausted, *exhausted]
    assert all(len(body["events"]) <= 2 for body in endpoint.bodies)
    first = endpoint.events()[0]
    assert (first["instance_id"], first["id"], first["job_kind"]) == (
        "continuous:counter:u1",
        "u1",
        "continuous",
    )
    assert endpoint.attempts == len(endpoint.bodies) + 2  # the two 500s were retried
    assert (sink.sent, sink.dropped) == (6, 0)


async def test_a_dead_endpoint_drops_events_and_never_fails_a_job(env: JobsTestEnvironment) -> None:
    sink = HttpEventSink(
        "http://127.0.0.1:1/events", flush_interval=0.01, max_attempts=2, backoff=0.01
    )
    emitted: list[JobEvent] = []
    add_event_sink(emitted.append)
    add_event_sink(sink)
    try:
        h = env.client.continuous(counter)
        await h.start(id="u2", input=Count())
        assert (await h.trigger("u2")).triggered  # the run is unaffected by the sink
        assert (await h.status("u2")).run_count == 1
    finally:
        remove_event_sink(sink)
        remove_event_sink(emitted.append)
        await sink.aclose()
    assert "job.executed" in [e.name for e in emitted]
    assert (sink.sent, sink.dropped) == (0, len(emitted))


async def test_a_full_buffer_drops_the_oldest_events() -> None:
    server = Endpoint()
    try:
        sink = HttpEventSink(server.url, batch_size=5, max_buffer=5)
        for n in range(8):
            sink(event(n))  # all before the sink's task can run: the buffer overflows
        await sink.aclose()
    finally:
        server.server.shutdown()
    assert (sink.sent, sink.dropped) == (5, 3)
    assert [e["id"] for e in server.events()] == ["u3", "u4", "u5", "u6", "u7"]
