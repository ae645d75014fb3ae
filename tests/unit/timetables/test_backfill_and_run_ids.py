"""Backfill ranges and run ids, as Airflow 3.3.2 makes them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tradewind.timetables import (
    RUN_TYPES,
    BackfillError,
    CronDataIntervalTimetable,
    CronTriggerTimetable,
    DeltaTriggerTimetable,
    NextRun,
    NullTimetable,
    OnceTimetable,
    Timetable,
    generate_run_id,
    iter_backfill_runs,
    run_type_of,
)

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def logical_days(runs: list[NextRun]) -> list[int]:
    return [run.logical_date.day for run in runs]


def test_a_backfill_includes_both_ends_when_they_are_cron_times() -> None:
    daily = CronTriggerTimetable("@daily", timezone="UTC")
    runs = iter_backfill_runs(daily, utc(2024, 1, 1), utc(2024, 1, 5), now=NOW)
    assert logical_days(runs) == [1, 2, 3, 4, 5]


def test_a_data_interval_backfill_takes_every_period_starting_in_the_range() -> None:
    daily = CronDataIntervalTimetable("@daily", timezone="UTC")
    runs = iter_backfill_runs(daily, utc(2024, 1, 1), utc(2024, 1, 5), now=NOW)
    assert logical_days(runs) == [1, 2, 3, 4, 5]
    assert runs[-1].data_interval.end == utc(2024, 1, 6)


def test_unaligned_ends_are_rounded_inwards() -> None:
    daily = CronDataIntervalTimetable("@daily", timezone="UTC")
    runs = iter_backfill_runs(daily, utc(2024, 1, 1, 5), utc(2024, 1, 4, 23), now=NOW)
    assert logical_days(runs) == [2, 3, 4]


def test_runs_whose_interval_has_not_ended_are_left_out() -> None:
    daily = CronDataIntervalTimetable("@daily", timezone="UTC")
    runs = iter_backfill_runs(daily, utc(2024, 1, 1), utc(2024, 1, 10), now=utc(2024, 1, 3, 12))
    assert logical_days(runs) == [1, 2]
    # Strictly ended: an interval ending exactly now is not backfilled.
    runs = iter_backfill_runs(daily, utc(2024, 1, 1), utc(2024, 1, 3), now=utc(2024, 1, 3))
    assert logical_days(runs) == [1]


def test_run_backwards_gives_the_newest_first() -> None:
    every_12h = DeltaTriggerTimetable(timedelta(hours=12))
    runs = iter_backfill_runs(every_12h, utc(2024, 1, 1), utc(2024, 1, 2), reverse=True, now=NOW)
    assert [run.run_after for run in runs] == [
        utc(2024, 1, 2),
        utc(2024, 1, 1, 12),
        utc(2024, 1, 1),
    ]


@pytest.mark.parametrize(
    ("timetable", "start", "end", "message"),
    [
        (
            CronTriggerTimetable("@daily", timezone="UTC"),
            utc(2024, 1, 5),
            utc(2024, 1, 1),
            "must not be after",
        ),
        (
            CronTriggerTimetable("@daily", timezone="UTC"),
            utc(2024, 7, 1),
            utc(2024, 7, 5),
            "future dates",
        ),
        (OnceTimetable(), utc(2024, 1, 1), utc(2024, 1, 5), "not periodic"),
        (NullTimetable(), utc(2024, 1, 1), utc(2024, 1, 5), "not periodic"),
    ],
)
def test_impossible_backfills_are_refused(
    timetable: Timetable, start: datetime, end: datetime, message: str
) -> None:
    with pytest.raises(BackfillError, match=message):
        iter_backfill_runs(timetable, start, end, now=NOW)


def test_a_backfill_partly_in_the_future_makes_the_past_part() -> None:
    daily = CronTriggerTimetable("@daily", timezone="UTC")
    runs = iter_backfill_runs(daily, utc(2024, 5, 30), utc(2024, 7, 5), now=NOW)
    assert logical_days(runs) == [30, 31]


# -- run ids --------------------------------------------------------------------------------


def test_run_ids_are_named_after_run_after_not_the_logical_date() -> None:
    assert (
        generate_run_id("scheduled", utc(2024, 1, 1), utc(2024, 1, 2))
        == "scheduled__2024-01-02T00:00:00+00:00"
    )
    assert (
        generate_run_id("backfill", utc(2024, 1, 1), utc(2024, 1, 2))
        == "backfill__2024-01-02T00:00:00+00:00"
    )


def test_a_manual_run_id_keeps_microseconds() -> None:
    run_after = datetime(2026, 11, 24, 6, 13, 23, 662042, tzinfo=UTC)
    assert (
        generate_run_id("manual", run_after, run_after)
        == "manual__2026-11-24T06:13:23.662042+00:00"
    )


def test_a_run_without_logical_date_gets_a_random_suffix() -> None:
    first = generate_run_id("asset_triggered", None, utc(2024, 1, 1))
    second = generate_run_id("asset_triggered", None, utc(2024, 1, 1))
    assert re.fullmatch(r"asset_triggered__2024-01-01T00:00:00\+00:00_[A-Za-z0-9]{8}", first)
    assert first != second


def test_the_timetable_names_triggered_runs_without_a_suffix() -> None:
    tt = CronTriggerTimetable("@daily", timezone="UTC")
    run_id = tt.generate_run_id(run_type="manual", run_after=utc(2024, 1, 1, 5), data_interval=None)
    assert run_id == "manual__2024-01-01T05:00:00+00:00"


def test_run_types_are_airflows_and_str_enums_are_accepted() -> None:
    import enum

    class RunType(str, enum.Enum):  # noqa: UP042 (like Airflow's DagRunType)
        SCHEDULED = "scheduled"

    assert RUN_TYPES == (
        "backfill",
        "scheduled",
        "manual",
        "operator_triggered",
        "asset_triggered",
        "asset_materialization",
    )
    assert generate_run_id(RunType.SCHEDULED, utc(2024, 1, 1), utc(2024, 1, 1)).startswith(
        "scheduled__"
    )
    with pytest.raises(ValueError, match="unknown run type 'nightly'"):
        generate_run_id("nightly", utc(2024, 1, 1), utc(2024, 1, 1))


def test_a_run_ids_type_is_read_from_its_prefix() -> None:
    assert run_type_of("backfill__2024-01-02T00:00:00+00:00") == "backfill"
    assert run_type_of("asset_triggered__2024-01-02T00:00:00+00:00_abcdEFGH") == "asset_triggered"
    assert run_type_of("nightly-load") == "manual"
