"""Pieces of workflow records and replies shared by the three kinds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

EXECUTION_ERROR_TYPE = "ExecutionError"
"""``ApplicationError.type`` of an update failed by a handler error; the client maps it back."""

CONTINUING_AS_NEW_ERROR_TYPE = "ContinuingAsNew"
"""``ApplicationError.type`` of an update refused because its run is about to continue as new.

Nothing of it was recorded; the client sends it again and the next run takes it.
"""


@dataclass
class LastError:
    """The most recent handler failure of an instance, as ``status`` shows it."""

    error_type: str
    message: str
    attempt: int
    failed_at: datetime


@dataclass
class PendingSignal:
    """A message that came as a signal and was not handled yet: carried to the next run."""

    name: str
    payload: Any = None
