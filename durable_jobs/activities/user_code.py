"""Calling one user handler: within its timeout, in a thread for ``def``, never two at once.

An ``async def`` handler that overruns its timeout is cancelled. A plain ``def`` handler runs
in a thread of this module's own bounded pool and cannot be interrupted: when it overruns,
the attempt waits for its thread (heartbeating) so that the next attempt, on any worker, cannot
start beside it. Only if the thread still runs after ``leftover_patience(timeout)`` more does
the attempt fail; this worker then holds further attempts of that instance until the thread
returns (or refuses them after the same patience). So attempts of one instance never overlap
while the worker that ran the overrunning thread lives.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from durable_jobs.context import TerminateRequested
from durable_jobs.protocol.activities import HandlerError

THREADS = 64
"""Threads for ``def`` handlers in one worker process; more wait for a free one."""

_pool = concurrent.futures.ThreadPoolExecutor(
    max_workers=THREADS, thread_name_prefix="durable-jobs-handler"
)
_leftovers: dict[str, set[asyncio.Future[Any]]] = {}
"""Per instance: user code of finished attempts that has not returned yet."""


def leftover_patience(timeout: timedelta) -> timedelta:
    """How long an attempt waits for overrunning user code before it gives up on it."""
    return max(timeout, timedelta(minutes=1))


@dataclass
class HandlerResult:
    """How one handler call ended: normally, by ``ctx.terminate()``, or with ``error``."""

    error: HandlerError | None = None
    terminated: bool = False
    terminate_reason: str | None = None

    @property
    def ok(self) -> bool:
        """True when the handler returned normally or terminated the instance."""
        return self.error is None


async def call_handler(
    handler: Callable[..., Any],
    args: tuple[Any, ...],
    *,
    timeout: timedelta,
    instance_id: str,
) -> HandlerResult:
    """Call ``handler(*args)`` within ``timeout``; a user's exception is a result, never raised.

    Raises only ``asyncio.CancelledError``, when the activity itself is cancelled (terminate,
    worker shutdown).
    """
    if not await _wait_for_leftovers(instance_id, leftover_patience(timeout)):
        return HandlerResult(
            error=HandlerError(
                "AttemptRefused",
                f"an earlier attempt's handler of {instance_id!r} still runs in this worker "
                f"{leftover_patience(timeout)} after its timeout of {timeout}; a plain def "
                "handler cannot be interrupted, so this attempt does not start beside it",
            )
        )
    running, in_thread = _start(handler, args)
    try:
        done, _ = await asyncio.wait({running}, timeout=timeout.total_seconds())
    except asyncio.CancelledError:
        _stop(running, in_thread)
        _keep_if_running(instance_id, running)
        raise
    if not done:
        _stop(running, in_thread)
        patience = leftover_patience(timeout)
        stopped, _ = await asyncio.wait({running}, timeout=patience.total_seconds())
        message = f"the handler did not finish within its timeout of {timeout}"
        if not stopped:
            _keep_if_running(instance_id, running)
            message += f", and still ran {patience} later"
        return HandlerResult(error=HandlerError("TimeoutError", message))
    return _result_of(running)


def _start(handler: Callable[..., Any], args: tuple[Any, ...]) -> tuple[asyncio.Future[Any], bool]:
    """The running handler, and whether it runs in a thread (which cannot be cancelled)."""
    if inspect.iscoroutinefunction(handler):

        async def guarded() -> Any:
            try:
                return await handler(*args)
            except (asyncio.CancelledError, TerminateRequested, Exception):
                raise
            except BaseException as exc:
                raise _EscapedBaseError(exc) from exc

        return asyncio.ensure_future(guarded()), False

    def in_thread() -> Any:
        try:
            return handler(*args)
        except (TerminateRequested, Exception):
            raise
        except BaseException as exc:
            raise _EscapedBaseError(exc) from exc

    # The copied context carries Temporal's activity context (activity.info(), heartbeat).
    context = contextvars.copy_context()
    thread = asyncio.wrap_future(_pool.submit(context.run, in_thread))

    async def finish() -> Any:
        result = await thread
        if inspect.isawaitable(result):  # a def that returns a coroutine
            return await result
        return result

    return asyncio.ensure_future(finish()), True


class _EscapedBaseError(Exception):
    """Carries a ``SystemExit``/``KeyboardInterrupt``/... a user handler raised.

    asyncio re-raises those from the event loop itself, which would take the worker down; as a
    handler failure they are reported like any other error (and retried per policy).
    """

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


def _stop(running: asyncio.Future[Any], in_thread: bool) -> None:
    """Cancel an async handler; a thread's future is left to finish when the thread returns."""
    if not in_thread:
        running.cancel()


def _result_of(finished: asyncio.Future[Any]) -> HandlerResult:
    try:
        finished.result()
    except TerminateRequested as stop:
        return HandlerResult(terminated=True, terminate_reason=stop.reason)
    except asyncio.CancelledError:
        # The handler cancelled itself (or awaited something cancelled): a failure of its own.
        return HandlerResult(error=HandlerError("CancelledError", "the handler was cancelled"))
    except _EscapedBaseError as escaped:
        return HandlerResult(error=failure(escaped.original))
    except Exception as exc:
        return HandlerResult(error=failure(exc))
    return HandlerResult()


def failure(exc: BaseException, context: str | None = None) -> HandlerError:
    """The handler error of ``exc``, its message prefixed by ``context``."""
    message = str(exc) or repr(exc)
    if context:
        message = f"{context}: {message}"
    return HandlerError(type(exc).__name__, message)


def _keep_if_running(instance_id: str, running: asyncio.Future[Any]) -> None:
    if running.done():
        return
    waiting = _leftovers.setdefault(instance_id, set())
    waiting.add(running)

    def forget(finished: asyncio.Future[Any]) -> None:
        waiting.discard(finished)
        if not waiting and _leftovers.get(instance_id) is waiting:
            del _leftovers[instance_id]
        if not finished.cancelled():
            finished.exception()  # retrieved, so asyncio does not log it as lost

    running.add_done_callback(forget)


async def _wait_for_leftovers(instance_id: str, patience: timedelta) -> bool:
    """Wait until no earlier attempt's code of the instance runs here; False after ``patience``."""
    waiting = _leftovers.get(instance_id)
    if not waiting:
        return True
    _, pending = await asyncio.wait(set(waiting), timeout=patience.total_seconds())
    return not pending
