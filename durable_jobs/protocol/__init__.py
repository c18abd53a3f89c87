"""The wire types every kind shares: call identities, failures, carried messages, budgets.

Everything that crosses a process boundary (client to workflow, workflow to activity, one run
to the next) is a plain dataclass in this package, which Temporal's default data converter
carries.

These modules keep evaluated annotations (no ``from __future__ import annotations``):
temporalio resolves a dataclass's type hints on every conversion, and string annotations made
decoding a handler call about 3.5 times slower (``tests/unit/test_protocol.py`` guards it).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio.common import SearchAttributeKey

EXECUTION_ERROR_TYPE = "ExecutionError"
"""``ApplicationError.type`` of an update failed by a handler error; the client maps it back."""

REFUSED_ERROR_TYPE = "CallRefused"
"""``ApplicationError.type`` of a call the instance refused and did not apply (over its payload
budget, an idempotency key used for another call); the client raises ``JobsError``."""

NOT_REGISTERED_ERROR_TYPE = "JobNotRegistered"
"""``ApplicationError.type`` of a call for a job the worker does not have."""

CONTINUING_AS_NEW_ERROR_TYPE = "ContinuingAsNew"
"""``ApplicationError.type`` of an update refused because its run is about to continue as new.

Nothing of it was recorded; the client sends it again (with the same update ID) and the next
run takes it.
"""

INSTANCE_ENDED_ERROR_TYPE = "InstanceEnded"
"""``ApplicationError.type`` of an update that was queued when its instance ended
(``ctx.terminate()``): nothing of it was applied; the client sends it again, which reaches the
next instance (or finds none)."""

STATUS_MEMO = "jobs.status"
"""Memo key of an instance's status summary: its ``status`` query's answer, kept current."""

STATUS_AS_OF_MEMO = "jobs.status_as_of"
"""Memo key of the time at which the summary was written."""

JOB_KIND = SearchAttributeKey.for_keyword("JobKind")
"""Search attribute set at start when the namespace has it: ``continuous``, ``debounce``, ``task``."""

JOB_NAME = SearchAttributeKey.for_keyword("JobName")
"""Search attribute set at start when the namespace has it: the job's registered name."""

JOB_STATUS = SearchAttributeKey.for_keyword("JobStatus")
"""Search attribute the workflow keeps equal to its status (``running``, ``debouncing``, ...)."""

SEARCH_ATTRIBUTES = (JOB_KIND, JOB_NAME, JOB_STATUS)
"""The search attributes of job instances, to register in a namespace before use."""

# --- payload budget (Temporal refuses any payload over 2 MB) --------------------------------

PAYLOAD_LIMIT_BYTES = 2 * 1024 * 1024
"""Temporal's limit on one payload (``limit.blobSize.error``, 2 MB by default)."""

MAX_STATE_BYTES = 1_000_000
"""The largest state an instance keeps, as JSON: a handler outcome over it is a failure, an
input over it is refused. The rest of a payload is room for an event, queued messages and the
calls the instance remembers."""

MAX_EVENT_BYTES = 512_000
"""The largest event (or other call payload) a client sends, as JSON."""

MAX_QUEUED_BYTES = 512_000
"""The most payload an instance holds in messages it has acknowledged but not handled yet
(fire-and-forget calls, Debounce events held behind a flush), which continue-as-new carries.
Beyond it a further fire-and-forget call is refused, unless nothing is queued."""

MAX_REMEMBERED_KEY_BYTES = 256_000
"""The most an instance spends on remembering idempotency keys and their answers (about 250
bytes each with a short key: 1,000 keys fit)."""

MAX_REMEMBERED_CALL_BYTES = 128_000
"""The most an instance spends on remembering recent calls without a key (for resends); they
never push out a key."""

MAX_IDEMPOTENCY_KEY_LENGTH = 128
"""The longest ``idempotency_key`` a client accepts."""

MAX_REMEMBERED_KEYS = 1_000
"""How many idempotency keys one instance remembers at most; beyond it the oldest go first."""

RESEND_WINDOW = timedelta(minutes=2)
"""How long an instance remembers a call without an idempotency key: long enough for the
client's own resends (after a lost answer or a continue-as-new) to be recognised."""


@dataclass
class Call:
    """Who a client call is: one ``id`` per logical call, reused by every resend the library
    makes (it is also the update ID), and the caller's ``idempotency_key``, if any."""

    id: str
    idempotency_key: str | None = None

    @property
    def identity(self) -> str:
        """What duplicates are recognised by: the caller's key, else the call's id."""
        return self.idempotency_key or self.id


@dataclass
class CallRequest:
    """A call that carries nothing but who it is (``trigger``, ``flush``, ``clear``)."""

    call: Call


@dataclass
class LastError:
    """The most recent handler failure of an instance, as ``status`` shows it."""

    error_type: str
    message: str
    attempt: int
    failed_at: datetime


@dataclass
class CallAnswer:
    """The answer an instance gave a call, kept so that a duplicate gets the same answer.

    ``result`` is the reply; ``error`` the failure (``ApplicationError`` type, message and
    details) when the call failed; ``expires_at`` is when the identity is forgotten.
    """

    identity: str
    name: str
    expires_at: datetime
    user_key: bool
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None
    error_details: list[Any] | None = None


@dataclass
class StateView:
    """The ``state`` query's answer: the state as JSON-ready data and the version it was
    written with (the client migrates older state on reading, as the worker does)."""

    state: Any
    state_version: int = 1


@dataclass
class CarriedMessage:
    """A message the previous run acknowledged but did not handle: carried to the next run."""

    name: str
    payload: Any
    arrived_at: datetime
    size: int = 0
