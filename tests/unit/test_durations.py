from datetime import timedelta

import pytest

from durable_jobs import JobDefinitionError, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500 millis", timedelta(milliseconds=500)),
        ("500ms", timedelta(milliseconds=500)),
        ("5 seconds", timedelta(seconds=5)),
        ("5s", timedelta(seconds=5)),
        ("30 minutes", timedelta(minutes=30)),
        ("30m", timedelta(minutes=30)),
        ("2 hours", timedelta(hours=2)),
        ("2h", timedelta(hours=2)),
        ("1 day", timedelta(days=1)),
        ("1d", timedelta(days=1)),
        ("1 week", timedelta(weeks=1)),
        ("1.5 seconds", timedelta(milliseconds=1500)),
        (" 10  Minutes ", timedelta(minutes=10)),
    ],
)
def test_strings_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_timedelta_passes_through() -> None:
    assert parse_duration(timedelta(seconds=3)) == timedelta(seconds=3)


@pytest.mark.parametrize("value", [5, 5.0, True])
def test_bare_numbers_are_refused_as_ambiguous(value: object) -> None:
    with pytest.raises(JobDefinitionError, match="ambiguous"):
        parse_duration(value)


@pytest.mark.parametrize("value", ["", "5", "five seconds", "5 fortnights", "-5 seconds", "5 s s"])
def test_unreadable_strings_name_the_accepted_forms(value: str) -> None:
    with pytest.raises(JobDefinitionError, match="expected"):
        parse_duration(value, what="flush_after")


@pytest.mark.parametrize("value", ["0 seconds", timedelta(0), timedelta(seconds=-1)])
def test_zero_and_negative_are_refused(value: object) -> None:
    with pytest.raises(JobDefinitionError, match="longer than zero"):
        parse_duration(value)


def test_other_types_are_refused() -> None:
    with pytest.raises(JobDefinitionError, match="got list"):
        parse_duration(["5 seconds"])
