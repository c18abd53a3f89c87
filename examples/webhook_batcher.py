"""The reference's ``webhookBatcher``: coalesce a contact's webhooks and send them as one batch.

Each ``add`` folds a webhook event into ``{events, count}``; the batch goes to the sink 5 seconds
after its first event, or at once when it holds 100 events. The sink is a fake, in process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from durable_jobs import (
    Backoff,
    Debounce,
    DebounceEventContext,
    DebounceExecuteContext,
    RetryConfig,
)


class WebhookEvent(BaseModel):
    """One webhook delivery for a contact."""

    type: str
    contact_id: str = Field(alias="contactId")
    data: dict[str, Any] = {}

    model_config = {"populate_by_name": True}


class WebhookBatch(BaseModel):
    """The events collected so far for one contact."""

    events: list[WebhookEvent] = []
    count: int = 0


def collect(ctx: DebounceEventContext[WebhookEvent, WebhookBatch]) -> WebhookBatch:
    """Append the event to the batch (a pure reducer: it runs inside the workflow)."""
    batch = ctx.state or WebhookBatch()
    return WebhookBatch(events=[*batch.events, ctx.event], count=batch.count + 1)


@dataclass
class FakeSink:
    """Stands in for the downstream API that accepts batches."""

    batches: list[WebhookBatch] = field(default_factory=list)

    async def send(self, batch: WebhookBatch) -> None:
        """Accept one batch."""
        self.batches.append(batch)


sink = FakeSink()


async def send_batch(ctx: DebounceExecuteContext[WebhookBatch]) -> None:
    """Deliver the batch to the sink."""
    await sink.send(ctx.state)


webhook_batcher = Debounce(
    event=WebhookEvent,
    state=WebhookBatch,
    on_event=collect,
    execute=send_batch,
    flush_after="5 seconds",
    max_events=100,
    retry=RetryConfig(max_attempts=5, delay=Backoff.exponential("1 second", max="30 seconds")),
)
