"""``GET /api/v2/dags/{dag_id}/details``: the DAG row with what its latest serialized version
says (schedule, dates, params, docs), read from the stored JSON without importing its file.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session

from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PrincipalDep, SessionDep
from tradewind.api.errors import ApiError
from tradewind.api.routes.dag_bodies import dag_body
from tradewind.api.schemas.dags import BUNDLE_NAME, DAGDetailsResponse
from tradewind.db.models import SerializedDagModel
from tradewind.db.queries import dag_listing as q
from tradewind.db.queries.dags import latest_version

router = APIRouter(tags=["DAG"])

#: What ``params`` entries say they are (Airflow's ``Param.dump()`` names its class too).
PARAM_CLASS = "tradewind.sdk.params.Param"


@dataclass
class DagDetails:
    """What a details answer is made of: the listed row and the latest version."""

    row: Any
    version: SerializedDagModel
    active_runs: int

    @property
    def body(self) -> dict[str, Any]:
        """The serialized DAG's own fields (``"dag"`` of the stored JSON)."""
        data: dict[str, Any] = self.version.data.get("dag", {})
        return data


def load_details(session: Session, dag_id: str) -> DagDetails:
    """The parts of a details answer; 404 for an unknown DAG or one never serialized."""
    row = q.get_dag(session, dag_id)
    version = latest_version(session, dag_id) if row is not None else None
    if row is None or version is None:
        raise ApiError(404, f"The Dag with ID: `{dag_id}` was not found")
    return DagDetails(row, version, q.active_run_count(session, dag_id))


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def as_timedelta(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


def params_body(items: list[list[Any]]) -> dict[str, Any]:
    """The DAG's params as Airflow dumps them: value (the default), description, schema."""
    return {
        name: {
            "__class": PARAM_CLASS,
            "value": spec.get("default"),
            "description": spec.get("description"),
            "schema": spec.get("schema") or {},
        }
        for name, spec in items
    }


def timezone_of(body: dict[str, Any]) -> str:
    """The schedule's time zone (``UTC`` when it names none)."""
    args = (body.get("timetable") or {}).get("args") or {}
    zone = args.get("timezone")
    return str(zone) if zone not in (None, "") else "UTC"


def version_body(version: SerializedDagModel, display_name: str) -> dict[str, Any]:
    """Airflow 3's ``DagVersionResponse`` for a ``serialized_dag`` row."""
    return {
        "id": version.id,
        "version_number": version.version_number,
        "dag_id": version.dag_id,
        "bundle_name": BUNDLE_NAME,
        "bundle_version": None,
        "created_at": version.created_at,
        "dag_display_name": display_name,
        "bundle_url": None,
    }


def details_body(details: DagDetails) -> dict[str, Any]:
    """Airflow 3's ``DAGDetailsResponse``."""
    out = dag_body(details.row)
    body = details.body
    doc_md = body.get("doc_md")
    out.update(
        catchup=bool(body.get("catchup", False)),
        dag_run_timeout=as_timedelta(body.get("dagrun_timeout")),
        asset_expression=None,
        doc_md=None if doc_md is None else inspect.cleandoc(doc_md),
        start_date=_dt(body.get("start_date")),
        end_date=_dt(body.get("end_date")),
        is_paused_upon_creation=body.get("is_paused_upon_creation"),
        params=params_body(body.get("params") or []),
        render_template_as_native_obj=bool(body.get("render_template_as_native_obj", False)),
        template_search_path=body.get("template_searchpath") or None,
        timezone=timezone_of(body),
        last_parsed=details.row.last_parsed_time,
        default_args=None,
        owner_links=body.get("owner_links") or {},
        is_favorite=False,
        active_runs_count=details.active_runs,
        concurrency=details.row.max_active_tasks,
        latest_dag_version=version_body(details.version, out["dag_display_name"]),
    )
    return out


@router.get("/dags/{dag_id}/details")
def get_dag_details(
    dag_id: str, session: SessionDep, principal: PrincipalDep
) -> DAGDetailsResponse:
    """One DAG with its schedule, dates, params and docs from its latest version."""
    principal.require(Action.READ, Resource.DAG, dag_id)
    return DAGDetailsResponse.model_validate(details_body(load_details(session, dag_id)))
