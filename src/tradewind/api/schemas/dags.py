"""DAG bodies of /api/v2 with Airflow 3's field names (``DAGResponse``, ``DAGDetailsResponse``).

Tradewind has one DAG bundle, the DAGs folder, so ``bundle_name`` is Airflow's default name for
it (``dags-folder``) and ``bundle_version`` is null. ``file_token`` names the DAG, not its
path: ``GET /api/v1/dagSources/{file_token}`` reads it back and checks access to that DAG.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from tradewind.api.schemas import StrictModel
from tradewind.api.schemas.dag_versions import DagVersionResponse

#: The name of the one bundle Tradewind reads DAGs from (Airflow's default bundle name).
BUNDLE_NAME = "dags-folder"


class DagTagResponse(BaseModel):
    name: str
    dag_id: str


class DAGResponse(BaseModel):
    """A DAG as listed: its ``dag`` row, tags and whether its file failed to import."""

    dag_id: str
    dag_display_name: str
    is_paused: bool
    is_stale: bool
    last_parsed_time: datetime | None
    last_parse_duration: float | None
    last_expired: datetime | None
    bundle_name: str | None
    bundle_version: str | None
    relative_fileloc: str | None
    fileloc: str
    description: str | None
    timetable_summary: str | None
    timetable_description: str | None
    tags: list[DagTagResponse]
    max_active_tasks: int
    max_active_runs: int | None
    max_consecutive_failed_dag_runs: int
    has_task_concurrency_limits: bool
    has_import_errors: bool
    next_dagrun_logical_date: datetime | None
    next_dagrun_data_interval_start: datetime | None
    next_dagrun_data_interval_end: datetime | None
    next_dagrun_run_after: datetime | None
    owners: list[str]
    file_token: str


class DAGCollectionResponse(BaseModel):
    dags: list[DAGResponse]
    total_entries: int


class DAGDetailsResponse(DAGResponse):
    """A DAG with what its latest serialized version says (schedule, params, docs...)."""

    catchup: bool
    dag_run_timeout: timedelta | None
    asset_expression: dict[str, Any] | None
    doc_md: str | None
    start_date: datetime | None
    end_date: datetime | None
    is_paused_upon_creation: bool | None
    params: dict[str, Any] | None
    render_template_as_native_obj: bool
    template_search_path: list[str] | None
    timezone: str | None
    last_parsed: datetime | None
    default_args: dict[str, Any] | None
    owner_links: dict[str, str] | None
    is_favorite: bool
    active_runs_count: int
    concurrency: int
    latest_dag_version: DagVersionResponse | None


class DAGPatchBody(StrictModel):
    """``PATCH /dags/{dag_id}`` and ``PATCH /dags``: only ``is_paused`` may change."""

    is_paused: bool
