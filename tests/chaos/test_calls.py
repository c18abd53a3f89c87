"""The harness's callers: the same key on every attempt, timeouts, what is retried."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import pytest

from durable_jobs.errors import JobsConnectionError
from tests.chaos import calls
from tests.chaos.calls import CallApi, CallerErrors, RetryPolicy, make_call
from tests.chaos.checker import CallRecord

FAST = RetryPolicy(timeout=0.05, max_timeout=0.05, grace=0.05)


def record(op: str = "add") -> CallRecord:
    return CallRecord("debounce", op, "k0", "dh0", 7, key="run:dh0:7")


class FakeCallTimeoutError(Exception):
    pass


async def test_with_the_api_every_attempt_carries_the_same_key_and_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(calls, "CALL_TIMEOUT_ERROR", FakeCallTimeoutError)
    api = CallApi(keys=frozenset({"debounce.add"}), timeouts=frozenset({"debounce.add"}))
    seen: list[dict[str, Any]] = []

    async def invoke(options: dict[str, Any]) -> str:
        seen.append(options)
        if len(seen) == 1:
            raise FakeCallTimeoutError("may still be applied; retry with the same key")
        if len(seen) == 2:
            raise JobsConnectionError("127.0.0.1:1", "refused")
        return "answer"

    call, errors = record(), CallerErrors()
    loop = asyncio.get_running_loop()
    await make_call(
        call,
        invoke,
        api=api,
        policy=RetryPolicy(timeout=2.0),
        give_up_at=loop.time() + 30,
        rng=random.Random(0),
        caller_errors=errors,
    )
    assert call.acked and call.attempts == 3
    assert [o["idempotency_key"] for o in seen] == ["run:dh0:7"] * 3
    assert [o["timeout"] for o in seen] == [
        timedelta(seconds=2.0),
        timedelta(seconds=3.0),
        timedelta(seconds=4.5),
    ]
    assert errors.retried == {"CallTimeoutError": 1, "JobsConnectionError": 1}
    assert not errors.unexpected


async def test_without_the_api_a_slow_attempt_is_cut_off_and_retried_as_a_new_call() -> None:
    attempts: list[dict[str, Any]] = []

    async def invoke(options: dict[str, Any]) -> bool:
        attempts.append(options)
        if len(attempts) == 1:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                # What the library does today with a cancelled update.
                raise JobsConnectionError("127.0.0.1:1", "no answer in time") from None
        return True

    call, errors = record("trigger"), CallerErrors()
    loop = asyncio.get_running_loop()
    await make_call(
        call,
        invoke,
        api=CallApi.detect(plain=True),
        policy=FAST,
        give_up_at=loop.time() + 30,
        rng=random.Random(0),
        caller_errors=errors,
    )
    assert attempts == [{}, {}]
    assert (call.acked, call.triggered, call.attempts) == (True, True, 2)
    assert list(errors.retried) == [
        "timeout (asyncio.timeout; the library raised JobsConnectionError)"
    ]


async def test_an_unexplained_error_is_recorded_and_a_call_can_be_given_up() -> None:
    async def invoke(options: dict[str, Any]) -> None:
        raise ValueError("not a fault a retry explains")

    call, errors = record(), CallerErrors()
    loop = asyncio.get_running_loop()
    await make_call(
        call,
        invoke,
        api=CallApi.detect(plain=True),
        policy=FAST,
        give_up_at=loop.time() + 0.3,
        rng=random.Random(0),
        caller_errors=errors,
    )
    assert not call.acked and call.attempts >= 2
    assert errors.unexpected == {"ValueError: not a fault a retry explains": call.attempts}


def test_the_api_is_read_from_the_handles() -> None:
    api = CallApi.detect()
    assert CallApi.detect(plain=True).complete is False
    # Whatever the library offers today, each name is one of the harness's calls.
    assert api.keys <= {f"{k}.{o}" for k, ops in calls.CALLS.items() for o in ops}


def test_the_api_is_used_once_the_handles_take_keys_and_timeouts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def waiting(
        self: object, id: str, *, idempotency_key: str | None = None, timeout: Any = None
    ) -> None: ...

    async def nowait(self: object, id: str, *, idempotency_key: str | None = None) -> None: ...

    async def start(self: object, *, id: str, input: Any, timeout: Any = None) -> None: ...

    def handle(**methods: Any) -> type:
        return type("Handle", (), methods)

    monkeypatch.setattr(
        calls,
        "METHODS",
        {
            "debounce": handle(add=waiting, add_nowait=nowait, flush=waiting, flush_nowait=nowait),
            "task": handle(
                send=waiting, send_nowait=nowait, trigger=waiting, trigger_nowait=nowait
            ),
            "continuous": handle(start=start, trigger=waiting, trigger_nowait=nowait),
        },
    )
    monkeypatch.setattr(calls, "CALL_TIMEOUT_ERROR", None)
    assert not CallApi.detect().complete  # no CallTimeoutError yet
    monkeypatch.setattr(calls, "CALL_TIMEOUT_ERROR", FakeCallTimeoutError)
    api = CallApi.detect()
    assert api.complete
    assert "debounce.add_nowait" in api.keys and "debounce.add_nowait" not in api.timeouts
    assert "continuous.start" in api.timeouts and "continuous.start" not in api.keys
    assert not CallApi.detect(plain=True).complete
