"""Data-interval timetables (Airflow 2's meaning): each run covers one whole period.

A run covers ``[start, end)`` between two consecutive schedule times and may start once
that period is over, at ``end``; its logical date is ``start``. So the ``@daily`` run for
2024-01-01 starts just after midnight on 2024-01-02.

>>> from datetime import UTC, datetime
>>> tt = CronDataIntervalTimetable("@daily", timezone="UTC")
>>> start = datetime(2024, 1, 1, tzinfo=UTC)
>>> run = tt.next_dagrun_info(
...     last_automated_data_interval=None,
...     restriction=TimeRestriction(start, None, catchup=True),
... )
>>> run.logical_date.isoformat(), run.run_after.isoformat()
('2024-01-01T00:00:00+00:00', '2024-01-02T00:00:00+00:00')
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

from dateutil.relativedelta import relativedelta

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
from tradewind.timetables.delta import Delta, DeltaSchedule, decode_delta, encode_delta
from tradewind.timetables.zones import encode_zone, to_utc


class _DataIntervalTimetable(Timetable):
    _schedule: CronSchedule | DeltaSchedule

    def _skip_to_latest(self, earliest: datetime | None, now: datetime) -> datetime:
        """With ``catchup=False``: the start of the latest period that is already due."""
        raise NotImplementedError

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
        if not catchup:
            earliest = self._skip_to_latest(earliest, current_time(now))
        elif earliest is not None:
            earliest = schedule.align_to_next(earliest)
        if last is None:
            if earliest is None:
                return None  # nothing to anchor the first period on
            start = earliest
        else:
            # Realign: the schedule may have changed since the last run.
            start = schedule.align_to_prev(last.end)
            if earliest is not None:
                start = max(start, earliest)
            if start <= last.start:  # a coarser new schedule: step past the last run
                start = schedule.get_next(start)
                if start <= last.start:
                    raise ValueError(
                        f"{type(self).__name__} did not advance past {last.start.isoformat()}"
                    )
        if latest is not None and start > latest:
            return None
        return NextRun.interval(start, schedule.get_next(start))


class CronDataIntervalTimetable(_DataIntervalTimetable):
    """Runs cover the span between two cron times and start at its end (Airflow 2).

    A manual run at ``run_after`` covers the last complete span: it ends at the latest cron
    time at or before ``run_after``.

    >>> tt = CronDataIntervalTimetable("0 0 * * *", timezone="UTC")
    >>> tt.infer_manual_data_interval(datetime(2024, 1, 2, 5)).start.isoformat()
    '2024-01-01T00:00:00+00:00'
    """

    def __init__(self, cron: str, timezone: str | int | tzinfo | None = None) -> None:
        self._schedule = CronSchedule(cron, timezone)
        self.expression = self._schedule.expression
        self.timezone = self._schedule.timezone
        self.summary = self.expression
        self.description = self._schedule.description

    def _skip_to_latest(self, earliest: datetime | None, now: datetime) -> datetime:
        # The period that ends at or most recently before now: it is due now. When now is
        # exactly a cron time, that is the period ending now.
        last_start = self._schedule.get_prev(now)
        if self._schedule.get_next(last_start) == now:
            new_start = last_start
        else:
            new_start = self._schedule.get_prev(last_start)
        if earliest is None:
            return new_start
        return max(new_start, self._schedule.align_to_next(earliest))

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        end = self._schedule.align_to_prev(run_after)
        return DataInterval(self._schedule.get_prev(end), end)

    def serialize_args(self) -> dict[str, Any]:
        return {"expression": self.expression, "timezone": encode_zone(self.timezone)}

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> Timetable:
        return cls(args["expression"], args["timezone"])


class DeltaDataIntervalTimetable(_DataIntervalTimetable):
    """Runs every ``delta``, each covering the ``delta`` before it (Airflow 2).

    With ``catchup=False`` the periods are laid on a grid from the Unix epoch (for months
    and years: from the start date), as Airflow does.

    >>> DeltaDataIntervalTimetable(timedelta(hours=6)).summary
    '6:00:00'
    """

    def __init__(self, delta: Delta) -> None:
        self._schedule = DeltaSchedule(delta)
        self.delta = self._schedule.delta
        self.summary = str(self.delta)

    def _round(self, at: datetime, anchor: datetime) -> datetime:
        """The latest grid point at or before ``at``."""
        delta = self.delta
        if isinstance(delta, relativedelta) and (delta.months or delta.years):
            # Calendar steps have no fixed length: walk from the anchor.
            boundary = anchor
            while self._schedule.get_next(boundary) <= at:
                boundary = self._schedule.get_next(boundary)
            return boundary
        if isinstance(delta, timedelta):
            seconds = delta.total_seconds()
        else:
            seconds = (
                delta.years * 365 * 86400
                + delta.months * 30 * 86400
                + delta.days * 86400
                + delta.hours * 3600
                + delta.minutes * 60
                + delta.seconds
            )
        stamp = at.timestamp()
        return datetime.fromtimestamp(stamp - (stamp % seconds), tz=at.tzinfo)

    def _skip_to_latest(self, earliest: datetime | None, now: datetime) -> datetime:
        new_start = self._schedule.get_prev(self._round(now, earliest or now))
        if earliest is None:
            return new_start
        return max(new_start, earliest)

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        run_after = to_utc(run_after)
        return DataInterval(self._schedule.get_prev(run_after), run_after)

    def serialize_args(self) -> dict[str, Any]:
        return {"delta": encode_delta(self.delta)}

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> Timetable:
        return cls(decode_delta(args["delta"]))
