"""Cron expressions read in a time zone: the arithmetic both cron timetables share.

A cron expression is matched against the *wall clock* of the timetable's zone, then turned
into a UTC instant, so ``"0 2 * * *"`` in ``Europe/Berlin`` fires at 02:00 Berlin time all
year (01:00 UTC in winter, 00:00 UTC in summer). On the day DST starts, 02:00 does not exist
and the run happens at 03:00 (the same instant as 02:00 would have been in winter time); on
the day it ends, 02:00 happens twice and the run happens once, at the second.

Expressions that fire every hour (``"*/15 * * * *"``, ``"30 * * * *"``) step in real
elapsed time instead, so the repeated hour at the end of DST gets its runs too, as in
Airflow.

>>> from datetime import UTC
>>> berlin = CronSchedule("0 2 * * *", "Europe/Berlin")
>>> berlin.get_next(datetime(2024, 3, 30, 12, tzinfo=UTC)).isoformat()
'2024-03-31T01:00:00+00:00'
>>> berlin.get_next(datetime(2024, 3, 31, 12, tzinfo=UTC)).isoformat()
'2024-04-01T00:00:00+00:00'
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from tradewind.exceptions import DagDefinitionError
from tradewind.timetables.describe import describe_cron
from tradewind.timetables.zones import localize, resolve_zone, to_utc, wall_clock

if TYPE_CHECKING:
    from croniter import croniter

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


def parse_cron(cron: object) -> str:
    """The expression ``cron`` stands for (a preset resolved), or a precise error."""
    from croniter import croniter  # imported when needed: DAGs without a cron stay light

    if not isinstance(cron, str):
        raise DagDefinitionError(f"cron expression must be a str, got {type(cron).__name__}")
    expression = CRON_PRESETS.get(cron.strip(), cron)
    if expression.strip().startswith("@") or not croniter.is_valid(expression):
        raise DagDefinitionError(
            f"invalid cron expression {expression!r}: expected five fields "
            "'minute hour day-of-month month day-of-week' (e.g. '30 2 * * *') or a preset "
            f"({', '.join(CRON_PRESETS)})"
        )
    return expression


class CronSchedule:
    """A cron expression in a zone: the next and previous firing times around an instant.

    Every method takes an aware (or naive = UTC) datetime and returns a UTC one.
    """

    def __init__(self, cron: str, timezone: str | int | tzinfo | None = None) -> None:
        self.expression = parse_cron(cron)
        self.timezone = resolve_zone(timezone)

    @property
    def description(self) -> str:
        return describe_cron(self.expression)

    def _every_hour(self, cron: croniter) -> bool:
        return bool(cron.expanded[1] == ["*"])

    def get_next(self, current: datetime) -> datetime:
        """The first firing time strictly after ``current``."""
        from croniter import croniter

        naive = wall_clock(current, self.timezone)
        cron = croniter(self.expression, start_time=naive)
        scheduled: datetime = cron.get_next(datetime)
        if not self._every_hour(cron):
            return localize(scheduled, self.timezone)
        return to_utc(current) + (scheduled - naive)

    def get_prev(self, current: datetime) -> datetime:
        """The last firing time strictly before ``current``."""
        from croniter import croniter

        naive = wall_clock(current, self.timezone)
        cron = croniter(self.expression, start_time=naive)
        scheduled: datetime = cron.get_prev(datetime)
        if not self._every_hour(cron):
            return localize(scheduled, self.timezone)
        return to_utc(current) - (naive - scheduled)

    def align_to_next(self, current: datetime) -> datetime:
        """``current`` if it is a firing time, else the next one."""
        following = self.get_next(current)
        return to_utc(current) if self.get_prev(following) == current else following

    def align_to_prev(self, current: datetime) -> datetime:
        """``current`` if it is a firing time, else the previous one."""
        preceding = self.get_prev(current)
        return to_utc(current) if self.get_next(preceding) == current else preceding
