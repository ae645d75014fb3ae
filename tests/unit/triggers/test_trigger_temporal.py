"""Time triggers: fire at (never before) the moment, payload the UTC moment as in Airflow,
aware datetimes only, one sleep at a time, wall-clock jumps noticed."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from tradewind.triggers import temporal
from tradewind.triggers.base import BaseTrigger, TriggerEvent
from tradewind.triggers.temporal import DateTimeTrigger, TimeDeltaTrigger


async def first_event(trigger: BaseTrigger, timeout: float = 2.0) -> TriggerEvent:
    events: Any = trigger.run()
    try:
        return await asyncio.wait_for(anext(events), timeout)
    finally:
        await events.aclose()


def test_fires_at_the_moment_not_before_with_the_moment_as_payload() -> None:
    moment = datetime.now(UTC) + timedelta(milliseconds=80)
    event = asyncio.run(first_event(DateTimeTrigger(moment)))
    assert datetime.now(UTC) >= moment
    assert event == TriggerEvent(moment)


def test_a_past_moment_fires_at_once() -> None:
    started = time.monotonic()
    asyncio.run(first_event(DateTimeTrigger(datetime(2001, 1, 1, tzinfo=UTC))))
    assert time.monotonic() - started < 0.5


def test_the_moment_is_kept_and_reported_in_utc() -> None:
    local = datetime(2030, 6, 1, 12, tzinfo=timezone(timedelta(hours=-5)))
    trigger = DateTimeTrigger(local)
    assert trigger.moment == local
    assert trigger.moment.tzinfo is UTC
    assert trigger.serialize() == (
        "tradewind.triggers.temporal.DateTimeTrigger",
        {"moment": datetime(2030, 6, 1, 17, tzinfo=UTC), "end_from_trigger": False},
    )


def test_a_naive_moment_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        DateTimeTrigger(datetime(2030, 1, 1))


@pytest.mark.parametrize("moment", [date(2030, 1, 1), "2030-01-01T00:00:00Z", 1_900_000_000])
def test_a_moment_that_is_not_a_datetime_is_refused(moment: Any) -> None:
    with pytest.raises(TypeError, match=r"needs a datetime.datetime moment"):
        DateTimeTrigger(moment)


def test_end_from_trigger_is_kept_for_airflow_compatibility() -> None:
    trigger = DateTimeTrigger(datetime(2030, 1, 1, tzinfo=UTC), end_from_trigger=True)
    assert trigger.serialize()[1]["end_from_trigger"] is True


def test_time_delta_trigger_is_a_date_time_trigger_at_now_plus_delta() -> None:
    before = datetime.now(UTC)
    trigger = TimeDeltaTrigger(timedelta(minutes=5))
    after = datetime.now(UTC)
    assert before + timedelta(minutes=5) <= trigger.moment <= after + timedelta(minutes=5)
    # Stored as the DateTimeTrigger it is, so rebuilding it does not restart the delay.
    assert trigger.serialize()[0] == "tradewind.triggers.temporal.DateTimeTrigger"


def test_time_delta_trigger_fires_after_the_delta() -> None:
    started = time.monotonic()
    asyncio.run(first_event(TimeDeltaTrigger(timedelta(milliseconds=50))))
    assert time.monotonic() - started >= 0.05


def test_time_delta_trigger_needs_a_timedelta() -> None:
    with pytest.raises(TypeError, match=r"needs a datetime.timedelta delta, not int"):
        TimeDeltaTrigger(5)  # type: ignore[arg-type]


def test_waiting_is_one_sleep_to_the_moment_not_a_busy_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await real_sleep(seconds)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    asyncio.run(first_event(TimeDeltaTrigger(timedelta(milliseconds=100))))
    assert 1 <= len(sleeps) <= 2  # a second, tiny one only if the clocks disagree slightly
    assert sleeps[0] == pytest.approx(0.1, abs=0.02)


def test_long_waits_sleep_in_chunks_and_notice_a_wall_clock_jump(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = datetime.now(UTC)
    moment = start + timedelta(hours=1)
    readings = iter([start, moment + timedelta(seconds=1)])  # the clock jumps an hour on

    class JumpingClock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return next(readings)

    sleeps: list[float] = []

    async def no_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    trigger = DateTimeTrigger(moment)
    monkeypatch.setattr(temporal, "datetime", JumpingClock)
    monkeypatch.setattr(asyncio, "sleep", no_sleep)
    event = asyncio.run(first_event(trigger))
    assert sleeps == [temporal.MAX_SLEEP]
    assert event.payload == moment
