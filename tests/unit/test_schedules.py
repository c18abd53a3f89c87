from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from durable_jobs import JobDefinitionError, cron, every

UTC = UTC


def test_every_is_a_fixed_delay_after_the_previous_run() -> None:
    finished = datetime(2026, 1, 1, 12, 0, 7, tzinfo=UTC)
    assert every("30 minutes").next_run_at(finished) == finished + timedelta(minutes=30)


def test_cron_next_match_is_strictly_after_now() -> None:
    at_match = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert cron("0 * * * *").next_run_at(at_match) == datetime(2026, 1, 1, 13, 0, tzinfo=UTC)


def test_cron_matches_in_the_jobs_zone() -> None:
    # 09:00 in Paris is 08:00 UTC in winter.
    now = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
    assert cron("0 9 * * *", tz="Europe/Paris").next_run_at(now) == datetime(
        2026, 1, 5, 8, 0, tzinfo=UTC
    )


def test_cron_with_seconds_field_first() -> None:
    now = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert cron("*/10 * * * * *").next_run_at(now) == now + timedelta(seconds=10)


def test_cron_spring_forward_gap_runs_right_after_the_change() -> None:
    # London skips 01:00-02:00 on 2026-03-29; a 01:30 job runs at the first valid time.
    now = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    job = cron("30 1 * * *", tz="Europe/London")
    first = job.next_run_at(now)
    assert first.astimezone(ZoneInfo("Europe/London")).isoformat() == "2026-03-29T02:00:00+01:00"
    assert job.next_run_at(first) == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)


def test_cron_fall_back_repeat_runs_a_daily_job_once() -> None:
    # London repeats 01:00-02:00 on 2026-10-25; a daily 01:30 job still runs once that day.
    job = cron("30 1 * * *", tz="Europe/London")
    first = job.next_run_at(datetime(2026, 10, 24, 22, 0, tzinfo=UTC))
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 01:30 BST
    assert job.next_run_at(first) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # 01:30 GMT


def test_cron_hourly_job_runs_in_both_repeated_hours() -> None:
    job = cron("0 * * * *", tz="Europe/London")
    times = [datetime(2026, 10, 24, 23, 30, tzinfo=UTC)]
    for _ in range(3):
        times.append(job.next_run_at(times[-1]))
    assert [t.hour for t in times[1:]] == [0, 1, 2]  # 01:00 BST, 01:00 GMT, 02:00 GMT


@pytest.mark.parametrize("expression", ["", "* * * *", "61 * * * *", "* * * * * * *", "a b c d e"])
def test_invalid_cron_expressions_are_refused(expression: str) -> None:
    with pytest.raises(JobDefinitionError, match="cron"):
        cron(expression)


def test_unknown_zone_is_refused() -> None:
    with pytest.raises(JobDefinitionError, match="time zone"):
        cron("0 * * * *", tz="Mars/Olympus")


def test_every_refuses_bad_durations() -> None:
    with pytest.raises(JobDefinitionError):
        every(30)  # type: ignore[arg-type]
