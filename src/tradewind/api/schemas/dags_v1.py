"""DAG bodies of ``/api/v1``, with Airflow 2's field names (``DAG``, ``DAGDetail``).

Airflow 2's ``schedule_interval`` is an object with a ``__type``: ``CronExpression`` (with
``value``) or ``TimeDelta`` (``days``, ``seconds``, ``microseconds``); null for none.
Airflow 2 fields that describe things Tradewind does not have (pickles, subDAGs, the
scheduler lock) are null or false.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class TagV1(BaseModel):
    name: str


class DAGV1(BaseModel):
    dag_id: str
    dag_display_name: str
    root_dag_id: str | None
    is_paused: bool | None
    is_active: bool | None
    is_subdag: bool
    last_parsed_time: datetime | None
    last_pickled: datetime | None
    last_expired: datetime | None
    scheduler_lock: bool | None
    pickle_id: str | None
    default_view: str | None
    fileloc: str
    file_token: str
    owners: list[str]
    description: str | None
    schedule_interval: dict[str, Any] | None
    timetable_description: str | None
    tags: list[TagV1] | None
    max_active_tasks: int | None
    max_active_runs: int | None
    has_task_concurrency_limits: bool | None
    has_import_errors: bool | None
    next_dagrun: datetime | None
    next_dagrun_data_interval_start: datetime | None
    next_dagrun_data_interval_end: datetime | None
    next_dagrun_create_after: datetime | None
    max_consecutive_failed_dag_runs: int | None


class DAGCollectionV1(BaseModel):
    dags: list[DAGV1]
    total_entries: int


class DAGDetailV1(DAGV1):
    timezone: str | None
    catchup: bool | None
    orientation: str | None
    concurrency: float | None
    start_date: datetime | None
    dag_run_timeout: dict[str, Any] | None
    dataset_expression: dict[str, Any] | None
    doc_md: str | None
    params: dict[str, Any]
    end_date: datetime | None
    is_paused_upon_creation: bool | None
    last_parsed: datetime | None
    template_search_path: list[str] | None
    render_template_as_native_obj: bool | None
