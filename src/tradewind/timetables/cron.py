"""Cron timetables: Airflow 3's trigger meaning (default) and Airflow 2's data-interval one.

Cron expressions are read in the timetable's time zone (UTC unless given), so
``"0 9 * * *"`` in ``Europe/Paris`` fires at 09:00 Paris time whatever the season.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from tradewind.exceptions import DagDefinitionError
from tradewind.timetables.base import DataInterval, Timetable

#: Airflow's cron presets and the expressions they stand for.
CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


def _check_cron(expression: str) -> None:
    from croniter import croniter

    if expression.strip().startswith("@") or not croniter.is_valid(expression):
        raise DagDefinitionError(
            f"invalid cron expression {expression!r}: expected five fields "
            "'minute hour day-of-month month day-of-week' (e.g. '30 2 * * *') or a preset "
            f"({', '.join(CRON_PRESETS)})"
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


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(fold=0)


class _CronBase(Timetable):
    def __init__(self, cron: str, timezone: str | tzinfo | None = None) -> None:
        expression = CRON_PRESETS.get(cron.strip(), cron) if isinstance(cron, str) else cron
        if not isinstance(expression, str):
            raise DagDefinitionError(f"cron expression must be a str, got {type(cron).__name__}")
        _check_cron(expression)
        self.expression = expression
        self.timezone = _zone(timezone)
        self.summary = expression

    def _aware(self, at: datetime) -> datetime:
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
        return at.astimezone(self.timezone)

    def _align_to_prev(self, at: datetime) -> datetime:
        """The latest cron time at or before ``at`` (``at`` itself when it is one)."""
        from croniter import croniter

        # next() is strictly after ``at``; the cron time before that is <= ``at``.
        nxt = croniter(self.expression, self._aware(at)).get_next(datetime)
        return _utc(croniter(self.expression, nxt).get_prev(datetime))

    def _prev(self, at: datetime) -> datetime:
        """The cron time strictly before ``at``."""
        from croniter import croniter

        return _utc(croniter(self.expression, self._aware(at)).get_prev(datetime))


class CronTriggerTimetable(_CronBase):
    """Fires at each cron time; the data interval is that instant (Airflow 3's default)."""


class CronDataIntervalTimetable(_CronBase):
    """Each run covers the span between two cron times and starts at its end (Airflow 2).

    A manual run at ``run_after`` covers the last complete span: it ends at the latest cron
    time at or before ``run_after``.
    """

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        end = self._align_to_prev(run_after)
        return DataInterval(self._prev(end), end)
