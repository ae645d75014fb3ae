"""The wait before the next try, by Airflow's formula (pure function)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tradewind.retries import MAX_RETRY_DELAY, retry_delay_for

LOGICAL = datetime(2024, 1, 1, tzinfo=UTC)


def _delay(try_number: int, **overrides: Any) -> float:
    kwargs: dict[str, Any] = {
        "retry_delay": timedelta(seconds=300),
        "exponential_backoff": True,
        "max_retry_delay": None,
        "try_number": try_number,
        "dag_id": "d",
        "task_id": "t",
        "logical_date": LOGICAL,
    }
    kwargs.update(overrides)
    return retry_delay_for(**kwargs).total_seconds()


def test_without_backoff_every_wait_is_retry_delay() -> None:
    assert [_delay(n, exponential_backoff=False) for n in (1, 2, 7)] == [300, 300, 300]


def test_without_backoff_max_retry_delay_is_not_applied() -> None:
    assert _delay(1, exponential_backoff=False, max_retry_delay=timedelta(seconds=10)) == 300


def test_backoff_matches_airflows_figures() -> None:
    assert [_delay(n) for n in (1, 2, 3)] == [521, 817, 1518]


@pytest.mark.parametrize("try_number", range(1, 8))
def test_backoff_wait_lies_between_the_minimum_and_twice_it(try_number: int) -> None:
    minimum = 300 * 2 ** (try_number - 1)
    assert minimum <= _delay(try_number) < 2 * minimum


def test_backoff_is_deterministic_per_task_instance() -> None:
    assert _delay(2) == _delay(2)
    assert _delay(2, task_id="other") != _delay(2)


def test_max_retry_delay_caps_the_backoff() -> None:
    assert _delay(3, max_retry_delay=timedelta(seconds=600)) == 600
    assert _delay(1, max_retry_delay=timedelta(seconds=600)) == 521


def test_backoff_never_exceeds_one_day() -> None:
    assert _delay(40) == MAX_RETRY_DELAY.total_seconds()
    assert _delay(5000) == MAX_RETRY_DELAY.total_seconds()  # overflow is capped, not raised


def test_a_multiplier_of_one_or_less_means_constant_delay() -> None:
    assert _delay(3, exponential_backoff=1.0) == 300
    assert _delay(3, exponential_backoff=-2) == 300


def test_a_zero_retry_delay_with_backoff_waits_at_least_a_second() -> None:
    assert 1 <= _delay(1, retry_delay=timedelta(0)) < 2


def test_run_without_logical_date_still_gets_a_delay() -> None:
    assert 300 <= _delay(1, logical_date=None) < 600


@pytest.mark.parametrize("try_number", [1, 2, 3])
def test_a_float_multiplier_grows_the_minimum_by_that_factor(try_number: int) -> None:
    minimum = 300 * 3 ** (try_number - 1)
    assert minimum <= _delay(try_number, exponential_backoff=3.0) < 2 * minimum
