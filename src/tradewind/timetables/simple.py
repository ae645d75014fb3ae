"""Timetables without cron: none, once, continuous, and a fixed timedelta."""

from __future__ import annotations

from datetime import datetime, timedelta

from tradewind.timetables.base import DataInterval, Timetable


class NullTimetable(Timetable):
    """``schedule=None``: runs only when triggered."""

    summary = "None"
    can_be_scheduled = False


class OnceTimetable(Timetable):
    """``@once``: one run at ``start_date``."""

    summary = "@once"


class ContinuousTimetable(Timetable):
    """``@continuous``: a new run as soon as the previous one ends."""

    summary = "@continuous"
    active_runs_limit = 1


class DeltaDataIntervalTimetable(Timetable):
    """``schedule=timedelta(...)``: runs every ``delta``, each covering the previous span."""

    def __init__(self, delta: timedelta) -> None:
        self.delta = delta
        self.summary = str(delta)

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        return DataInterval(run_after - self.delta, run_after)
