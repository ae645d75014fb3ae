"""Every timetable survives ``serialize()`` -> JSON -> ``timetable_from_dict`` unchanged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import FR, relativedelta

from tradewind.exceptions import DagDefinitionError
from tradewind.timetables import (
    ContinuousTimetable,
    CronDataIntervalTimetable,
    CronTriggerTimetable,
    DeltaDataIntervalTimetable,
    DeltaTriggerTimetable,
    EventsTimetable,
    MultipleCronTriggerTimetable,
    NullTimetable,
    OnceTimetable,
    TimeRestriction,
    Timetable,
    timetable_from_dict,
)

TIMETABLES: list[Timetable] = [
    NullTimetable(),
    OnceTimetable(),
    ContinuousTimetable(),
    CronTriggerTimetable("@daily", timezone="UTC"),
    CronTriggerTimetable("0 2 * * *", timezone="Europe/Berlin", interval=timedelta(hours=1)),
    CronTriggerTimetable("0 2 * * *", timezone=ZoneInfo("Asia/Tokyo"), run_immediately=True),
    CronTriggerTimetable(
        "*/5 * * * *", timezone=timezone(timedelta(hours=-3)), run_immediately=timedelta(minutes=2)
    ),
    CronTriggerTimetable("0 0 1 * *", timezone="UTC", interval=relativedelta(months=1)),
    CronDataIntervalTimetable("30 21 * * 5", timezone="America/New_York"),
    CronDataIntervalTimetable("@hourly", timezone=timezone(timedelta(hours=5, minutes=30))),
    DeltaTriggerTimetable(timedelta(hours=6), interval=timedelta(hours=6)),
    DeltaTriggerTimetable(relativedelta(months=1, weekday=FR(-1))),
    DeltaDataIntervalTimetable(timedelta(days=1)),
    DeltaDataIntervalTimetable(relativedelta(years=1)),
    MultipleCronTriggerTimetable("0 9 * * *", "0 17 * * 1-5", timezone="Europe/Paris"),
    EventsTimetable(
        [
            datetime(2024, 1, 1, tzinfo=UTC),
            datetime(2024, 2, 1, 9, tzinfo=ZoneInfo("Europe/Paris")),
        ],
        restrict_to_events=True,
    ),
    EventsTimetable([datetime(2024, 5, 1, tzinfo=UTC)], description="Launch day"),
]


@pytest.mark.parametrize("tt", TIMETABLES, ids=repr)
def test_a_timetable_round_trips_through_json(tt: Timetable) -> None:
    data = json.loads(json.dumps(tt.serialize()))
    back = timetable_from_dict(data)
    assert back == tt and hash(back) == hash(tt)
    assert type(back) is type(tt)
    assert back.serialize() == tt.serialize()
    assert (back.summary, back.description) == (tt.summary, tt.description)


@pytest.mark.parametrize("tt", TIMETABLES, ids=repr)
def test_a_rebuilt_timetable_schedules_the_same_runs(tt: Timetable) -> None:
    back = timetable_from_dict(json.loads(json.dumps(tt.serialize())))
    now = datetime(2024, 6, 15, 12, 2, tzinfo=UTC)
    restriction = TimeRestriction(datetime(2024, 1, 1, tzinfo=UTC), None, catchup=True)
    for timetable in (tt, back):
        last = None
        seen = []
        for _ in range(3):
            run = timetable.next_dagrun_info(
                last_automated_data_interval=last, restriction=restriction, now=now
            )
            seen.append(run)
            if run is None:
                break
            last = run.data_interval
        if timetable is tt:
            expected = seen
    assert seen == expected


def test_the_time_zone_is_kept_by_name_or_offset() -> None:
    berlin = CronTriggerTimetable("0 2 * * *", timezone="Europe/Berlin").serialize()["args"]
    fixed = CronTriggerTimetable("0 2 * * *", timezone=timezone(timedelta(hours=2)))
    assert berlin["timezone"] == "Europe/Berlin"
    assert fixed.serialize()["args"]["timezone"] == 7200
    assert (
        CronTriggerTimetable("0 2 * * *", timezone=ZoneInfo("UTC")).serialize()["args"]["timezone"]
        == "UTC"
    )


def test_timetables_compare_by_their_arguments() -> None:
    assert CronTriggerTimetable("@daily", timezone="UTC") == CronTriggerTimetable(
        "0 0 * * *", timezone=UTC
    )
    assert CronTriggerTimetable("@daily", timezone="UTC") != CronDataIntervalTimetable(
        "@daily", timezone="UTC"
    )
    assert CronTriggerTimetable("@daily", timezone="UTC") != CronTriggerTimetable(
        "@daily", timezone="Europe/Paris"
    )
    assert len({NullTimetable(), NullTimetable(), OnceTimetable()}) == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "SolarTimetable", "args": {}}, "unknown timetable type 'SolarTimetable'"),
        ({"args": {}}, "not a serialized timetable"),
        ("CronTriggerTimetable", "not a serialized timetable"),
        ({"type": "CronTriggerTimetable", "args": {"timezone": "UTC"}}, "lacks 'expression'"),
        ({"type": "CronTriggerTimetable", "args": []}, "args must be an object"),
        (
            {"type": "CronTriggerTimetable", "args": {"expression": "nope", "timezone": "UTC"}},
            "invalid cron expression",
        ),
    ],
)
def test_a_bad_serialized_timetable_gets_a_clear_error(data: object, message: str) -> None:
    with pytest.raises(DagDefinitionError, match=message):
        timetable_from_dict(data)  # type: ignore[arg-type]


def test_older_serialized_cron_triggers_default_their_options() -> None:
    tt = timetable_from_dict(
        {"type": "CronTriggerTimetable", "args": {"expression": "0 0 * * *", "timezone": "UTC"}}
    )
    assert tt == CronTriggerTimetable("0 0 * * *", timezone="UTC")
