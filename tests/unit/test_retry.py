from datetime import UTC, datetime, timedelta

import pytest

from durable_jobs import Backoff, JobDefinitionError, RetryConfig
from durable_jobs.retry import RetryPlan

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_constant_backoff() -> None:
    backoff = Backoff.constant("10 seconds")
    assert [backoff.delay_ms(n) for n in (1, 2, 5)] == [10_000, 10_000, 10_000]


def test_linear_backoff_with_cap() -> None:
    backoff = Backoff.linear("1 second", "2 seconds", max="4 seconds")
    assert [backoff.delay_ms(n) for n in (1, 2, 3, 4)] == [1_000, 3_000, 4_000, 4_000]


def test_exponential_backoff_with_cap() -> None:
    backoff = Backoff.exponential("1 second", factor=2, max="30 seconds")
    assert [backoff.delay_ms(n) for n in (1, 2, 3, 4, 5, 6, 50)] == [
        1_000,
        2_000,
        4_000,
        8_000,
        16_000,
        30_000,
        30_000,
    ]


def test_exponential_without_cap_does_not_overflow() -> None:
    assert Backoff.exponential("1 second").delay_ms(10_000) > 0


def test_default_delay_is_exponential_1s_factor_2_max_30s() -> None:
    assert RetryConfig(max_attempts=3).backoff == Backoff.exponential("1 second", 2, "30 seconds")


def test_jitter_is_uniform_plus_minus_ten_percent() -> None:
    plan = RetryPlan.of(RetryConfig(max_attempts=3, delay=Backoff.constant("10 seconds")))
    assert plan.delay_after(1, 0.0) == timedelta(seconds=9)
    assert plan.delay_after(1, 0.5) == timedelta(seconds=10)
    assert plan.delay_after(1, 0.999999) == timedelta(seconds=11)


def test_no_jitter_is_exact() -> None:
    plan = RetryPlan.of(RetryConfig(3, Backoff.constant("10 seconds"), jitter=False))
    assert plan.delay_after(1, 0.0) == plan.delay_after(1, 0.9) == timedelta(seconds=10)


def test_max_attempts_counts_the_first_attempt() -> None:
    plan = RetryPlan.of(RetryConfig(3, Backoff.constant("10 seconds"), jitter=False))
    args = {"first_attempt_at": T0, "now": T0, "random_unit": 0.5}
    assert plan.next_attempt_at(failed_attempt=1, **args) == T0 + timedelta(seconds=10)
    assert plan.next_attempt_at(failed_attempt=2, **args) == T0 + timedelta(seconds=10)
    assert plan.next_attempt_at(failed_attempt=3, **args) is None


def test_without_retry_config_there_is_one_attempt() -> None:
    plan = RetryPlan.of(None)
    assert (
        plan.next_attempt_at(failed_attempt=1, first_attempt_at=T0, now=T0, random_unit=0) is None
    )


def test_max_duration_stops_retries_that_would_start_too_late() -> None:
    plan = RetryPlan.of(
        RetryConfig(10, Backoff.constant("10 seconds"), jitter=False, max_duration="25 seconds")
    )
    at = {"first_attempt_at": T0, "random_unit": 0.0}
    assert plan.next_attempt_at(failed_attempt=2, now=T0 + timedelta(seconds=10), **at) is not None
    assert plan.next_attempt_at(failed_attempt=3, now=T0 + timedelta(seconds=20), **at) is None


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_max_attempts_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(JobDefinitionError, match="max_attempts"):
        RetryConfig(max_attempts=bad)  # type: ignore[arg-type]


def test_delay_must_be_a_backoff() -> None:
    with pytest.raises(JobDefinitionError, match="Backoff"):
        RetryConfig(max_attempts=2, delay="10 seconds")  # type: ignore[arg-type]


@pytest.mark.parametrize("factor", [0.5, float("nan"), float("inf")])
def test_exponential_factor_must_be_at_least_one(factor: float) -> None:
    with pytest.raises(JobDefinitionError, match="factor"):
        Backoff.exponential("1 second", factor=factor)
