"""Pieces of workflow records and replies shared by the three kinds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

EXECUTION_ERROR_TYPE = "ExecutionError"
"""``ApplicationError.type`` of an update failed by a handler error; the client maps it back."""


@dataclass
class LastError:
    """The most recent handler failure of an instance, as ``status`` shows it."""

    error_type: str
    message: str
    attempt: int
    failed_at: datetime
