"""The contexts handed to user handlers (SPEC §4).

State changes are buffered in the context and committed by the engine only when the handler
returns normally. ``terminate()`` raises :class:`TerminateRequested`, a ``BaseException`` so that a
handler's own ``except Exception`` cannot swallow it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from pydantic import BaseModel

S = TypeVar("S", bound=BaseModel)


class TerminateRequested(BaseException):
    """Raised by ``ctx.terminate()``: unwinds the handler; the engine removes the instance."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason)
        self.reason = reason


class HandlerContext:
    """What every handler context has: who is running and which attempt this is."""

    def __init__(
        self, *, kind: str, job_name: str, instance_id: str, id: str, attempt: int
    ) -> None:
        self._kind = kind
        self._job_name = job_name
        self._instance_id = instance_id
        self._id = id
        self._attempt = attempt

    @property
    def instance_id(self) -> str:
        """The workflow ID, ``{kind}:{job_name}:{id}``."""
        return self._instance_id

    @property
    def id(self) -> str:
        """The user id of this instance."""
        return self._id

    @property
    def job_name(self) -> str:
        """The name the job is registered under."""
        return self._job_name

    @property
    def attempt(self) -> int:
        """Which attempt this is: 1 for the first try."""
        return self._attempt

    @property
    def is_retry(self) -> bool:
        """True on every attempt after the first."""
        return self._attempt > 1

    def terminate(self, reason: str | None = None) -> None:
        """Remove this instance once the handler unwinds; code after this call does not run."""
        raise TerminateRequested(reason)

    def _check_state(self, model: type[BaseModel], value: object) -> None:
        if not isinstance(value, model):
            raise TypeError(
                f"{self._kind} job {self._job_name!r} instance {self._instance_id!r}: set_state got "
                f"{type(value).__name__}; expected an instance of {model.__name__}"
            )


class ContinuousContext(HandlerContext, Generic[S]):
    """The context of a Continuous ``execute``: the live state, the run count, terminate."""

    def __init__(
        self,
        *,
        job_name: str,
        instance_id: str,
        id: str,
        attempt: int,
        run_count: int,
        state: S,
    ) -> None:
        super().__init__(
            kind="continuous", job_name=job_name, instance_id=instance_id, id=id, attempt=attempt
        )
        self._run_count = run_count
        self._state = state

    @property
    def state(self) -> S:
        """The current state, including changes made earlier in this run."""
        return self._state

    @property
    def run_count(self) -> int:
        """Which run this is, 1-based; retries of one run share its number."""
        return self._run_count

    def set_state(self, state: S) -> None:
        """Replace the state; committed only if the handler returns normally."""
        self._check_state(type(self._state), state)
        self._state = state

    def update_state(self, fn: Callable[[S], S]) -> None:
        """Replace the state with ``fn(state)``."""
        self.set_state(fn(self._state))
