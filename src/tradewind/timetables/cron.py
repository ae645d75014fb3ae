"""Cron timetables: Airflow 3's trigger meaning (default) and Airflow 2's data-interval one."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from tradewind.exceptions import DagDefinitionError
from tradewind.timetables.base import DataInterval, Timetable


def _check_cron(expression: str) -> None:
    from croniter import croniter

    if not croniter.is_valid(expression):
        raise DagDefinitionError(
            f"invalid cron expression {expression!r}: expected five fields "
            "'minute hour day-of-month month day-of-week' (e.g. '30 2 * * *') or a preset"
        )


def _zone(tz: str | tzinfo | None) -> tzinfo:
    if tz is None:
        return UTC
    if isinstance(tz, str):
        try:
            return ZoneInfo(tz)
        except Exception:
            raise DagDefinitionError(f"unknown time zone {tz!r}") from None
    return tz


class _CronBase(Timetable):
    def __init__(self, cron: str, timezone: str | tzinfo | None = None) -> None:
        _check_cron(cron)
        self.expression = cron
        self.timezone = _zone(timezone)
        self.summary = cron

    def _previous(self, at: datetime) -> datetime:
        """The latest cron time at or before ``at``."""
        from croniter import croniter

        local = at.astimezone(self.timezone)
        it = croniter(self.expression, local)
        nxt = it.get_next(datetime)
        if nxt == local:
            return nxt.astimezone(UTC)
        return croniter(self.expression, local).get_prev(datetime).astimezone(UTC)


class CronTriggerTimetable(_CronBase):
    """Fires at each cron time; the data interval is that instant (Airflow 3's default)."""


class CronDataIntervalTimetable(_CronBase):
    """Each run covers the span between two cron times and starts at its end (Airflow 2)."""

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        from croniter import croniter

        end = self._previous(run_after)
        start = croniter(self.expression, end.astimezone(self.timezone)).get_prev(datetime)
        return DataInterval(start.astimezone(UTC), end)
