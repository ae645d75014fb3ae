"""Turning listed ``dag`` rows into Airflow's DAG bodies (v2 and v1), fast.

``GET /dags?limit=100`` is the API's busiest read, so its bodies are plain dicts encoded
with msgspec straight into the response (:func:`json_response`); the pydantic models in
:mod:`tradewind.api.schemas.dags` describe the same shape in the OpenAPI schema, and the
tests check the two agree.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
from datetime import timedelta
from typing import Any

import msgspec
from fastapi import Response

from tradewind.api.schemas.dags import BUNDLE_NAME
from tradewind.db.queries.dag_listing import split_tags

encode = msgspec.json.Encoder().encode


def json_response(content: Any, status_code: int = 200) -> Response:
    """``content`` (dicts, lists, datetimes..., or JSON already encoded) as a JSON
    response, without pydantic."""
    body = content if isinstance(content, bytes) else encode(content)
    return Response(body, status_code, media_type="application/json")


@functools.lru_cache(maxsize=1)
def _dags_folder() -> str:
    from tradewind import config

    return os.path.abspath(config.dags_folder())


@functools.lru_cache(maxsize=4096)
def relative_fileloc(fileloc: str | None) -> str | None:
    """The file's path in the DAGs folder (its name, for a file outside it)."""
    if not fileloc:
        return None
    folder = _dags_folder()
    if fileloc.startswith(folder.rstrip(os.sep) + os.sep):
        return os.path.relpath(fileloc, folder)
    return os.path.basename(fileloc)


@functools.lru_cache(maxsize=4096)
def file_token(dag_id: str) -> str:
    """An opaque, URL-safe token naming the DAG (Airflow 2 reads sources by it)."""
    return base64.urlsafe_b64encode(dag_id.encode()).decode().rstrip("=")


def dag_id_of_token(token: str) -> str | None:
    """The DAG a :func:`file_token` names, or ``None`` for a token that is not one."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return raw.decode() if file_token(raw.decode()) == token else None
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


@functools.lru_cache(maxsize=1024)
def owners_list(owners: str | None) -> tuple[str, ...]:
    """``"a, b"`` as ``("a", "b")`` (a tuple: cached, and encoded as a JSON array)."""
    return tuple(o.strip() for o in owners.split(",")) if owners else ()


def dag_body(row: Any) -> dict[str, Any]:
    """Airflow 3's ``DAGResponse`` for a row of :func:`~tradewind.db.queries.dag_listing.
    list_dags` (read by position: a hundred rows of named lookups cost a millisecond)."""
    (
        dag_id,
        display_name,
        is_paused,
        is_stale,
        last_parsed_time,
        fileloc,
        owners,
        description,
        summary,
        timetable_description,
        max_active_tasks,
        max_active_runs,
        max_consecutive_failed,
        has_task_concurrency_limits,
        next_dagrun,
        next_start,
        next_end,
        next_create_after,
        has_import_errors,
        _pos,
        tags,
        _total,
    ) = row
    return {
        "dag_id": dag_id,
        "dag_display_name": display_name or dag_id,
        "is_paused": bool(is_paused),
        "is_stale": bool(is_stale),
        "last_parsed_time": last_parsed_time,
        "last_parse_duration": None,
        "last_expired": None,
        "bundle_name": BUNDLE_NAME,
        "bundle_version": None,
        "relative_fileloc": relative_fileloc(fileloc),
        "fileloc": fileloc or "",
        "description": description,
        "timetable_summary": None if summary == "None" else summary,
        "timetable_description": timetable_description,
        "tags": [{"name": name, "dag_id": dag_id} for name in split_tags(tags)] if tags else [],
        "max_active_tasks": max_active_tasks,
        "max_active_runs": max_active_runs,
        "max_consecutive_failed_dag_runs": max_consecutive_failed,
        "has_task_concurrency_limits": bool(has_task_concurrency_limits),
        "has_import_errors": bool(has_import_errors),
        "next_dagrun_logical_date": next_dagrun,
        "next_dagrun_data_interval_start": next_start,
        "next_dagrun_data_interval_end": next_end,
        "next_dagrun_run_after": next_create_after,
        "owners": owners_list(owners),
        "file_token": file_token(dag_id),
    }


_CRON_FIELDS = re.compile(r"^\S+(\s+\S+){4,5}$")
_DELTA = re.compile(r"^(?:(-?\d+) days?, )?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?$")


def timedelta_v1(value: timedelta | None) -> dict[str, Any] | None:
    """Airflow 2's ``TimeDelta`` object."""
    if value is None:
        return None
    return {
        "__type": "TimeDelta",
        "days": value.days,
        "seconds": value.seconds,
        "microseconds": value.microseconds,
    }


def schedule_interval_v1(summary: str | None) -> dict[str, Any] | None:
    """Airflow 2's ``schedule_interval`` from the timetable's summary ("0 0 * * *",
    "@daily", "1 day, 0:00:00"); null for no schedule or one it cannot express.

    >>> schedule_interval_v1("@daily")
    {'__type': 'CronExpression', 'value': '@daily'}
    >>> schedule_interval_v1("1 day, 6:00:00")["seconds"]
    21600
    >>> schedule_interval_v1("None") is None
    True
    """
    if not summary or summary in ("None", "@once", "@continuous"):
        return None
    if (summary.startswith("@") and " " not in summary) or _CRON_FIELDS.match(summary):
        return {"__type": "CronExpression", "value": summary}
    match = _DELTA.match(summary)
    if match is None:
        return None
    days, hours, minutes, seconds, micro = match.groups()
    delta = timedelta(
        days=int(days or 0),
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds),
        microseconds=int((micro or "0").ljust(6, "0")),
    )
    return timedelta_v1(delta)


def dag_body_v1(row: Any) -> dict[str, Any]:
    """Airflow 2's ``DAG`` for a row of :func:`~tradewind.db.queries.dag_listing.list_dags`."""
    dag_id = row.dag_id
    return {
        "dag_id": dag_id,
        "dag_display_name": row.dag_display_name or dag_id,
        "root_dag_id": None,
        "is_paused": bool(row.is_paused),
        "is_active": not row.is_stale,
        "is_subdag": False,
        "last_parsed_time": row.last_parsed_time,
        "last_pickled": None,
        "last_expired": None,
        "scheduler_lock": None,
        "pickle_id": None,
        "default_view": "grid",
        "fileloc": row.fileloc or "",
        "file_token": file_token(dag_id),
        "owners": owners_list(row.owners),
        "description": row.description,
        "schedule_interval": schedule_interval_v1(row.timetable_summary),
        "timetable_description": row.timetable_description,
        "tags": [{"name": name} for name in split_tags(row.tags)],
        "max_active_tasks": row.max_active_tasks,
        "max_active_runs": row.max_active_runs,
        "has_task_concurrency_limits": bool(row.has_task_concurrency_limits),
        "has_import_errors": bool(row.has_import_errors),
        "next_dagrun": row.next_dagrun,
        "next_dagrun_data_interval_start": row.next_dagrun_data_interval_start,
        "next_dagrun_data_interval_end": row.next_dagrun_data_interval_end,
        "next_dagrun_create_after": row.next_dagrun_create_after,
        "max_consecutive_failed_dag_runs": row.max_consecutive_failed_dag_runs,
    }
