"""Typed use of the client that ``mypy --strict`` must accept against the installed wheel."""

from __future__ import annotations

from myjobs import Counter, Hit, Hits, Order, OrderEvent, batcher, orders, ticker

from durable_jobs import JobsClient


async def use(client: JobsClient) -> tuple[Counter | None, Hits | None, Order | None]:
    await client.continuous(ticker).start(id="u1", input=Counter())
    await client.debounce(batcher).add(id="c1", event=Hit(n=1))
    await client.debounce(batcher).add_nowait(id="c1", event={"n": 2})
    await client.task(orders).send(id="o1", event=OrderEvent(note="placed"))
    counter = (await client.continuous(ticker).get_state("u1")).state
    hits = (await client.debounce(batcher).get_state("c1")).state
    order = (await client.task(orders).get_state("o1")).state
    return counter, hits, order
