"""Which runs ``backfill create --from-date --to-date`` makes (Airflow 3.3.2's rules).

The range is walked with the timetable as if ``catchup=True``, ``from_date`` being the start
date and ``to_date`` the end date (the DAG's own start and end dates play no part):

- data-interval timetables: every period whose *start* (the logical date) is aligned to the
  schedule, at or after ``from_date`` and at or before ``to_date``;
- trigger timetables: every schedule time in ``[from_date, to_date]``;

and only runs whose data interval has ended (``end < now``) are kept. ``reverse=True`` gives
the same runs newest first (``--run-backwards``).

>>> from datetime import UTC, datetime
>>> from tradewind.timetables import CronDataIntervalTimetable
>>> runs = iter_backfill_runs(
...     CronDataIntervalTimetable("@daily", timezone="UTC"),
...     datetime(2024, 1, 1, tzinfo=UTC),
...     datetime(2024, 1, 3, tzinfo=UTC),
...     now=datetime(2024, 6, 1, tzinfo=UTC),
... )
>>> [run.logical_date.day for run in runs]
[1, 2, 3]
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from tradewind.exceptions import TradewindException
from tradewind.timetables.base import NextRun, TimeRestriction, Timetable, current_time
from tradewind.timetables.zones import to_utc


class BackfillError(TradewindException, ValueError):
    """A backfill that cannot be made: the message says why."""


def check_backfill(
    timetable: Timetable, from_date: datetime, to_date: datetime, *, now: datetime | None = None
) -> None:
    """Raise :class:`BackfillError` for a backfill Airflow refuses for its dates or schedule."""
    if not timetable.periodic:
        raise BackfillError(
            f"schedule {timetable.summary!r} is not periodic and does not support backfills"
        )
    start, end, when = to_utc(from_date), to_utc(to_date), current_time(now)
    if start > end:
        raise BackfillError(
            f"from_date ({start.isoformat()}) must not be after to_date ({end.isoformat()})."
        )
    if start >= when and end >= when:
        raise BackfillError("Backfill cannot be executed for future dates.")


def iter_backfill_runs(
    timetable: Timetable,
    from_date: datetime,
    to_date: datetime,
    *,
    reverse: bool = False,
    now: datetime | None = None,
    check: bool = True,
) -> list[NextRun]:
    """The runs a backfill of ``[from_date, to_date]`` makes, in the order it makes them.

    Naive dates are read as UTC (parse CLI input in ``core.default_timezone`` first).
    ``check`` first applies :func:`check_backfill`. An empty list means nothing to do
    (Airflow's "No runs to create").
    """
    when = current_time(now)
    if check:
        check_backfill(timetable, from_date, to_date, now=when)
    walked = _walk(timetable, from_date, to_date, when)
    runs = [run for run in walked if run.data_interval.end < when]
    return runs[::-1] if reverse else runs


def _walk(
    timetable: Timetable, from_date: datetime, to_date: datetime, now: datetime
) -> Iterator[NextRun]:
    restriction = TimeRestriction(to_utc(from_date), to_utc(to_date), catchup=True)
    last = None
    while True:
        run = timetable.next_dagrun_info(
            last_automated_data_interval=last, restriction=restriction, now=now
        )
        if run is None:
            return
        yield run
        last = run.data_interval
