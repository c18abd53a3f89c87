"""The reference's three example jobs, through the public client, on the time-skipping server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from durable_jobs.testing import JobsTestEnvironment
from examples import jobs
from examples.order_processor import notifier
from examples.token_refresher import TokenState, token_endpoint
from examples.webhook_batcher import WebhookEvent, sink


@pytest.fixture
async def env() -> AsyncIterator[JobsTestEnvironment]:
    async with await JobsTestEnvironment.start_time_skipping(jobs) as jobs_env:
        yield jobs_env


async def test_token_refresher_refreshes_a_missing_token(env: JobsTestEnvironment) -> None:
    user = f"user-{uuid.uuid4().hex[:6]}"
    h = env.client.continuous("tokenRefresher")
    calls_before = len(token_endpoint.calls)
    await h.start(id=user, input=TokenState(refresh_token="rt_start"))
    await env.sleep("1 second")
    state = (await h.get_state(user)).state
    assert state is not None and state.access_token.startswith("at_") and state.refreshes == 1
    assert token_endpoint.calls[calls_before:] == ["rt_start"]
    assert (await h.status(user)).run_count == 1


async def test_webhook_batcher_sends_one_batch_after_5_seconds(env: JobsTestEnvironment) -> None:
    contact = f"contact-{uuid.uuid4().hex[:6]}"
    h = env.client.debounce("webhookBatcher")
    before = len(sink.batches)
    for i in range(3):
        await h.add(
            id=contact, event={"type": "contact.updated", "contactId": contact, "data": {"i": i}}
        )
    await env.sleep("6 seconds")
    assert len(sink.batches) == before + 1
    batch = sink.batches[-1]
    assert batch.count == 3 and [e.data["i"] for e in batch.events] == [0, 1, 2]
    assert all(isinstance(e, WebhookEvent) for e in batch.events)
    assert (await h.status(contact)).status == "not_found"


async def test_order_processor_from_placed_to_forgotten(env: JobsTestEnvironment) -> None:
    order_id = f"order-{uuid.uuid4().hex[:6]}"
    h = env.client.task("orderProcessor")
    reminders_before = notifier.sent.count(order_id)
    placed = await h.send(id=order_id, event={"_tag": "OrderPlaced", "orderId": order_id})
    assert placed.created and placed.scheduled_at is not None
    await env.sleep("7 seconds")
    assert notifier.sent.count(order_id) - reminders_before == 2  # two reminders while unpaid
    paid = await h.send(id=order_id, event={"_tag": "PaymentReceived", "amountCents": 100})
    assert paid.scheduled_at is None
    await h.send(id=order_id, event={"_tag": "Shipped", "trackingNumber": "1Z"})
    await env.sleep("4 seconds")
    order = (await h.get_state(order_id)).state
    assert order is not None and order.status == "delivered" and order.tracking_number == "1Z"
    await env.sleep("6 seconds")
    assert (await h.status(order_id)).status == "not_found"
