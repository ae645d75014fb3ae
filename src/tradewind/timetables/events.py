"""Runs at listed instants (``EventsTimetable``): for irregular but known dates.

>>> from datetime import UTC, datetime
>>> tt = EventsTimetable([datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)])
>>> tt.summary, tt.description
('2 events', '2 events between 2024-01-01T00:00:00+00:00 and 2024-03-01T00:00:00+00:00')
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
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
from tradewind.timetables.zones import to_utc


class EventsTimetable(Timetable):
    """A run at each of ``event_dates`` (duplicates ignored; naive dates are UTC).

    ``restrict_to_events``: a manual run covers the latest event at or before it (the first
    event if all are later) instead of its own instant. ``description`` replaces both the
    summary and the description.
    """

    def __init__(
        self,
        event_dates: Iterable[datetime],
        restrict_to_events: bool = False,
        presorted: bool = False,
        description: str | None = None,
    ) -> None:
        dates = list(event_dates)
        if not all(isinstance(d, datetime) for d in dates):
            raise DagDefinitionError("EventsTimetable event_dates must be datetimes")
        dates = [d if d.tzinfo is not None else to_utc(d) for d in dates]
        self.event_dates = dates if presorted else sorted(dates)
        self.restrict_to_events = restrict_to_events
        if description is not None:
            self.summary = self.description = description
        else:
            self.summary = f"{len(dates)} events"
            self.description = (
                f"{len(dates)} events between {self.event_dates[0].isoformat(sep='T')} and "
                f"{self.event_dates[-1].isoformat(sep='T')}"
                if dates
                else "No events"
            )

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime | None = None,
    ) -> NextRun | None:
        earliest, latest, catchup = utc_restriction(restriction)
        last = utc_interval(last_automated_data_interval)
        if not catchup:
            when = current_time(now)
            if earliest is None or when > earliest:
                earliest = when
        for event in self.event_dates:
            if earliest is not None and event < earliest:
                continue
            if last is not None and event <= last.end:
                continue
            break
        else:
            return None
        if latest is not None and event > latest:
            return None
        return NextRun.exact(event)

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        run_after = to_utc(run_after)
        if not self.restrict_to_events or not self.event_dates:
            return DataInterval.exact(run_after)
        past = [event for event in self.event_dates if event <= run_after]
        return DataInterval.exact(to_utc(past[-1] if past else self.event_dates[0]))

    def serialize_args(self) -> dict[str, Any]:
        return {
            "event_dates": [d.isoformat(sep="T") for d in self.event_dates],
            "restrict_to_events": self.restrict_to_events,
            "description": self.description,
            "_summary": self.summary,
        }

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> Timetable:
        timetable = cls(
            [datetime.fromisoformat(d) for d in args["event_dates"]],
            restrict_to_events=bool(args["restrict_to_events"]),
            presorted=True,
            description=args["description"],
        )
        timetable.summary = str(args.get("_summary", timetable.summary))
        return timetable
