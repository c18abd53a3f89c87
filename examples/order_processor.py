"""The reference's ``orderProcessor``: one order as a small durable state machine.

Events (a discriminated union on ``_tag``): ``OrderPlaced`` → ``PaymentReceived`` → ``Shipped``.
Status goes pending → processing → shipped → delivered. While the order is unpaid an alarm sends
a payment reminder; after shipping, the alarm marks the order delivered (a stand-in for a
carrier's delivery check); some time after delivery the order cleans itself up with
``terminate()``. The delays are seconds so that ``make run`` shows the whole life of an order; a
real shop would use hours and days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from durable_jobs import Backoff, RetryConfig, Task
from durable_jobs.context import TaskContext, TaskEventContext

REMIND_EVERY = timedelta(seconds=3)
"""How often an unpaid order sends a payment reminder."""

DELIVERY_CHECK_AFTER = timedelta(seconds=3)
"""When, after shipping, the order is checked as delivered."""

FORGET_AFTER = timedelta(seconds=5)
"""How long a delivered order is kept before it removes itself."""


class _Event(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class OrderPlaced(_Event):
    """A customer placed the order."""

    tag: Literal["OrderPlaced"] = Field("OrderPlaced", alias="_tag")
    order_id: str = Field(alias="orderId")
    total_cents: int = Field(default=0, alias="totalCents")


class PaymentReceived(_Event):
    """The payment arrived."""

    tag: Literal["PaymentReceived"] = Field("PaymentReceived", alias="_tag")
    amount_cents: int = Field(default=0, alias="amountCents")


class Shipped(_Event):
    """The parcel left the warehouse."""

    tag: Literal["Shipped"] = Field("Shipped", alias="_tag")
    tracking_number: str = Field(alias="trackingNumber")


OrderEvent = Annotated[OrderPlaced | PaymentReceived | Shipped, Field(discriminator="tag")]
"""What ``send`` accepts for this job."""


class Order(BaseModel):
    """The order's state."""

    order_id: str
    status: Literal["pending", "processing", "shipped", "delivered"] = "pending"
    total_cents: int = 0
    reminders_sent: int = 0
    tracking_number: str | None = None
    delivered_at: datetime | None = None


@dataclass
class FakeNotifier:
    """Stands in for the e-mail service."""

    sent: list[str] = field(default_factory=list)

    async def remind(self, order_id: str) -> None:
        """Send a payment reminder."""
        self.sent.append(order_id)


notifier = FakeNotifier()


async def apply(
    event: OrderPlaced | PaymentReceived | Shipped, ctx: TaskEventContext[Order]
) -> None:
    """Move the order along; the alarm follows what the order waits for next."""
    if isinstance(event, OrderPlaced):
        ctx.set_state(Order(order_id=event.order_id, total_cents=event.total_cents))
        ctx.schedule(REMIND_EVERY)
        return
    order = ctx.state
    if order is None:
        raise ValueError(f"{type(event).__name__} for order {ctx.id!r} before OrderPlaced")
    if isinstance(event, PaymentReceived):
        ctx.set_state(order.model_copy(update={"status": "processing"}))
        ctx.cancel_schedule()  # no more reminders
    else:
        ctx.set_state(
            order.model_copy(update={"status": "shipped", "tracking_number": event.tracking_number})
        )
        ctx.schedule(DELIVERY_CHECK_AFTER)


async def advance(ctx: TaskContext[Order]) -> None:
    """The alarm: remind while unpaid, mark delivered after shipping, forget when done."""
    order = ctx.state
    if order is None:
        return
    if order.status == "pending":
        await notifier.remind(order.order_id)
        ctx.set_state(order.model_copy(update={"reminders_sent": order.reminders_sent + 1}))
        ctx.schedule(REMIND_EVERY)
    elif order.status == "shipped":
        ctx.set_state(
            order.model_copy(update={"status": "delivered", "delivered_at": datetime.now(UTC)})
        )
        ctx.schedule(FORGET_AFTER)
    elif order.status == "delivered":
        ctx.terminate()


order_processor = Task(
    state=Order,
    event=OrderEvent,
    on_event=apply,
    execute=advance,
    retry=RetryConfig(max_attempts=3, delay=Backoff.constant("2 seconds")),
)
