"""Fixed and calendar steps (``timedelta`` / ``relativedelta``) and their serialized forms.

A ``timedelta`` is a fixed length of time: adding it to an instant is exact whatever the
zone. A ``relativedelta`` (months, years...) steps the UTC calendar, as Airflow does. In
serialized form a ``timedelta`` is its seconds as a float and a ``relativedelta`` a dict of
its non-zero fields (Airflow's encoding).

>>> encode_delta(timedelta(hours=6))
21600.0
>>> encode_delta(relativedelta(months=1, days=2))
{'months': 1, 'days': 2}
>>> decode_delta({'months': 1}) == relativedelta(months=1)
True
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeAlias

from dateutil.relativedelta import relativedelta, weekday

from tradewind.exceptions import DagDefinitionError
from tradewind.timetables.zones import to_utc

Delta: TypeAlias = "timedelta | relativedelta"


def check_delta(delta: object, what: str) -> Delta:
    if not isinstance(delta, timedelta | relativedelta):
        raise DagDefinitionError(
            f"{what} must be a timedelta or relativedelta, got {type(delta).__name__}"
        )
    return delta


def check_positive(delta: Delta) -> Delta:
    now = datetime(2000, 1, 1)
    if now + delta <= now:
        raise DagDefinitionError(f"schedule interval must be positive, not {delta!r}")
    return delta


def add(at: datetime, delta: Delta) -> datetime:
    """``at + delta`` as a UTC instant."""
    return to_utc(to_utc(at) + delta)


def sub(at: datetime, delta: Delta) -> datetime:
    """``at - delta`` as a UTC instant."""
    return to_utc(to_utc(at) - delta)


def encode_delta(delta: Delta) -> float | dict[str, Any]:
    if isinstance(delta, timedelta):
        return delta.total_seconds()
    encoded: dict[str, Any] = {
        k: v for k, v in delta.__dict__.items() if not k.startswith("_") and v
    }
    if delta.weekday is not None:
        day = delta.weekday
        encoded["weekday"] = [day.weekday, day.n] if day.n else [day.weekday]
    return encoded


def decode_delta(value: object) -> Delta:
    if isinstance(value, dict):
        fields = dict(value)
        if "weekday" in fields:
            fields["weekday"] = weekday(*fields["weekday"])
        return relativedelta(**fields)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    raise DagDefinitionError(f"not a serialized interval: {value!r}")


def encode_run_immediately(value: bool | timedelta) -> bool | float:
    return value.total_seconds() if isinstance(value, timedelta) else value


def decode_run_immediately(value: object) -> bool | timedelta:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    raise DagDefinitionError(f"run_immediately must be a bool or seconds, got {value!r}")


class DeltaSchedule:
    """Every ``delta`` from wherever the schedule starts: any instant is a firing time."""

    def __init__(self, delta: object) -> None:
        self.delta = check_positive(check_delta(delta, "schedule"))

    def get_next(self, current: datetime) -> datetime:
        return add(current, self.delta)

    def get_prev(self, current: datetime) -> datetime:
        return sub(current, self.delta)

    def align_to_next(self, current: datetime) -> datetime:
        return to_utc(current)

    def align_to_prev(self, current: datetime) -> datetime:
        return to_utc(current)
