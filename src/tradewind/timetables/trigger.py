"""Trigger timetables (Airflow 3's default): a run fires *at* each schedule time.

The run's ``run_after`` is the schedule time itself. Its data interval ends there and starts
``interval`` before (``interval`` defaults to zero: the interval is the instant), and its
logical date is the interval's start.

With ``catchup=False`` the next run is the latest schedule time already passed (or the next
one), never an older one. With no start date, ``run_immediately`` decides whether the first
run is the most recent past schedule time or the next one.

>>> from datetime import UTC, datetime
>>> tt = CronTriggerTimetable("0 2 * * *", timezone="Europe/Berlin")
>>> run = tt.next_dagrun_info(
...     last_automated_data_interval=None,
...     restriction=TimeRestriction(datetime(2024, 3, 31, tzinfo=UTC), None, catchup=True),
... )
>>> run.run_after.isoformat()  # 02:00 does not exist that day in Berlin: 03:00 CEST
'2024-03-31T01:00:00+00:00'
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, tzinfo
from typing import Any

from tradewind.exceptions import DagDefinitionError
from tradewind.timetables.base import (
    DataInterval,
    NextRun,
    TimeRestriction,
    Timetable,
    current_time,
    utc_interval,
    utc_restriction,
)
from tradewind.timetables.cron import CronSchedule
from tradewind.timetables.delta import (
    Delta,
    DeltaSchedule,
    check_delta,
    decode_delta,
    decode_run_immediately,
    encode_delta,
    encode_run_immediately,
    sub,
)
from tradewind.timetables.zones import encode_zone, to_utc


def _check_run_immediately(value: object) -> bool | timedelta:
    if not isinstance(value, bool | timedelta):
        raise DagDefinitionError(
            f"run_immediately must be True, False or a timedelta, got {value!r}"
        )
    return value


class _TriggerTimetable(Timetable):
    _schedule: CronSchedule | DeltaSchedule
    interval: Delta

    def _calc_first_run(self, now: datetime) -> datetime:
        raise NotImplementedError

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        run_after = to_utc(run_after)
        return DataInterval(sub(run_after, self.interval), run_after)

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime | None = None,
    ) -> NextRun | None:
        schedule = self._schedule
        earliest, latest, catchup = utc_restriction(restriction)
        last = utc_interval(last_automated_data_interval)
        when = current_time(now)
        if catchup:
            if last is not None:
                fire_at = schedule.get_next(last.end)
            elif earliest is None:
                fire_at = self._calc_first_run(when)
            else:
                fire_at = schedule.align_to_next(earliest)
        else:
            candidates = [schedule.align_to_prev(when)]
            if last is not None:
                candidates.append(schedule.get_next(last.end))
            elif earliest is None:  # run_immediately only matters without a start date
                candidates.append(self._calc_first_run(when))
            if earliest is not None:
                candidates.append(schedule.align_to_next(earliest))
            fire_at = max(candidates)
        if latest is not None and latest < fire_at:
            return None
        return NextRun.interval(sub(fire_at, self.interval), fire_at)


class CronTriggerTimetable(_TriggerTimetable):
    """Fires at each cron time, read in ``timezone`` (default: ``core.default_timezone``).

    ``run_immediately`` (used only when the DAG has no start date and no runs yet): ``True``
    runs the most recent past cron time; a ``timedelta`` runs it if it is at most that long
    ago; ``False`` (the default) runs it if it is within 10% of the gap between cron times
    (at least five minutes), as Airflow does; otherwise the first run is the next cron time.

    >>> tt = CronTriggerTimetable("30 21 * * 5", timezone="UTC", interval=timedelta(hours=1))
    >>> tt.summary, tt.interval
    ('30 21 * * 5', datetime.timedelta(seconds=3600))
    """

    def __init__(
        self,
        cron: str,
        *,
        timezone: str | int | tzinfo | None = None,
        interval: Delta = timedelta(),
        run_immediately: bool | timedelta = False,
    ) -> None:
        self._schedule = CronSchedule(cron, timezone)
        self.expression = self._schedule.expression
        self.timezone = self._schedule.timezone
        self.interval = check_delta(interval, "interval")
        self.run_immediately = _check_run_immediately(run_immediately)
        self.summary = self.expression
        self.description = self._schedule.description

    def _calc_first_run(self, now: datetime) -> datetime:
        past = self._schedule.align_to_prev(now)
        if self.run_immediately is True:
            return past
        upcoming = self._schedule.align_to_next(now)
        if isinstance(self.run_immediately, timedelta):
            buffer = self.run_immediately
        else:
            buffer = max((upcoming - past) / 10, timedelta(minutes=5))
        return past if now - past <= buffer else upcoming

    def serialize_args(self) -> dict[str, Any]:
        return {
            "expression": self.expression,
            "timezone": encode_zone(self.timezone),
            "interval": encode_delta(self.interval),
            "run_immediately": encode_run_immediately(self.run_immediately),
        }

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> Timetable:
        return cls(
            args["expression"],
            timezone=args["timezone"],
            interval=decode_delta(args.get("interval", 0.0)),
            run_immediately=decode_run_immediately(args.get("run_immediately", False)),
        )


class DeltaTriggerTimetable(_TriggerTimetable):
    """Fires every ``delta`` (what ``schedule=timedelta(...)`` means in Airflow 3).

    Without a start date the first run is now; the data interval is ``interval`` long
    (default zero) and ends at the run time.

    >>> DeltaTriggerTimetable(timedelta(days=1)).summary
    '1 day, 0:00:00'
    """

    def __init__(self, delta: Delta, *, interval: Delta = timedelta()) -> None:
        self._schedule = DeltaSchedule(delta)
        self.delta = self._schedule.delta
        self.interval = check_delta(interval, "interval")
        self.summary = str(self.delta)

    def _calc_first_run(self, now: datetime) -> datetime:
        return now

    def serialize_args(self) -> dict[str, Any]:
        return {"delta": encode_delta(self.delta), "interval": encode_delta(self.interval)}

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> Timetable:
        return cls(decode_delta(args["delta"]), interval=decode_delta(args.get("interval", 0.0)))


class MultipleCronTriggerTimetable(Timetable):
    """Fires whenever any of several crons does; one run per instant at most.

    >>> tt = MultipleCronTriggerTimetable("0 1 * * *", "30 2 * * 1", timezone="UTC")
    >>> tt.summary
    '0 1 * * *, 30 2 * * 1'
    """

    def __init__(
        self,
        *crons: str,
        timezone: str | int | tzinfo | None = None,
        interval: Delta = timedelta(),
        run_immediately: bool | timedelta = False,
    ) -> None:
        if not crons:
            raise DagDefinitionError("MultipleCronTriggerTimetable needs a cron expression")
        self.timetables = [
            CronTriggerTimetable(
                cron, timezone=timezone, interval=interval, run_immediately=run_immediately
            )
            for cron in crons
        ]
        self.summary = ", ".join(t.summary for t in self.timetables)
        self.description = ", ".join(t.description for t in self.timetables)

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        intervals = [t.infer_manual_data_interval(run_after) for t in self.timetables]
        return min(intervals, key=lambda interval: interval.start)

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime | None = None,
    ) -> NextRun | None:
        when = current_time(now)
        runs = [
            t.next_dagrun_info(
                last_automated_data_interval=last_automated_data_interval,
                restriction=restriction,
                now=when,
            )
            for t in self.timetables
        ]
        stamp = when.timestamp()

        def order(run: NextRun | None) -> float:
            # catchup: the earliest run. Otherwise the latest run already due, or if none is
            # due, the earliest one to come.
            if run is None:
                return math.inf
            ts = run.logical_date.timestamp()
            if restriction.catchup or ts > stamp:
                return ts
            return -ts

        return min(runs, key=order)

    def serialize_args(self) -> dict[str, Any]:
        first = self.timetables[0]
        return {
            "expressions": [t.expression for t in self.timetables],
            "timezone": encode_zone(first.timezone),
            "interval": encode_delta(first.interval),
            "run_immediately": encode_run_immediately(first.run_immediately),
        }

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> Timetable:
        return cls(
            *args["expressions"],
            timezone=args["timezone"],
            interval=decode_delta(args.get("interval", 0.0)),
            run_immediately=decode_run_immediately(args.get("run_immediately", False)),
        )
