"""How timetables schedule runs, case by case, in words (values checked on Airflow 3.3.2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta

from tradewind.sdk import DAG
from tradewind.timetables import (
    ContinuousTimetable,
    CronDataIntervalTimetable,
    CronTriggerTimetable,
    DataInterval,
    DeltaDataIntervalTimetable,
    DeltaTriggerTimetable,
    EventsTimetable,
    MultipleCronTriggerTimetable,
    NextRun,
    NullTimetable,
    OnceTimetable,
    TimeRestriction,
    Timetable,
    timetable_from_schedule,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2024, 6, 15, 12, 2, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def runs(
    tt: Timetable,
    earliest: datetime | None,
    latest: datetime | None = None,
    *,
    catchup: bool = True,
    now: datetime = NOW,
    count: int = 3,
) -> list[NextRun | None]:
    """The first ``count`` runs, each asked for after the one before was made."""
    restriction = TimeRestriction(earliest, latest, catchup)
    made: list[NextRun | None] = []
    last = None
    for _ in range(count):
        run = tt.next_dagrun_info(
            last_automated_data_interval=last, restriction=restriction, now=now
        )
        made.append(run)
        if run is None:
            break
        last = run.data_interval
    return made


def fire_times(tt: Timetable, earliest: datetime, count: int = 3) -> list[datetime]:
    return [run.run_after for run in runs(tt, earliest, count=count) if run]


# -- catchup, start and end dates ---------------------------------------------------------


def test_a_data_interval_run_covers_a_whole_period_and_starts_at_its_end() -> None:
    first = runs(CronDataIntervalTimetable("@daily", timezone="UTC"), utc(2024, 1, 1))[0]
    assert first == NextRun(
        logical_date=utc(2024, 1, 1),
        data_interval=DataInterval(utc(2024, 1, 1), utc(2024, 1, 2)),
        run_after=utc(2024, 1, 2),
    )


def test_a_trigger_run_fires_at_the_cron_time_about_that_instant() -> None:
    first = runs(CronTriggerTimetable("@daily", timezone="UTC"), utc(2024, 1, 1))[0]
    assert first == NextRun.exact(utc(2024, 1, 1))


def test_catchup_makes_every_missed_run_in_order() -> None:
    tt = CronTriggerTimetable("0 6 * * *", timezone="UTC")
    assert fire_times(tt, utc(2024, 1, 1)) == [
        utc(2024, 1, 1, 6),
        utc(2024, 1, 2, 6),
        utc(2024, 1, 3, 6),
    ]


def test_without_catchup_only_the_latest_due_interval_runs() -> None:
    interval = runs(
        CronDataIntervalTimetable("@daily", timezone="UTC"), utc(2024, 1, 1), catchup=False
    )
    assert interval[0] is not None
    assert interval[0].data_interval == DataInterval(utc(2024, 6, 14), utc(2024, 6, 15))
    trigger = runs(CronTriggerTimetable("@daily", timezone="UTC"), utc(2024, 1, 1), catchup=False)
    assert trigger[0] == NextRun.exact(utc(2024, 6, 15))


def test_a_start_date_between_cron_times_waits_for_the_next_one() -> None:
    start = utc(2024, 1, 1, 5)
    assert runs(CronDataIntervalTimetable("@daily", timezone="UTC"), start)[0] == NextRun.interval(
        utc(2024, 1, 2), utc(2024, 1, 3)
    )
    assert runs(CronTriggerTimetable("@daily", timezone="UTC"), start)[0] == NextRun.exact(
        utc(2024, 1, 2)
    )


def test_no_run_starts_after_the_end_date() -> None:
    made = runs(
        CronTriggerTimetable("@daily", timezone="UTC"), utc(2024, 1, 1), utc(2024, 1, 2), count=4
    )
    assert [run.run_after if run else None for run in made] == [
        utc(2024, 1, 1),
        utc(2024, 1, 2),
        None,
    ]
    # A data-interval run needs only its *start* within the end date.
    made = runs(
        CronDataIntervalTimetable("@daily", timezone="UTC"), utc(2024, 1, 1), utc(2024, 1, 1, 12)
    )
    assert made == [NextRun.interval(utc(2024, 1, 1), utc(2024, 1, 2)), None]


def test_a_future_start_date_is_waited_for_even_without_catchup() -> None:
    made = runs(CronTriggerTimetable("@daily", timezone="UTC"), utc(2030, 1, 1), catchup=False)
    assert made[0] == NextRun.exact(utc(2030, 1, 1))


def test_a_schedule_without_start_date_and_with_catchup_waits_for_one() -> None:
    assert runs(CronDataIntervalTimetable("@daily", timezone="UTC"), None) == [None]


# -- time zones and DST -------------------------------------------------------------------


def test_a_cron_fires_at_local_time_across_the_spring_forward_day() -> None:
    tt = CronTriggerTimetable("0 2 * * *", timezone="Europe/Berlin")
    assert fire_times(tt, utc(2024, 3, 30)) == [
        utc(2024, 3, 30, 1),  # 02:00 CET
        utc(2024, 3, 31, 1),  # 02:00 does not exist: 03:00 CEST
        utc(2024, 4, 1, 0),  # 02:00 CEST
    ]


def test_a_cron_fires_once_on_the_fall_back_day_at_the_second_occurrence() -> None:
    tt = CronTriggerTimetable("0 2 * * *", timezone="Europe/Berlin")
    assert fire_times(tt, utc(2024, 10, 26)) == [
        utc(2024, 10, 26, 0),  # 02:00 CEST
        utc(2024, 10, 27, 1),  # 02:00 happens twice: the second, CET
        utc(2024, 10, 28, 1),  # 02:00 CET
    ]


def test_a_data_interval_spans_the_short_and_the_long_day() -> None:
    tt = CronDataIntervalTimetable("0 0 * * *", timezone="Europe/Berlin")
    spring = runs(tt, datetime(2024, 3, 31, tzinfo=BERLIN), count=1)[0]
    fall = runs(tt, datetime(2024, 10, 27, tzinfo=BERLIN), count=1)[0]
    assert spring is not None and fall is not None
    assert spring.data_interval.end - spring.data_interval.start == timedelta(hours=23)
    assert fall.data_interval.end - fall.data_interval.start == timedelta(hours=25)


def test_an_hourly_cron_runs_in_both_copies_of_the_repeated_hour() -> None:
    tt = CronTriggerTimetable("30 * * * *", timezone="Europe/Berlin")
    assert fire_times(tt, utc(2024, 10, 26, 23, 10), count=4) == [
        utc(2024, 10, 26, 23, 30),  # 01:30 CEST
        utc(2024, 10, 27, 0, 30),  # 02:30 CEST
        utc(2024, 10, 27, 1, 30),  # 02:30 CET
        utc(2024, 10, 27, 2, 30),  # 03:30 CET
    ]


def test_a_fixed_offset_zone_has_no_dst() -> None:
    tt = CronTriggerTimetable("0 12 * * *", timezone=7200)
    assert fire_times(tt, utc(2024, 10, 26), count=2) == [
        utc(2024, 10, 26, 10),
        utc(2024, 10, 27, 10),
    ]


def test_crons_default_to_the_configured_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND__CORE__DEFAULT_TIMEZONE", "Europe/Berlin")
    tt = timetable_from_schedule("0 2 * * *")
    assert isinstance(tt, CronTriggerTimetable)
    assert tt.timezone == BERLIN
    assert tt.serialize()["args"]["timezone"] == "Europe/Berlin"
    assert isinstance(DAG("tt_default_tz", schedule="0 2 * * *").timetable, CronTriggerTimetable)
    assert DAG("tt_default_tz", schedule="0 2 * * *").timetable.timezone == BERLIN  # type: ignore[attr-defined]
    # The start date's zone wins.
    paris = ZoneInfo("Europe/Paris")
    dag = DAG("tt_paris", schedule="0 2 * * *", start_date=datetime(2024, 1, 1, tzinfo=paris))
    assert dag.timetable.timezone is paris  # type: ignore[attr-defined]
    monkeypatch.setenv("TRADEWIND__CORE__DEFAULT_TIMEZONE", "utc")
    assert CronTriggerTimetable("0 2 * * *").timezone is UTC


def test_system_default_time_zone_comes_from_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND__CORE__DEFAULT_TIMEZONE", "system")
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert CronTriggerTimetable("0 2 * * *").timezone == ZoneInfo("Asia/Tokyo")


# -- @once, @continuous, None, timedelta ----------------------------------------------------


def test_once_runs_at_the_start_date_then_never() -> None:
    assert runs(OnceTimetable(), utc(2024, 1, 1), catchup=False) == [
        NextRun.exact(utc(2024, 1, 1)),
        None,
    ]
    assert runs(OnceTimetable(), None) == [NextRun.exact(NOW), None]
    assert runs(OnceTimetable(), utc(2024, 1, 2), utc(2024, 1, 1)) == [None]


def test_continuous_covers_the_time_since_the_last_run() -> None:
    made = runs(ContinuousTimetable(), utc(2024, 6, 1), count=2)
    assert made == [NextRun.interval(utc(2024, 6, 1), NOW), NextRun.interval(NOW, NOW)]


def test_no_schedule_never_runs_by_itself() -> None:
    assert runs(NullTimetable(), utc(2024, 1, 1)) == [None]


def test_a_timedelta_fires_every_delta_from_the_start_date() -> None:
    tt = DeltaTriggerTimetable(timedelta(hours=12))
    assert fire_times(tt, utc(2024, 1, 1)) == [
        utc(2024, 1, 1),
        utc(2024, 1, 1, 12),
        utc(2024, 1, 2),
    ]


def test_a_delta_data_interval_covers_the_delta_before_its_run() -> None:
    tt = DeltaDataIntervalTimetable(timedelta(hours=6))
    assert runs(tt, utc(2024, 1, 1), count=1) == [
        NextRun.interval(utc(2024, 1, 1), utc(2024, 1, 1, 6))
    ]
    # Without catchup the periods lie on a grid from the epoch: the latest one that is over.
    no_catchup = runs(tt, utc(2024, 1, 1), catchup=False, count=1)
    assert no_catchup == [NextRun.interval(utc(2024, 6, 15, 6), utc(2024, 6, 15, 12))]


def test_a_monthly_relativedelta_steps_the_calendar() -> None:
    tt = DeltaTriggerTimetable(relativedelta(months=1))
    assert fire_times(tt, utc(2024, 1, 31)) == [
        utc(2024, 1, 31),
        utc(2024, 2, 29),
        utc(2024, 3, 29),
    ]


# -- cron trigger options -------------------------------------------------------------------


def test_a_trigger_interval_makes_the_data_interval_end_at_the_run() -> None:
    tt = CronTriggerTimetable("0 0 * * *", timezone="UTC", interval=timedelta(days=1))
    first = runs(tt, utc(2024, 1, 2), count=1)[0]
    assert first == NextRun(
        logical_date=utc(2024, 1, 1),
        data_interval=DataInterval(utc(2024, 1, 1), utc(2024, 1, 2)),
        run_after=utc(2024, 1, 2),
    )
    assert tt.infer_manual_data_interval(utc(2024, 1, 5, 3)) == DataInterval(
        utc(2024, 1, 4, 3), utc(2024, 1, 5, 3)
    )


@pytest.mark.parametrize(
    ("run_immediately", "now", "first"),
    [
        (True, utc(2024, 6, 15, 17), utc(2024, 6, 15, 12)),  # always the past cron time
        (False, utc(2024, 6, 15, 12, 30), utc(2024, 6, 15, 12)),  # within 10% of 6 h
        (False, utc(2024, 6, 15, 12, 40), utc(2024, 6, 15, 18)),  # too late: the next
        (timedelta(minutes=1), utc(2024, 6, 15, 12, 2), utc(2024, 6, 15, 18)),
        (timedelta(hours=1), utc(2024, 6, 15, 12, 2), utc(2024, 6, 15, 12)),
    ],
)
def test_run_immediately_picks_the_first_run_without_a_start_date(
    run_immediately: bool | timedelta, now: datetime, first: datetime
) -> None:
    tt = CronTriggerTimetable("0 */6 * * *", timezone="UTC", run_immediately=run_immediately)
    made = runs(tt, None, catchup=True, now=now, count=1)
    assert made == [NextRun.exact(first)]


def test_several_crons_fire_at_each_of_their_times_once() -> None:
    tt = MultipleCronTriggerTimetable("0 1 * * *", "0 1 * * 1", "30 2 * * 1", timezone="UTC")
    assert fire_times(tt, utc(2024, 6, 16), count=4) == [
        utc(2024, 6, 16, 1),
        utc(2024, 6, 17, 1),  # both crons: one run
        utc(2024, 6, 17, 2, 30),
        utc(2024, 6, 18, 1),
    ]


def test_events_fire_at_each_listed_instant() -> None:
    tt = EventsTimetable(
        [utc(2024, 2, 1), utc(2024, 1, 1), utc(2024, 3, 1)], restrict_to_events=True
    )
    assert fire_times(tt, utc(2024, 1, 15), count=3) == [utc(2024, 2, 1), utc(2024, 3, 1)]
    assert tt.infer_manual_data_interval(utc(2024, 2, 10)) == DataInterval.exact(utc(2024, 2, 1))


def test_every_returned_time_is_utc() -> None:
    tt = CronTriggerTimetable("0 2 * * *", timezone="Europe/Berlin")
    run = runs(tt, datetime(2024, 3, 30, 12, tzinfo=BERLIN), count=1)[0]
    assert run is not None
    assert all(t.tzinfo is UTC for t in (run.logical_date, run.run_after, *run.data_interval))


def test_naive_datetimes_are_read_as_utc() -> None:
    tt = CronTriggerTimetable("0 2 * * *", timezone="UTC")
    assert runs(tt, datetime(2024, 1, 1), count=1) == [NextRun.exact(utc(2024, 1, 1, 2))]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval": 5}, "interval must be a timedelta"),
        ({"run_immediately": "yes"}, "run_immediately must be"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
    ],
)
def test_bad_cron_trigger_arguments_are_rejected(kwargs: dict[str, object], message: str) -> None:
    from tradewind.exceptions import DagDefinitionError

    with pytest.raises(DagDefinitionError, match=message):
        CronTriggerTimetable("0 0 * * *", **kwargs)  # type: ignore[arg-type]
