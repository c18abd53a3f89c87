"""Retry of ``execute`` for every kind (SPEC §6): :class:`RetryConfig` and :class:`Backoff`.

These are pure values: the workflows compute the wait before attempt ``n + 1`` with
:meth:`RetryConfig.delay_after` and a random number from ``workflow.random()``, so retries are
durable timers and replay identically.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from durable_jobs.durations import Duration, parse_duration
from durable_jobs.errors import JobDefinitionError


def _ms(value: Duration, what: str) -> int:
    return parse_duration(value, what=what) // timedelta(milliseconds=1)


@dataclass(frozen=True)
class Backoff:
    """How long to wait after failed attempt ``n``. Build with the class methods."""

    kind: Literal["constant", "linear", "exponential"]
    base_ms: int
    increment_ms: int = 0
    factor: float = 2.0
    max_ms: int | None = None

    @classmethod
    def constant(cls, delay: Duration) -> "Backoff":
        """Wait ``delay`` after every failed attempt."""
        return cls(kind="constant", base_ms=_ms(delay, "Backoff.constant(delay)"))

    @classmethod
    def linear(
        cls, initial: Duration, increment: Duration, max: Duration | None = None
    ) -> "Backoff":
        """Wait ``initial`` after attempt 1, then ``increment`` more after each further attempt."""
        return cls(
            kind="linear",
            base_ms=_ms(initial, "Backoff.linear(initial)"),
            increment_ms=_ms(increment, "Backoff.linear(increment)"),
            max_ms=None if max is None else _ms(max, "Backoff.linear(max)"),
        )

    @classmethod
    def exponential(
        cls, base: Duration, factor: float = 2, max: Duration | None = None
    ) -> "Backoff":
        """Wait ``base * factor ** (n - 1)`` after attempt ``n``, capped at ``max``."""
        if (
            isinstance(factor, bool)
            or not isinstance(factor, (int, float))
            or not (math.isfinite(factor) and factor >= 1)
        ):
            raise JobDefinitionError(
                f"Backoff.exponential(factor): got {factor!r}; expected a number >= 1"
            )
        return cls(
            kind="exponential",
            base_ms=_ms(base, "Backoff.exponential(base)"),
            factor=float(factor),
            max_ms=None if max is None else _ms(max, "Backoff.exponential(max)"),
        )

    def delay_ms(self, failed_attempt: int) -> int:
        """The wait in milliseconds after attempt ``failed_attempt`` (1-based) failed."""
        n = max(failed_attempt, 1)
        if self.kind == "constant":
            delay = float(self.base_ms)
        elif self.kind == "linear":
            delay = float(self.base_ms + self.increment_ms * (n - 1))
        else:
            # Cap the exponent so huge attempt numbers cannot overflow a float.
            delay = self.base_ms * self.factor ** min(n - 1, 1000)
        if self.max_ms is not None:
            delay = min(delay, float(self.max_ms))
        return int(min(delay, float(timedelta.max // timedelta(milliseconds=1) // 2)))


def _default_backoff() -> "Backoff":
    return Backoff.exponential("1 second", factor=2, max="30 seconds")


@dataclass(frozen=True)
class RetryConfig:
    """Retry of ``execute``: ``max_attempts`` counts every attempt, the first included.

    ``jitter`` spreads each wait uniformly by ±10%. ``max_duration`` bounds the time from the first
    failed attempt's start to the next attempt: a retry that would start later is not made.
    """

    max_attempts: int
    delay: Backoff | None = None
    jitter: bool = True
    max_duration: timedelta | str | None = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.max_attempts, bool)
            or not isinstance(self.max_attempts, int)
            or self.max_attempts < 1
        ):
            raise JobDefinitionError(
                f"RetryConfig(max_attempts): got {self.max_attempts!r}; expected an int >= 1"
            )
        if self.delay is None:
            object.__setattr__(self, "delay", _default_backoff())
        elif not isinstance(self.delay, Backoff):
            raise JobDefinitionError(
                f"RetryConfig(delay): got {self.delay!r}; expected a Backoff such as "
                'Backoff.constant("10 seconds")'
            )
        if not isinstance(self.jitter, bool):
            raise JobDefinitionError(f"RetryConfig(jitter): got {self.jitter!r}; expected a bool")
        if self.max_duration is not None:
            duration = parse_duration(self.max_duration, what="RetryConfig(max_duration)")
            object.__setattr__(self, "max_duration", duration)

    @property
    def backoff(self) -> "Backoff":
        """The delay rule (the default exponential one when none was given)."""
        assert self.delay is not None
        return self.delay


@dataclass(frozen=True)
class RetryPlan:
    """The serialisable form of a :class:`RetryConfig` that travels in a workflow's input."""

    max_attempts: int
    backoff: Backoff
    jitter: bool
    max_duration_ms: int | None

    @classmethod
    def of(cls, config: RetryConfig | None) -> "RetryPlan":
        """The plan for ``config``; ``None`` means a single attempt."""
        if config is None:
            return cls(
                max_attempts=1,
                backoff=Backoff.constant("1 second"),
                jitter=False,
                max_duration_ms=None,
            )
        max_duration = config.max_duration
        return cls(
            max_attempts=config.max_attempts,
            backoff=config.backoff,
            jitter=config.jitter,
            max_duration_ms=None
            if max_duration is None
            else parse_duration(max_duration) // timedelta(milliseconds=1),
        )

    def delay_after(self, failed_attempt: int, random_unit: float) -> timedelta:
        """The wait after ``failed_attempt`` failed; ``random_unit`` in [0, 1) drives the jitter."""
        delay = float(self.backoff.delay_ms(failed_attempt))
        if self.jitter:
            delay *= 0.9 + 0.2 * random_unit
        return timedelta(milliseconds=round(delay))

    def next_attempt_at(
        self,
        *,
        failed_attempt: int,
        first_attempt_at: datetime,
        now: datetime,
        random_unit: float,
    ) -> datetime | None:
        """When attempt ``failed_attempt + 1`` is due, or ``None`` when no retry is left.

        ``first_attempt_at`` is when attempt 1 of this run started; with ``max_duration`` a retry
        that would start later than ``first_attempt_at + max_duration`` is not made.
        """
        if failed_attempt >= self.max_attempts:
            return None
        due = now + self.delay_after(failed_attempt, random_unit)
        if self.max_duration_ms is not None and due > first_attempt_at + timedelta(
            milliseconds=self.max_duration_ms
        ):
            return None
        return due
