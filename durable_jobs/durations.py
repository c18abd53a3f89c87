"""Durations as users write them: a ``timedelta`` or a string such as ``"5 seconds"`` (SPEC §3)."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from durable_jobs.errors import JobDefinitionError

Duration = timedelta | str
"""What a duration argument accepts: a ``timedelta`` or a string like ``"30 minutes"``."""

_UNITS: dict[str, timedelta] = {
    "ms": timedelta(milliseconds=1),
    "millis": timedelta(milliseconds=1),
    "millisecond": timedelta(milliseconds=1),
    "milliseconds": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "sec": timedelta(seconds=1),
    "secs": timedelta(seconds=1),
    "second": timedelta(seconds=1),
    "seconds": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "min": timedelta(minutes=1),
    "mins": timedelta(minutes=1),
    "minute": timedelta(minutes=1),
    "minutes": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "hour": timedelta(hours=1),
    "hours": timedelta(hours=1),
    "d": timedelta(days=1),
    "day": timedelta(days=1),
    "days": timedelta(days=1),
    "w": timedelta(weeks=1),
    "week": timedelta(weeks=1),
    "weeks": timedelta(weeks=1),
}

_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$")

_EXPECTED = (
    'a timedelta or a string like "500 millis", "500ms", "5 seconds", "5s", "30 minutes", '
    '"2 hours", "1 day" or "1 week"'
)


def parse_duration(value: object, *, what: str = "duration") -> timedelta:
    """Return ``value`` as a positive ``timedelta``.

    Bare numbers are refused: whether ``5`` means seconds or milliseconds would be a guess.
    Raises :class:`JobDefinitionError` naming ``what`` and the accepted forms.
    """
    if isinstance(value, (bool, int, float)):
        raise JobDefinitionError(
            f"{what}: bare number {value!r} is ambiguous; expected {_EXPECTED}"
        )
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, str):
        match = _PATTERN.match(value)
        unit = _UNITS.get(match.group(2).lower()) if match else None
        if match is None or unit is None:
            raise JobDefinitionError(f"{what}: cannot read {value!r}; expected {_EXPECTED}")
        amount = float(match.group(1))
        if not math.isfinite(amount):
            raise JobDefinitionError(f"{what}: {value!r} is not finite; expected {_EXPECTED}")
        result = unit * amount
    else:
        raise JobDefinitionError(
            f"{what}: got {type(value).__name__} {value!r}; expected {_EXPECTED}"
        )
    if result <= timedelta(0):
        raise JobDefinitionError(f"{what}: {value!r} must be longer than zero")
    return result
