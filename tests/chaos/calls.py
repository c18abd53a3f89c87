"""Calls as a careful application makes them: a short timeout, retried until acknowledged.

With the idempotency API (SPEC §10.2) every attempt of one logical call carries the same
``idempotency_key`` and waiting calls pass ``timeout=``; a ``CallTimeoutError`` or
``JobsConnectionError`` is retried with the same key, and should never apply a call twice.
Without it (or with ``plain=True``) the attempts are plain calls cut off by ``asyncio.timeout``,
which is what an application can do today: each retry is a new call to the library.

What the client supports is read from the handles' signatures, method by method, so the
harness uses the API as soon as a method has it.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.service import RPCError

from durable_jobs import errors
from durable_jobs.client.continuous import ContinuousHandle
from durable_jobs.client.debounce import DebounceHandle
from durable_jobs.client.task import TaskHandle
from tests.chaos.checker import CallRecord

CALL_TIMEOUT_ERROR: type[Exception] | None = getattr(errors, "CallTimeoutError", None)
"""``durable_jobs.errors.CallTimeoutError`` once the library has it."""

METHODS: dict[str, type[Any]] = {
    "debounce": DebounceHandle,
    "task": TaskHandle,
    "continuous": ContinuousHandle,
}
CALLS: dict[str, tuple[str, ...]] = {
    "debounce": ("add", "add_nowait", "flush", "flush_nowait"),
    "task": ("send", "send_nowait", "trigger", "trigger_nowait"),
    "continuous": ("start", "trigger", "trigger_nowait"),
}
"""The calls the harness makes, per kind."""

NEEDS_NO_KEY = frozenset({"continuous.start"})
"""``start`` is idempotent by itself (SPEC §10.2 gives it no key)."""


def _accepts(kind: str, op: str, parameter: str) -> bool:
    method = getattr(METHODS[kind], op)
    return parameter in inspect.signature(method).parameters


@dataclass(frozen=True)
class CallApi:
    """Which calls take ``idempotency_key=`` and which take ``timeout=`` (``kind.op`` names)."""

    keys: frozenset[str]
    timeouts: frozenset[str]

    @classmethod
    def detect(cls, *, plain: bool = False) -> CallApi:
        """What the installed library offers; nothing with ``plain`` (the fallback, forced)."""
        if plain:
            return cls(frozenset(), frozenset())
        names = [(kind, op) for kind, ops in CALLS.items() for op in ops]
        return cls(
            keys=frozenset(f"{k}.{o}" for k, o in names if _accepts(k, o, "idempotency_key")),
            timeouts=frozenset(f"{k}.{o}" for k, o in names if _accepts(k, o, "timeout")),
        )

    @property
    def complete(self) -> bool:
        """Every call the harness makes carries a key, and ``CallTimeoutError`` exists."""
        wanted = {f"{k}.{o}" for k, ops in CALLS.items() for o in ops} - NEEDS_NO_KEY
        return wanted <= self.keys and CALL_TIMEOUT_ERROR is not None

    def describe(self) -> str:
        if self.complete:
            return "idempotency_key= and timeout= (SPEC 10.2)"
        if not self.keys and not self.timeouts:
            return "none: plain calls cut off by asyncio.timeout, each retry a new call"
        return f"partial: keys on {sorted(self.keys)}, timeouts on {sorted(self.timeouts)}"


@dataclass(frozen=True)
class RetryPolicy:
    """How long an attempt may take and how long to wait before the next one."""

    timeout: float = 1.5
    """Seconds for the first attempt; each further attempt gets half again as much."""
    max_timeout: float = 10.0
    grace: float = 10.0
    """With ``timeout=`` passed to the library: how much later than that the harness itself
    gives up on the attempt (the library did not keep its own timeout)."""

    def attempt_timeout(self, attempt: int) -> float:
        return min(self.timeout * 1.5 ** (attempt - 1), self.max_timeout)

    def pause(self, attempt: int, rng: random.Random) -> float:
        return min(0.1 * attempt, 2.0) * rng.uniform(0.5, 1.5)


@dataclass
class CallerErrors:
    """Failed attempts by what they raised: retried ones, and ones no retry explains."""

    retried: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)


_NOT_RETRIED = (
    errors.JobValidationError,
    errors.JobDefinitionError,
    errors.JobNotFoundError,
    errors.ExecutionError,
)
"""Answers that say the call itself is wrong or its handler failed: no retry explains them."""

Invoke = Callable[[dict[str, Any]], Awaitable[Any]]
"""Makes one attempt of a call, given the keyword arguments of the API; returns its answer."""


def _classify(err: BaseException, *, library_timeout: bool) -> tuple[str, bool]:
    """A short name for ``err`` and whether a retry explains it (a transient fault)."""
    if CALL_TIMEOUT_ERROR is not None and isinstance(err, CALL_TIMEOUT_ERROR):
        return "CallTimeoutError", True
    if isinstance(err, TimeoutError):
        if library_timeout:
            return "attempt outlived its timeout= (harness cut it off)", False
        return "timeout (asyncio.timeout)", True
    if isinstance(err, errors.JobsConnectionError):
        return "JobsConnectionError", True
    if isinstance(err, errors.WorkerUnavailableError):
        return "WorkerUnavailableError", True
    if isinstance(err, RPCError):
        return f"RPCError {err.status.name}", True
    if isinstance(err, errors.JobsError) and not isinstance(err, _NOT_RETRIED):
        # E.g. a call queued behind the instance's end (SPEC 10.3 allows a clear JobsError).
        return f"{type(err).__name__}: {str(err)[:160]}", True
    return f"{type(err).__name__}: {str(err)[:160]}", False


async def make_call(
    call: CallRecord,
    invoke: Invoke,
    *,
    api: CallApi,
    policy: RetryPolicy,
    give_up_at: float,
    rng: random.Random,
    caller_errors: CallerErrors,
) -> None:
    """Attempt ``call`` until an attempt is answered or ``give_up_at`` (loop time) passes.

    Records the attempts, the answer (``call.triggered`` for triggers) and each failure.
    """
    name = f"{call.kind}.{call.op}"
    loop = asyncio.get_running_loop()
    while True:
        call.attempts += 1
        timeout = policy.attempt_timeout(call.attempts)
        options: dict[str, Any] = {}
        if name in api.keys:
            options["idempotency_key"] = call.key
        library_timeout = name in api.timeouts
        if library_timeout:
            options["timeout"] = timedelta(seconds=timeout)
        cutoff = asyncio.timeout(timeout + policy.grace if library_timeout else timeout)
        try:
            async with cutoff:
                answer = await invoke(options)
        except Exception as err:
            what, transient = _classify(err, library_timeout=library_timeout)
            if cutoff.expired() and not isinstance(err, TimeoutError):
                # The library turned the cancellation into an error of its own.
                what = f"timeout (asyncio.timeout; the library raised {what})"
            call.errors.append(what)
            (caller_errors.retried if transient else caller_errors.unexpected)[what] += 1
        else:
            call.acked = True
            if isinstance(answer, bool):
                call.triggered = answer
            return
        if loop.time() >= give_up_at:
            return
        await asyncio.sleep(policy.pause(call.attempts, rng))
