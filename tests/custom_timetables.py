"""A deployment's own timetable classes, as tests register them (``core.timetable_classes``).

:class:`AfterWorkday` is Airflow's documentation example written as an Airflow user writes
it (keyword-only methods, ``DagRunInfo``, ``serialize``/``deserialize``, no ``now``);
:class:`EveryNHours` uses Tradewind's own pair (``serialize_args``/``from_args``, ``now``,
``NextRun``). Both live in a module every process can import, as a real deployment's would.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from tradewind.timetables.base import (
    DagRunInfo,
    DataInterval,
    NextRun,
    TimeRestriction,
    Timetable,
    current_time,
)


def _midnight(day: datetime) -> datetime:
    return datetime.combine(day.date(), time.min, tzinfo=UTC)


class AfterWorkday(Timetable):
    """One run per workday's data, ``hour`` hours after the day ends (weekends skipped)."""

    def __init__(self, hour: int = 0) -> None:
        self.hour = hour

    @property
    def summary(self) -> str:
        return f"after workday +{self.hour}h"

    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        start = _midnight(run_after - timedelta(days=1))
        if start.weekday() in (5, 6):  # skip back over the weekend
            start -= timedelta(days=start.weekday() - 4)
        return DataInterval(start=start, end=start + timedelta(days=1))

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        if last_automated_data_interval is not None:
            last_start = last_automated_data_interval.start
            days = 1 if last_start.weekday() < 4 else 7 - last_start.weekday()
            next_start = _midnight(last_start + timedelta(days=days))
        else:
            if restriction.earliest is None:
                return None
            next_start = restriction.earliest
            if not restriction.catchup:
                next_start = max(next_start, _midnight(datetime.now(UTC)))
            elif next_start.timetz() != time.min.replace(tzinfo=UTC):
                next_start = _midnight(next_start + timedelta(days=1))
            if next_start.weekday() in (5, 6):
                next_start += timedelta(days=7 - next_start.weekday())
        if restriction.latest is not None and next_start > restriction.latest:
            return None
        end = next_start + timedelta(days=1)
        return DagRunInfo(
            run_after=end + timedelta(hours=self.hour),
            data_interval=DataInterval(next_start, end),
        )

    def serialize(self) -> dict[str, Any]:
        return {"hour": self.hour}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> AfterWorkday:
        return cls(hour=int(data["hour"]))


class EveryNHours(Timetable):
    """A run every ``hours`` hours from the start date, each about the hours before it."""

    description = "every few hours"

    def __init__(self, hours: int) -> None:
        if hours <= 0:
            raise ValueError("hours must be positive")
        self.hours = hours
        self.summary = f"every {hours}h"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime | None = None,
    ) -> NextRun | None:
        step = timedelta(hours=self.hours)
        if last_automated_data_interval is not None:
            start = last_automated_data_interval.end
        elif restriction.earliest is not None:
            start = restriction.earliest
        else:
            return None
        if start + step > current_time(now):
            return None
        return NextRun.interval(start, start + step)

    def serialize_args(self) -> dict[str, Any]:
        return {"hours": self.hours}

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> EveryNHours:
        return cls(int(args["hours"]))


class NotATimetable:
    """Listed in the tests' settings by mistake: not a Timetable."""
