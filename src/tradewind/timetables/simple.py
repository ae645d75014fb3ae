"""Timetables without a period: never (``None``), ``@once`` and ``@continuous``.

None of them can be backfilled (they are not periodic), and a manual run covers the
instant it runs after.

>>> from datetime import UTC, datetime
>>> start = datetime(2024, 1, 1, tzinfo=UTC)
>>> OnceTimetable().next_dagrun_info(
...     last_automated_data_interval=None,
...     restriction=TimeRestriction(start, None, catchup=False),
... ).run_after == start
True
"""

from __future__ import annotations

from datetime import datetime

from tradewind.timetables.base import (
    DataInterval,
    NextRun,
    TimeRestriction,
    Timetable,
    current_time,
    utc_interval,
    utc_restriction,
)


class NullTimetable(Timetable):
    """``schedule=None``: runs only when triggered."""

    summary = "None"
    description = "Never, external triggers only"
    periodic = False
    can_be_scheduled = False


class OnceTimetable(Timetable):
    """``@once``: one run, at the start date (or now, without one), whatever ``catchup``."""

    summary = "@once"
    description = "Once, as soon as possible"
    periodic = False

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime | None = None,
    ) -> NextRun | None:
        if last_automated_data_interval is not None:
            return None  # it has run
        earliest, latest, _ = utc_restriction(restriction)
        run_after = earliest or current_time(now)
        if latest is not None and run_after > latest:
            return None
        return NextRun.exact(run_after)


class ContinuousTimetable(Timetable):
    """``@continuous``: a new run as soon as the previous one ends, one at a time.

    Each run covers the time since the previous run's interval ended, up to now.
    """

    summary = "@continuous"
    description = "As frequently as possible, but only one run at a time."
    periodic = False
    active_runs_limit = 1

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime | None = None,
    ) -> NextRun | None:
        when = current_time(now)
        earliest, latest, _ = utc_restriction(restriction)
        first = earliest or when
        last = utc_interval(last_automated_data_interval)
        if last is None:
            start, end = first, max(first, when)
        elif last.end > when:  # the start date moved into the future
            start, end = first, first + (last.end - last.start)
        else:
            start, end = last.end, when
        if latest is not None and end > latest:
            return None
        return NextRun.interval(start, end)
