"""The reference library's example jobs, runnable: ``python worker.py`` serves ``examples:jobs``."""

from examples.token_refresher import token_refresher
from jobs import DurableJobs

jobs = DurableJobs(tokenRefresher=token_refresher)
"""The registry the worker loads by default."""

__all__ = ["jobs", "token_refresher"]
