"""Run ids as Airflow 3 makes them: ``<run_type>__<run_after in ISO 8601>``.

Airflow 3 names a run after its ``run_after`` (when it may start), not its logical date:
a scheduled ``@daily`` data-interval run for 2024-01-01 is
``scheduled__2024-01-02T00:00:00+00:00``. A run without a logical date (asset-triggered runs,
or any run made through :func:`generate_run_id` with ``logical_date=None``) gets ``_`` and
eight random letters and digits appended, since several may share a ``run_after``.

>>> from datetime import UTC, datetime
>>> generate_run_id("manual", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 5, tzinfo=UTC))
'manual__2024-01-01T05:00:00+00:00'
>>> generate_run_id("asset_triggered", None, datetime(2024, 1, 1, tzinfo=UTC))[:-8]
'asset_triggered__2024-01-01T00:00:00+00:00_'
"""

from __future__ import annotations

import secrets
import string
from datetime import datetime

from tradewind.timetables.zones import to_utc

#: Airflow's run types, as they prefix run ids.
RUN_TYPES = (
    "backfill",
    "scheduled",
    "manual",
    "operator_triggered",
    "asset_triggered",
    "asset_materialization",
)

_ALPHABET = string.ascii_letters + string.digits


def run_id_prefix(run_type: object) -> str:
    """The run-id prefix of ``run_type`` (a string or a ``str`` enum member)."""
    value = getattr(run_type, "value", run_type)
    if value not in RUN_TYPES:
        raise ValueError(f"unknown run type {run_type!r}: expected one of {', '.join(RUN_TYPES)}")
    return str(value)


def random_suffix(length: int = 8) -> str:
    """Random letters and digits, as Airflow appends to run ids without a logical date."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def generate_run_id(run_type: object, logical_date: datetime | None, run_after: datetime) -> str:
    """The run id Airflow gives a run of ``run_type`` (``DagRun.generate_run_id``).

    ``scheduled__<run_after>``, ``manual__<run_after>``, ``backfill__<run_after>``...; with no
    logical date, ``<run_type>__<run_after>_<8 random letters and digits>``. Naive datetimes
    are read as UTC.
    """
    suffix = to_utc(run_after).isoformat()
    if logical_date is None:
        suffix = f"{suffix}_{random_suffix()}"
    return f"{run_id_prefix(run_type)}__{suffix}"


def run_type_of(run_id: str) -> str:
    """The run type a run id's prefix names; ``manual`` for any other id (as Airflow).

    >>> run_type_of("scheduled__2024-01-01T00:00:00+00:00"), run_type_of("my_run")
    ('scheduled', 'manual')
    """
    for run_type in RUN_TYPES:
        if run_id.startswith(f"{run_type}__"):
            return run_type
    return "manual"
