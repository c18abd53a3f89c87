"""The application's jobs: one of each kind, as a user writes them against the installed wheel."""

from __future__ import annotations

from pydantic import BaseModel

from durable_jobs import (
    Continuous,
    ContinuousContext,
    Debounce,
    DebounceEventContext,
    DebounceExecuteContext,
    DurableJobs,
    Task,
    TaskContext,
    TaskEventContext,
    every,
)


class Counter(BaseModel):
    runs: int = 0


class Hit(BaseModel):
    n: int


class Hits(BaseModel):
    total: int = 0


class Order(BaseModel):
    events: int = 0
    alarms: int = 0


class OrderEvent(BaseModel):
    note: str


flushed: list[Hits] = []


async def tick(ctx: ContinuousContext[Counter]) -> None:
    ctx.set_state(Counter(runs=ctx.state.runs + 1))


def add_hit(ctx: DebounceEventContext[Hit, Hits]) -> Hits:
    return Hits(total=(ctx.state.total if ctx.state else 0) + ctx.event.n)


async def deliver(ctx: DebounceExecuteContext[Hits]) -> None:
    flushed.append(ctx.state)


def on_order_event(event: OrderEvent, ctx: TaskEventContext[Order]) -> None:
    ctx.set_state(Order(events=(ctx.state.events if ctx.state else 0) + 1))
    ctx.schedule("1 hour")


async def remind(ctx: TaskContext[Order]) -> None:
    ctx.update_state(lambda order: order.model_copy(update={"alarms": order.alarms + 1}))


ticker = Continuous(state=Counter, schedule=every("1 minute"), execute=tick)
batcher = Debounce(event=Hit, state=Hits, on_event=add_hit, execute=deliver, flush_after="10 s")
orders = Task(state=Order, event=OrderEvent, on_event=on_order_event, execute=remind)

jobs = DurableJobs(ticker=ticker, batcher=batcher, orders=orders)
