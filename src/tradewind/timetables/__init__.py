"""Schedules: what ``DAG(schedule=...)`` accepts, turned into a :class:`Timetable`.

``None``, a cron expression or preset (``@daily``...), ``@once``, ``@continuous``, a
``timedelta``, or a Timetable instance. As in Airflow 3, a cron schedule fires *at* each
cron time and its data interval is that instant (``CronTriggerTimetable``); use
:class:`~tradewind.timetables.cron.CronDataIntervalTimetable` for Airflow 2's meaning.
"""

from __future__ import annotations

from datetime import timedelta, tzinfo
from typing import Any

from tradewind.exceptions import DagDefinitionError
from tradewind.timetables.base import DataInterval, Timetable
from tradewind.timetables.cron import (
    CRON_PRESETS,
    CronDataIntervalTimetable,
    CronTriggerTimetable,
)
from tradewind.timetables.simple import (
    ContinuousTimetable,
    DeltaDataIntervalTimetable,
    NullTimetable,
    OnceTimetable,
)

__all__ = [
    "CRON_PRESETS",
    "ContinuousTimetable",
    "CronDataIntervalTimetable",
    "CronTriggerTimetable",
    "DataInterval",
    "DeltaDataIntervalTimetable",
    "NullTimetable",
    "OnceTimetable",
    "Timetable",
    "timetable_from_schedule",
]


def timetable_from_schedule(schedule: Any, timezone: str | tzinfo | None = None) -> Timetable:
    """Turn a ``schedule`` argument into a timetable, or raise a precise error.

    ``timezone`` is the zone cron expressions are read in (the DAG's start date's; UTC when
    ``None``).

    >>> timetable_from_schedule("@daily")
    CronTriggerTimetable('0 0 * * *')
    """
    if schedule is None:
        return NullTimetable()
    if isinstance(schedule, Timetable):
        return schedule
    if isinstance(schedule, timedelta):
        if schedule <= timedelta(0):
            raise DagDefinitionError(f"schedule timedelta must be positive, got {schedule}")
        return DeltaDataIntervalTimetable(schedule)
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
        return CronTriggerTimetable(expression, timezone=timezone)
    raise DagDefinitionError(
        f"schedule must be None, a cron string, a preset, a timedelta or a Timetable; "
        f"got {type(schedule).__name__}"
    )
