"""The calls an instance remembers, so that a duplicate gets the first call's answer.

A call is known by its identity: the caller's ``idempotency_key``, else the call's own id,
which every resend the client library makes reuses. An identity with a key is remembered for
the job's ``idempotency_window``; one without a key for ``RESEND_WINDOW``, long enough for the
client's resends, which is what lets a resend that reaches the next run (after
continue-as-new) be recognised: the memory is carried over. Keys are bounded by
``MAX_REMEMBERED_KEYS`` and ``MAX_REMEMBERED_KEY_BYTES``, calls without a key by
``MAX_REMEMBERED_CALL_BYTES``, each the oldest going first, so an instance never outgrows
Temporal's payload limit and a burst of plain calls never pushes out a key.
"""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from durable_jobs.protocol import (
    MAX_REMEMBERED_CALL_BYTES,
    MAX_REMEMBERED_KEY_BYTES,
    MAX_REMEMBERED_KEYS,
    RESEND_WINDOW,
    Call,
    CallAnswer,
)


class CallMemory:
    """Answers by call identity, oldest first; expired ones are dropped as new ones come.

    Answers with a key and without one are kept apart, each in the order remembered, which is
    the order they expire in (one window each): pruning and the caps pop from the front, so a
    hot instance that remembers a thousand answers does not scan them on every call.
    """

    def __init__(self, answers: list[CallAnswer], key_window: timedelta) -> None:
        self._key_window = key_window
        self._answers: dict[bool, OrderedDict[str, tuple[CallAnswer, int]]] = {
            True: OrderedDict(),
            False: OrderedDict(),
        }
        """Answers with an idempotency key (``True``) and without, with their encoded sizes."""
        self._bytes = {True: 0, False: 0}
        self._pruned_at: datetime | None = None
        for answer in answers:
            self._add(answer)

    def get(self, call: Call) -> CallAnswer | None:
        """The answer remembered for ``call``'s identity, unless it has expired."""
        found = self._answers[call.idempotency_key is not None].get(call.identity)
        if found is None or found[0].expires_at <= workflow.now():
            return None
        return found[0]

    def remember(
        self, call: Call, name: str, *, result: Any = None, error: ApplicationError | None = None
    ) -> None:
        """Keep ``call``'s answer (its reply, or the failure it was answered with)."""
        window = self._key_window if call.idempotency_key else RESEND_WINDOW
        answer = CallAnswer(
            identity=call.identity,
            name=name,
            expires_at=workflow.now() + window,
            user_key=call.idempotency_key is not None,
            result=result,
        )
        if error is not None:
            answer.error_type = error.type
            answer.error_message = error.message
            answer.error_details = list(error.details)
        self._forget(answer.user_key, answer.identity)
        self._add(answer)
        self._prune()

    def user_keys_expire_at(self) -> datetime | None:
        """When the last remembered idempotency key expires, or ``None`` when none is held."""
        now = workflow.now()  # no pruning here: status queries ask too, and must change nothing
        times = [a.expires_at for a, _ in self._answers[True].values() if a.expires_at > now]
        return max(times, default=None)

    def to_carry(self) -> list[CallAnswer]:
        """The unexpired answers, oldest first in each kind, for the next run."""
        self._prune()
        return [answer for kind in (True, False) for answer, _ in self._answers[kind].values()]

    def _add(self, answer: CallAnswer) -> None:
        size = answer_size(answer)
        self._answers[answer.user_key][answer.identity] = (answer, size)
        self._bytes[answer.user_key] += size

    def _forget(self, user_key: bool, identity: str) -> None:
        found = self._answers[user_key].pop(identity, None)
        if found is not None:
            self._bytes[user_key] -= found[1]

    def _prune(self) -> None:
        now = workflow.now()
        if now != self._pruned_at:  # expiry moves with workflow time: once per activation
            self._pruned_at = now
            for kind, answers in self._answers.items():
                while answers and next(iter(answers.values()))[0].expires_at <= now:
                    self._forget(kind, next(iter(answers)))
        keys, plain = self._answers[True], self._answers[False]
        while len(keys) > MAX_REMEMBERED_KEYS or self._bytes[True] > MAX_REMEMBERED_KEY_BYTES:
            self._forget(True, next(iter(keys)))
        while self._bytes[False] > MAX_REMEMBERED_CALL_BYTES:
            self._forget(False, next(iter(plain)))


_PAYLOAD_FRAME = 25
"""A JSON payload's bytes besides its data: ``metadata {"encoding": "json/plain"}`` (24) and
the data field's tag (1); the data's length prefix is counted by ``_varint_size``."""


def answer_size(answer: CallAnswer) -> int:
    """The bytes of ``answer`` as a JSON payload, as the default payload converter writes it.

    Every call remembers its answer, so this runs on every call and for every answer carried
    over continue-as-new. The payload converter itself copies a dataclass deeply before it
    writes it (``dataclasses.asdict``): that was a third of a hot Debounce key's workflow task.
    Answers hold only the library's replies (dataclasses of plain values and datetimes) and
    JSON-ready error details; anything else is measured by the workflow's payload converter.
    """
    try:
        data = json.dumps(answer, default=_shallow, separators=(",", ":"), sort_keys=True)
    except TypeError:
        return workflow.payload_converter().to_payloads([answer])[0].ByteSize()
    length = len(data.encode())
    return _PAYLOAD_FRAME + _varint_size(length) + length


def _shallow(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"not measured here: {type(value).__name__}")


def _varint_size(n: int) -> int:
    return max(1, (n.bit_length() + 6) // 7)


def replay(answer: CallAnswer) -> Any:
    """Answer a duplicate as the first call was answered: its reply, or its failure again."""
    if answer.error_type is None:
        return answer.result
    raise ApplicationError(
        answer.error_message or "",
        *(answer.error_details or []),
        type=answer.error_type,
        non_retryable=True,
    )
