"""Schedules: what ``DAG(schedule=...)`` accepts, turned into a :class:`Timetable`.

``None``, a cron expression or preset (``@daily``...), ``@once``, ``@continuous``, a
``timedelta``/``relativedelta``, or a Timetable instance. As in Airflow 3, a cron schedule
fires *at* each cron time and its data interval is that instant (``CronTriggerTimetable``),
and a timedelta fires every delta (``DeltaTriggerTimetable``); with
``scheduler.create_cron_data_intervals = true`` both get Airflow 2's meaning instead
(:class:`CronDataIntervalTimetable`, :class:`DeltaDataIntervalTimetable`).

The scheduler asks :meth:`Timetable.next_dagrun_info` for the next run, names it with
:func:`generate_run_id`, and rebuilds timetables from serialized DAGs with
:func:`timetable_from_dict`; backfills use :func:`iter_backfill_runs`. A deployment's own
timetable classes are serialized by import path and rebuilt only when
``core.timetable_classes`` lists them (:mod:`tradewind.timetables.custom`).
"""

from __future__ import annotations

import json
from datetime import timedelta, tzinfo
from typing import Any

from dateutil.relativedelta import relativedelta

from tradewind.exceptions import DagDefinitionError
from tradewind.timetables.backfill import BackfillError, check_backfill, iter_backfill_runs
from tradewind.timetables.base import (
    DagRunInfo,
    DataInterval,
    NextRun,
    TimeRestriction,
    Timetable,
)
from tradewind.timetables.cron import CRON_PRESETS
from tradewind.timetables.custom import (
    CustomTimetable,
    UnavailableTimetable,
    rebuild_custom,
    serialize_custom,
)
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
    "CustomTimetable",
    "DagRunInfo",
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
    "UnavailableTimetable",
    "as_scheduled",
    "check_backfill",
    "generate_run_id",
    "iter_backfill_runs",
    "run_type_of",
    "serialize_timetable",
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


def serialize_timetable(timetable: Timetable) -> dict[str, Any]:
    """``timetable`` as the serialized DAG holds it: a built-in one as its
    :meth:`~Timetable.serialize` says, a custom one by class path with its own data.

    >>> serialize_timetable(timetable_from_schedule("@once"))["type"]
    'OnceTimetable'
    """
    if TIMETABLE_TYPES.get(type(timetable).__name__) is type(timetable):
        return timetable.serialize()
    if isinstance(timetable, CustomTimetable | UnavailableTimetable):
        return timetable.serialize()  # already read back from a serialized DAG
    return serialize_custom(timetable)


def as_scheduled(timetable: Timetable) -> Timetable:
    """``timetable`` as the scheduler will rebuild it from the serialized DAG.

    A built-in timetable is itself. A custom one goes through serialization and back, so
    what runs locally (``dags test``) behaves as it will when scheduled, and an unregistered
    class is refused here as it would be there
    (:class:`~tradewind.exceptions.TimetableNotRegistered`).

    >>> tt = CronTriggerTimetable("@daily", timezone="UTC")
    >>> as_scheduled(tt) is tt
    True
    """
    if TIMETABLE_TYPES.get(type(timetable).__name__) is type(timetable):
        return timetable
    data = serialize_timetable(timetable)
    try:
        data = json.loads(json.dumps(data, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise DagDefinitionError(f"timetable {data['type']} cannot be serialized: {err}") from None
    return timetable_from_dict(data)


def timetable_from_dict(data: dict[str, Any]) -> Timetable:
    """The timetable :meth:`Timetable.serialize` described (``type`` and ``args``).

    A custom timetable (its ``type`` is a class path) is rebuilt only if its class is listed
    in ``core.timetable_classes``; otherwise this raises
    :class:`~tradewind.exceptions.TimetableNotRegistered`.

    >>> tt = CronTriggerTimetable("0 2 * * *", timezone="Europe/Berlin")
    >>> timetable_from_dict(tt.serialize()) == tt
    True
    """
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise DagDefinitionError(f"not a serialized timetable: {data!r}")
    if "." in data["type"]:
        return rebuild_custom(data)
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
