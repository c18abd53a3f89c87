"""Mistakes ``mypy --strict`` must catch: each line marked ``# expect-error`` is one."""

from __future__ import annotations

from myjobs import Hit, Hits, OrderEvent, batcher, orders

from durable_jobs import Debounce, DebounceEventContext, DebounceExecuteContext, JobsClient


async def wrong_event_types(client: JobsClient) -> None:
    await client.debounce(batcher).add(id="c1", event=OrderEvent(note="x"))  # expect-error
    await client.task(orders).send(id="o1", event=Hit(n=1))  # expect-error


def reducer_returning_a_count(ctx: DebounceEventContext[Hit, Hits]) -> int:
    return ctx.event.n


def reducer_of_other_events(ctx: DebounceEventContext[OrderEvent, Hits]) -> Hits:
    return Hits()


async def deliver(ctx: DebounceExecuteContext[Hits]) -> None:
    pass


wrong_result = Debounce(
    event=Hit,
    state=Hits,
    on_event=reducer_returning_a_count,  # expect-error
    execute=deliver,
    flush_after="1s",
)
wrong_event = Debounce(
    event=Hit,
    state=Hits,
    on_event=reducer_of_other_events,  # expect-error
    execute=deliver,
    flush_after="1s",
)
