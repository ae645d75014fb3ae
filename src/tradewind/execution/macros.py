"""``macros`` in templates: Airflow's helpers and the modules it exposes.

>>> ds_add("2024-01-30", 3)
'2024-02-02'
>>> ds_format("2024-01-30", "%Y-%m-%d", "%d/%m/%Y")
'30/01/2024'
"""

from __future__ import annotations

import json
import random as _random
import time
import uuid
from datetime import datetime, timedelta

import dateutil

random = _random.random


def ds_add(ds: str, days: int) -> str:
    """Add (or subtract) ``days`` to a ``YYYY-MM-DD`` date string."""
    if not days:
        return str(ds)
    return (datetime.strptime(str(ds), "%Y-%m-%d") + timedelta(days=days)).strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """Re-format a date string from ``input_format`` to ``output_format``."""
    return datetime.strptime(str(ds), input_format).strftime(output_format)


def datetime_diff_for_humans(dt: datetime, since: datetime | None = None) -> str:
    """How long between ``dt`` and ``since`` (default now), in words: ``"3 hours ago"``."""
    now = since or datetime.now(dt.tzinfo)
    seconds = (dt - now).total_seconds()
    past = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size or unit == "second":
            n = int(seconds // size)
            text = f"{n} {unit}{'' if n == 1 else 's'}"
            return f"{text} ago" if past else f"in {text}"
    return "now"


__all__ = [
    "datetime",
    "datetime_diff_for_humans",
    "dateutil",
    "ds_add",
    "ds_format",
    "json",
    "random",
    "time",
    "timedelta",
    "uuid",
]
