"""The reference library's example jobs, runnable: ``python worker.py`` serves ``examples:jobs``."""

from durable_jobs import DurableJobs
from examples.order_processor import order_processor
from examples.token_refresher import token_refresher
from examples.webhook_batcher import webhook_batcher

jobs = DurableJobs(
    tokenRefresher=token_refresher,
    webhookBatcher=webhook_batcher,
    orderProcessor=order_processor,
)
"""The registry the worker loads by default."""

__all__ = ["jobs", "order_processor", "token_refresher", "webhook_batcher"]
