"""What ``schedule=`` accepts, and the data interval of a manually triggered run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tradewind.exceptions import DagDefinitionError
from tradewind.sdk import DAG
from tradewind.timetables import (
    CRON_PRESETS,
    ContinuousTimetable,
    CronDataIntervalTimetable,
    CronTriggerTimetable,
    DataInterval,
    DeltaDataIntervalTimetable,
    DeltaTriggerTimetable,
    NullTimetable,
    OnceTimetable,
    Timetable,
    timetable_from_schedule,
)

PARIS = ZoneInfo("Europe/Paris")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# -- schedule -> timetable ----------------------------------------------------------------


def test_no_schedule_means_only_manual_runs() -> None:
    tt = timetable_from_schedule(None)
    assert isinstance(tt, NullTimetable)
    assert tt.can_be_scheduled is False
    assert tt.summary == "None"


def test_once_and_continuous_presets() -> None:
    once = timetable_from_schedule("@once")
    continuous = timetable_from_schedule("@continuous")
    assert isinstance(once, OnceTimetable) and once.summary == "@once"
    assert isinstance(continuous, ContinuousTimetable) and continuous.summary == "@continuous"
    assert continuous.active_runs_limit == 1
    assert once.can_be_scheduled and continuous.can_be_scheduled


def test_a_cron_expression_makes_a_cron_trigger_timetable() -> None:
    tt = timetable_from_schedule("30 2 * * 1-5")
    assert isinstance(tt, CronTriggerTimetable)
    assert tt.summary == "30 2 * * 1-5"
    assert tt.can_be_scheduled


@pytest.mark.parametrize("preset", sorted(CRON_PRESETS))
def test_cron_presets_become_their_expressions(preset: str) -> None:
    tt = timetable_from_schedule(preset)
    assert isinstance(tt, CronTriggerTimetable)
    assert tt.expression == CRON_PRESETS[preset]


def test_the_presets_mean_what_airflow_says() -> None:
    assert CRON_PRESETS == {
        "@hourly": "0 * * * *",
        "@daily": "0 0 * * *",
        "@weekly": "0 0 * * 0",
        "@monthly": "0 0 1 * *",
        "@quarterly": "0 0 1 */3 *",
        "@yearly": "0 0 1 1 *",
        "@annually": "0 0 1 1 *",
    }


def test_a_timedelta_makes_a_delta_trigger_timetable_as_in_airflow_3() -> None:
    tt = timetable_from_schedule(timedelta(hours=6))
    assert isinstance(tt, DeltaTriggerTimetable)
    assert tt.delta == timedelta(hours=6)
    assert tt.summary == "6:00:00"


def test_create_cron_data_intervals_gives_airflow_2_meanings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADEWIND__SCHEDULER__CREATE_CRON_DATA_INTERVALS", "true")
    assert isinstance(timetable_from_schedule("@daily"), CronDataIntervalTimetable)
    assert isinstance(timetable_from_schedule(timedelta(days=1)), DeltaDataIntervalTimetable)
    monkeypatch.setenv("TRADEWIND__SCHEDULER__CREATE_CRON_DATA_INTERVALS", "False")
    assert isinstance(timetable_from_schedule("@daily"), CronTriggerTimetable)


@pytest.mark.parametrize("delta", [timedelta(0), timedelta(seconds=-1)])
def test_a_timedelta_must_be_positive(delta: timedelta) -> None:
    with pytest.raises(DagDefinitionError, match="must be positive"):
        timetable_from_schedule(delta)


def test_a_timetable_instance_is_used_as_is() -> None:
    tt = CronDataIntervalTimetable("0 0 * * *")
    assert timetable_from_schedule(tt) is tt


def test_a_cron_timetable_can_be_made_from_a_preset_directly() -> None:
    assert CronTriggerTimetable("@hourly").expression == "0 * * * *"
    with pytest.raises(DagDefinitionError, match="invalid cron expression '@once'"):
        CronTriggerTimetable("@once")


def test_an_unknown_time_zone_is_rejected() -> None:
    with pytest.raises(DagDefinitionError, match="unknown time zone 'Mars/Olympus'"):
        CronTriggerTimetable("0 0 * * *", timezone="Mars/Olympus")


def test_the_dags_schedule_picks_its_timetable() -> None:
    assert isinstance(DAG("tt_none").timetable, NullTimetable)
    assert isinstance(DAG("tt_cron", schedule="@daily").timetable, CronTriggerTimetable)
    assert isinstance(DAG("tt_delta", schedule=timedelta(days=1)).timetable, DeltaTriggerTimetable)


def test_a_cron_schedule_runs_in_the_start_dates_time_zone() -> None:
    d = DAG("tt_tz", schedule="0 9 * * *", start_date=datetime(2024, 1, 1, tzinfo=PARIS))
    assert isinstance(d.timetable, CronTriggerTimetable)
    assert d.timetable.timezone is PARIS
    assert DAG("tt_utc", schedule="0 9 * * *").timetable.timezone is UTC  # type: ignore[attr-defined]


# -- manual data intervals ----------------------------------------------------------------


@pytest.mark.parametrize(
    "tt",
    [NullTimetable(), OnceTimetable(), ContinuousTimetable(), CronTriggerTimetable("@daily")],
)
def test_a_manual_run_covers_the_instant_it_runs_after(tt: Timetable) -> None:
    at = utc(2024, 3, 5, 14, 7)
    assert tt.infer_manual_data_interval(at) == DataInterval(at, at)


def test_a_delta_manual_run_covers_the_delta_before_it() -> None:
    tt = DeltaDataIntervalTimetable(timedelta(hours=1))
    at = utc(2024, 1, 2, 5, 30)
    assert tt.infer_manual_data_interval(at) == DataInterval(utc(2024, 1, 2, 4, 30), at)


def test_a_cron_data_interval_manual_run_covers_the_last_complete_period() -> None:
    tt = CronDataIntervalTimetable("0 0 * * *")
    interval = tt.infer_manual_data_interval(utc(2024, 1, 2, 5))
    assert interval == DataInterval(utc(2024, 1, 1), utc(2024, 1, 2))


def test_a_cron_data_interval_run_exactly_on_a_cron_time_ends_there() -> None:
    tt = CronDataIntervalTimetable("0 0 * * *")
    interval = tt.infer_manual_data_interval(utc(2024, 1, 2))
    assert interval == DataInterval(utc(2024, 1, 1), utc(2024, 1, 2))


def test_a_cron_data_interval_is_in_utc() -> None:
    tt = CronDataIntervalTimetable("0 0 * * *")
    interval = tt.infer_manual_data_interval(utc(2024, 1, 2, 5))
    assert interval.start.utcoffset() == timedelta(0)
    assert interval.end.tzinfo is UTC
    assert interval.start.fold == 0 and interval.end.fold == 0


def test_a_cron_data_interval_follows_its_time_zone() -> None:
    tt = CronDataIntervalTimetable("0 0 * * *", timezone="Europe/Paris")
    interval = tt.infer_manual_data_interval(utc(2024, 1, 2, 5))
    # Paris midnight is 23:00 UTC in winter.
    assert interval == DataInterval(utc(2023, 12, 31, 23), utc(2024, 1, 1, 23))


def test_a_cron_data_interval_reads_naive_times_as_utc() -> None:
    tt = CronDataIntervalTimetable("0 * * * *")
    interval = tt.infer_manual_data_interval(datetime(2024, 1, 1, 10, 30))
    assert interval == DataInterval(utc(2024, 1, 1, 9), utc(2024, 1, 1, 10))


def test_timetables_serialize_their_type_summary_description_and_args() -> None:
    assert CronTriggerTimetable("@daily").serialize() == {
        "type": "CronTriggerTimetable",
        "summary": "0 0 * * *",
        "description": "At 00:00",
        "args": {
            "expression": "0 0 * * *",
            "timezone": "UTC",
            "interval": 0.0,
            "run_immediately": False,
        },
    }
    assert repr(NullTimetable()) == "NullTimetable('None')"
