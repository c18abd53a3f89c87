"""The reference library's example jobs, runnable: ``python worker.py`` serves ``examples:jobs``."""

from examples.token_refresher import token_refresher
from examples.webhook_batcher import webhook_batcher
from jobs import DurableJobs

jobs = DurableJobs(tokenRefresher=token_refresher, webhookBatcher=webhook_batcher)
"""The registry the worker loads by default."""

__all__ = ["jobs", "token_refresher", "webhook_batcher"]
