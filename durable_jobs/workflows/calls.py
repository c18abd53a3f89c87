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

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from durable_jobs.protocol import (
        MAX_REMEMBERED_CALL_BYTES,
        MAX_REMEMBERED_KEY_BYTES,
        MAX_REMEMBERED_KEYS,
        RESEND_WINDOW,
        Call,
        CallAnswer,
    )


class CallMemory:
    """Answers by call identity, oldest first; expired ones are dropped as new ones come."""

    def __init__(self, answers: list[CallAnswer], key_window: timedelta) -> None:
        self._key_window = key_window
        self._answers: dict[str, tuple[CallAnswer, int]] = {}
        self._bytes = {True: 0, False: 0}
        """Bytes remembered for keys (``True``) and for calls without one."""
        self._keys = 0
        self._pruned_at: datetime | None = None
        for answer in answers:
            self._add(answer)

    def get(self, call: Call) -> CallAnswer | None:
        """The answer remembered for ``call``'s identity, unless it has expired."""
        found = self._answers.get(call.identity)
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
        self._forget(call.identity)
        self._add(answer)
        self._prune()

    def user_keys_expire_at(self) -> datetime | None:
        """When the last remembered idempotency key expires, or ``None`` when none is held."""
        now = workflow.now()
        times = [
            a.expires_at for a, _ in self._answers.values() if a.user_key and a.expires_at > now
        ]
        return max(times, default=None)

    def to_carry(self) -> list[CallAnswer]:
        """The unexpired answers, oldest first, for the next run."""
        self._prune()
        return [answer for answer, _ in self._answers.values()]

    def _add(self, answer: CallAnswer) -> None:
        size = workflow.payload_converter().to_payloads([answer])[0].ByteSize()
        self._answers[answer.identity] = (answer, size)
        self._bytes[answer.user_key] += size
        self._keys += answer.user_key

    def _forget(self, identity: str) -> None:
        found = self._answers.pop(identity, None)
        if found is not None:
            self._bytes[found[0].user_key] -= found[1]
            self._keys -= found[0].user_key

    def _prune(self) -> None:
        now = workflow.now()
        if now != self._pruned_at:  # expiry moves with workflow time: once per activation
            self._pruned_at = now
            for identity in [i for i, (a, _) in self._answers.items() if a.expires_at <= now]:
                self._forget(identity)
        while self._keys > MAX_REMEMBERED_KEYS or self._bytes[True] > MAX_REMEMBERED_KEY_BYTES:
            self._forget_oldest(user_key=True)
        while self._bytes[False] > MAX_REMEMBERED_CALL_BYTES:
            self._forget_oldest(user_key=False)

    def _forget_oldest(self, *, user_key: bool) -> None:
        self._forget(next(i for i, (a, _) in self._answers.items() if a.user_key == user_key))


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
