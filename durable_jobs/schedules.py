"""When a Continuous job runs: ``every(duration)`` or ``cron(expression, tz)`` (SPEC §3).

A :class:`Schedule` is a small frozen value that travels inside the workflow's input, so the next
run time is computed by a pure function of the schedule and the workflow's clock.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from durable_jobs.durations import Duration, parse_duration
from durable_jobs.errors import JobDefinitionError


@dataclass(frozen=True)
class Schedule:
    """A fixed delay (``kind="every"``) or a cron expression in an IANA zone (``kind="cron"``).

    Build one with :func:`every` or :func:`cron`.
    """

    kind: Literal["every", "cron"]
    interval_ms: int | None = None
    expression: str | None = None
    tz: str | None = None
    jitter_ms: int | None = None

    def next_run_at(self, after: datetime, random_unit: float = 0.0) -> datetime:
        """The next due time (UTC) given the end of the previous run (``every``) or now (``cron``).

        ``every``: ``after`` plus the interval. ``cron``: the first match strictly after ``after``
        in the schedule's zone; DST gaps and repeats follow cronsim (as Debian's cron does).
        With ``jitter``, ``random_unit`` in [0, 1) delays it by that share of the jitter (the
        workflow draws it from ``workflow.random()``, so a replay draws the same).
        """
        delay = timedelta(milliseconds=round((self.jitter_ms or 0) * random_unit))
        if self.kind == "every":
            assert self.interval_ms is not None
            return after + timedelta(milliseconds=self.interval_ms) + delay
        assert self.expression is not None and self.tz is not None
        local = after.astimezone(ZoneInfo(self.tz))
        return next(CronSim(self.expression, local)).astimezone(UTC) + delay

    def describe(self) -> str:
        """A short human form, for logs and errors."""
        jitter = f" (jitter {timedelta(milliseconds=self.jitter_ms)})" if self.jitter_ms else ""
        if self.kind == "every":
            return f"every {timedelta(milliseconds=self.interval_ms or 0)}{jitter}"
        return f"cron {self.expression!r} in {self.tz}{jitter}"


def _jitter_ms(jitter: Duration | None, what: str) -> int | None:
    if jitter is None:
        return None
    return parse_duration(jitter, what=f"{what}(jitter=)") // timedelta(milliseconds=1)


def every(duration: Duration, *, jitter: Duration | None = None) -> Schedule:
    """Run again ``duration`` after the previous run finished (a fixed delay, not a fixed rate).

    ``jitter`` delays each run by a random time in ``[0, jitter]``, so many instances started
    together spread out.
    """
    interval = parse_duration(duration, what="every()")
    interval_ms = interval // timedelta(milliseconds=1)
    if interval_ms < 1:
        raise JobDefinitionError(f"every(): {duration!r} is shorter than one millisecond")
    return Schedule(kind="every", interval_ms=interval_ms, jitter_ms=_jitter_ms(jitter, "every"))


def cron(expression: str, tz: str = "UTC", *, jitter: Duration | None = None) -> Schedule:
    """Run at each match of a 5-field cron ``expression`` (6 fields: seconds first) in zone ``tz``.

    ``jitter`` delays each run by a random time in ``[0, jitter]`` after its match.
    """
    if not isinstance(expression, str) or len(expression.split()) not in (5, 6):
        raise JobDefinitionError(
            f"cron(): {expression!r} is not a cron expression; expected 5 fields "
            '("minute hour day month weekday") or 6 with seconds first'
        )
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise JobDefinitionError(
            f"cron(): unknown time zone {tz!r}; expected an IANA name such as 'Europe/Paris'"
        ) from exc
    try:
        next(CronSim(expression, datetime(2000, 1, 1, tzinfo=zone)))
    except (CronSimError, StopIteration) as exc:
        raise JobDefinitionError(f"cron(): invalid expression {expression!r}: {exc}") from exc
    return Schedule(kind="cron", expression=expression, tz=tz, jitter_ms=_jitter_ms(jitter, "cron"))
