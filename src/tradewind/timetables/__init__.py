"""Schedules: what ``DAG(schedule=...)`` accepts, turned into a :class:`Timetable`.

``None``, a cron expression or preset (``@daily``...), ``@once``, ``@continuous``, a
``timedelta``/``relativedelta``, or a Timetable instance. As in Airflow 3, a cron schedule
fires *at* each cron time and its data interval is that instant (``CronTriggerTimetable``),
and a timedelta fires every delta (``DeltaTriggerTimetable``); with
``scheduler.create_cron_data_intervals = true`` both get Airflow 2's meaning instead
(:class:`CronDataIntervalTimetable`, :class:`DeltaDataIntervalTimetable`).

The scheduler asks :meth:`Timetable.next_dagrun_info` for the next run, names it with
:func:`generate_run_id`, and rebuilds timetables from serialized DAGs with
:func:`timetable_from_dict`; backfills use :func:`iter_backfill_runs`.
"""

from __future__ import annotations

from datetime import timedelta, tzinfo
from typing import Any

from dateutil.relativedelta import relativedelta

from tradewind.exceptions import DagDefinitionError
from tradewind.timetables.backfill import BackfillError, check_backfill, iter_backfill_runs
from tradewind.timetables.base import DataInterval, NextRun, TimeRestriction, Timetable
from tradewind.timetables.cron import CRON_PRESETS
from tradewind.timetables.events import EventsTimetable
from tradewind.timetables.interval import CronDataIntervalTimetable, DeltaDataIntervalTimetable
from tradewind.timetables.run_id import RUN_TYPES, generate_run_id, run_type_of
from tradewind.timetables.simple import ContinuousTimetable, NullTimetable, OnceTimetable
from tradewind.timetables.trigger import (
    CronTriggerTimetable,
    DeltaTriggerTimetable,
    MultipleCronTriggerTimetable,
)

__all__ = [
    "CRON_PRESETS",
    "RUN_TYPES",
    "BackfillError",
    "ContinuousTimetable",
    "CronDataIntervalTimetable",
    "CronTriggerTimetable",
    "DataInterval",
    "DeltaDataIntervalTimetable",
    "DeltaTriggerTimetable",
    "EventsTimetable",
    "MultipleCronTriggerTimetable",
    "NextRun",
    "NullTimetable",
    "OnceTimetable",
    "TimeRestriction",
    "Timetable",
    "check_backfill",
    "generate_run_id",
    "iter_backfill_runs",
    "run_type_of",
    "timetable_from_dict",
    "timetable_from_schedule",
]

#: The timetables :func:`timetable_from_dict` can rebuild, by serialized ``type``.
TIMETABLE_TYPES: dict[str, type[Timetable]] = {
    cls.__name__: cls
    for cls in (
        NullTimetable,
        OnceTimetable,
        ContinuousTimetable,
        CronTriggerTimetable,
        CronDataIntervalTimetable,
        DeltaTriggerTimetable,
        DeltaDataIntervalTimetable,
        MultipleCronTriggerTimetable,
        EventsTimetable,
    )
}


def _setting_is_true(section: str, key: str) -> bool:
    from tradewind import config

    value = config.get(section, key, False)
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "t", "yes", "y", "on"}
    return bool(value)


def timetable_from_schedule(schedule: Any, timezone: str | tzinfo | None = None) -> Timetable:
    """Turn a ``schedule`` argument into a timetable, or raise a precise error.

    ``timezone`` is the zone cron expressions are read in (the DAG's start date's); ``None``
    means ``core.default_timezone`` (read now).

    >>> timetable_from_schedule("@daily")
    CronTriggerTimetable('0 0 * * *')
    >>> timetable_from_schedule(timedelta(hours=1))
    DeltaTriggerTimetable('1:00:00')
    """
    if schedule is None:
        return NullTimetable()
    if isinstance(schedule, Timetable):
        return schedule
    if isinstance(schedule, timedelta | relativedelta):
        if isinstance(schedule, timedelta) and schedule <= timedelta(0):
            raise DagDefinitionError(f"schedule timedelta must be positive, got {schedule}")
        if _setting_is_true("scheduler", "create_cron_data_intervals"):
            return DeltaDataIntervalTimetable(schedule)
        return DeltaTriggerTimetable(schedule)
    if isinstance(schedule, str):
        if schedule == "@once":
            return OnceTimetable()
        if schedule == "@continuous":
            return ContinuousTimetable()
        expression = CRON_PRESETS.get(schedule.strip(), schedule)
        if expression.strip().startswith("@"):
            raise DagDefinitionError(
                f"unknown schedule preset {schedule!r}; use one of "
                f"{', '.join(['@once', '@continuous', *CRON_PRESETS])}"
            )
        if _setting_is_true("scheduler", "create_cron_data_intervals"):
            return CronDataIntervalTimetable(expression, timezone=timezone)
        return CronTriggerTimetable(expression, timezone=timezone)
    raise DagDefinitionError(
        f"schedule must be None, a cron string, a preset, a timedelta or a Timetable; "
        f"got {type(schedule).__name__}"
    )


def timetable_from_dict(data: dict[str, Any]) -> Timetable:
    """The timetable :meth:`Timetable.serialize` described (``type`` and ``args``).

    >>> tt = CronTriggerTimetable("0 2 * * *", timezone="Europe/Berlin")
    >>> timetable_from_dict(tt.serialize()) == tt
    True
    """
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise DagDefinitionError(f"not a serialized timetable: {data!r}")
    cls = TIMETABLE_TYPES.get(data["type"])
    if cls is None:
        raise DagDefinitionError(
            f"unknown timetable type {data['type']!r}; known: {', '.join(sorted(TIMETABLE_TYPES))}"
        )
    args = data.get("args", {})
    if not isinstance(args, dict):
        raise DagDefinitionError(f"timetable args must be an object, got {args!r}")
    try:
        return cls.from_args(args)
    except KeyError as err:
        raise DagDefinitionError(f"serialized {data['type']} lacks {err}") from None
    except (TypeError, AttributeError) as err:
        raise DagDefinitionError(f"serialized {data['type']} is malformed: {err}") from None
