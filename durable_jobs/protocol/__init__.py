"""Pieces of workflow records and replies shared by the three kinds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.common import SearchAttributeKey

EXECUTION_ERROR_TYPE = "ExecutionError"
"""``ApplicationError.type`` of an update failed by a handler error; the client maps it back."""

CONTINUING_AS_NEW_ERROR_TYPE = "ContinuingAsNew"
"""``ApplicationError.type`` of an update refused because its run is about to continue as new.

Nothing of it was recorded; the client sends it again and the next run takes it.
"""


STATUS_MEMO = "jobs.status"
"""Memo key of an instance's status summary: its ``status`` query's answer, kept current."""

STATUS_AS_OF_MEMO = "jobs.status_as_of"
"""Memo key of the workflow time at which the summary was written."""

JOB_KIND = SearchAttributeKey.for_keyword("JobKind")
"""Search attribute set at start when the namespace has it: ``continuous``, ``debounce``, ``task``."""

JOB_NAME = SearchAttributeKey.for_keyword("JobName")
"""Search attribute set at start when the namespace has it: the job's registered name."""

JOB_STATUS = SearchAttributeKey.for_keyword("JobStatus")
"""Search attribute the workflow keeps equal to its status (``running``, ``debouncing``, ...)."""

SEARCH_ATTRIBUTES = (JOB_KIND, JOB_NAME, JOB_STATUS)
"""The search attributes of job instances, to register in a namespace before use."""


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
