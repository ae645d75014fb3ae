"""The Timetable protocol: when runs happen and which data interval each covers."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


class DataInterval(NamedTuple):
    """The span of data a run is about: ``[start, end)``."""

    start: datetime
    end: datetime


class Timetable:
    """Decides run times. Subclasses override what their schedule needs.

    ``infer_manual_data_interval`` gives the data interval of a run triggered by hand (or by
    ``dags test``) at ``run_after``.
    """

    #: Text shown in listings ("0 0 * * *", "1 day, 0:00:00", "None").
    summary: str = ""
    #: Whether the scheduler ever creates runs on its own.
    can_be_scheduled: bool = True
    #: The most runs that may be active at once, if the timetable needs a limit.
    active_runs_limit: int | None = None

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        return DataInterval(run_after, run_after)

    def serialize(self) -> dict[str, object]:
        return {"type": type(self).__name__, "summary": self.summary}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.summary!r})"
