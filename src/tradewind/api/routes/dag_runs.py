"""Reading DAG runs (``/api/v2``): list one DAG's or every readable DAG's (``~``), list with
a body, get one. Changes to runs are in :mod:`tradewind.api.routes.dag_run_actions`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PageDep, PrincipalDep, SessionDep, SettingsDep, order_by
from tradewind.api.errors import ApiError
from tradewind.api.routes.dag_run_common import (
    check_sort,
    find_run,
    listed_dags,
    readable_dags,
    utc,
)
from tradewind.api.schemas.dag_runs import (
    DAGRunCollectionResponse,
    DagRunListQuery,
    DAGRunResponse,
    DAGRunsBatchBody,
)
from tradewind.db.models import DagRun
from tradewind.db.queries import dagrun_listing
from tradewind.db.queries.dagrun_listing import Bounds, RunFilter
from tradewind.states import DagRunState
from tradewind.timetables.run_id import RUN_TYPES

router = APIRouter(tags=["DagRun"])


def respond(session: Session, rows: list[tuple[DagRun, str | None]]) -> list[DAGRunResponse]:
    """Responses for runs with their DAG's display name: one query for their versions."""
    versions = dagrun_listing.versions_by_id(session, [run.dag_version_id for run, _ in rows])
    return [DAGRunResponse.of(run, name, versions) for run, name in rows]


def _bounds(values: dict[str, Any], name: str) -> Bounds | None:
    found = {op: values.get(f"{name}_{op}") for op in ("gte", "gt", "lte", "lt")}
    if all(v is None for v in found.values()):
        return None
    if name != "duration":
        found = {op: utc(v, f"{name}_{op}") for op, v in found.items()}
    return Bounds(**found)


def _ranges(values: dict[str, Any], names: tuple[str, ...]) -> dict[str, Bounds]:
    return {name: b for name in names if (b := _bounds(values, name)) is not None}


def _checked(values: list[str], valid: tuple[str, ...], what: str) -> list[str | None]:
    """Airflow's reading of ``state`` / ``run_type`` values (``none`` is "no value")."""
    if any(v not in valid and v != "none" for v in values):
        raise ApiError(422, f"Invalid value for {what}. Valid values are {', '.join(valid)}")
    return [None if v == "none" else v for v in values]


def page_of(
    session: Session,
    run_filter: RunFilter,
    sort: list[str] | str | None,
    limit: int,
    offset: int,
) -> DAGRunCollectionResponse:
    check_sort(sort)
    dialect = session.get_bind().dialect.name
    order = order_by(sort, dagrun_listing.order_columns(dialect), "id")
    rows, total = dagrun_listing.list_runs(session, run_filter, order, limit=limit, offset=offset)
    return DAGRunCollectionResponse(dag_runs=respond(session, rows), total_entries=total)


@router.get("/dags/{dag_id}/dagRuns")
def get_dag_runs(
    dag_id: str,
    query: Annotated[DagRunListQuery, Query()],
    page: PageDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> DAGRunCollectionResponse:
    """The runs of a DAG, or of every DAG the caller may read with ``dag_id`` ``~``."""
    dag_ids, readable = listed_dags(session, principal, dag_id)
    values = query.model_dump()
    states = _checked(query.state, tuple(DagRunState), "state")
    run_types = _checked(query.run_type, RUN_TYPES, "run type")
    run_filter = RunFilter(
        dag_ids=dag_ids,
        readable=readable,
        states=states or None,
        run_types=[t for t in run_types if t is not None] or None,
        ranges=_ranges(values, dagrun_listing.RANGED),
        duration=_bounds(values, "duration"),
        run_id_pattern=query.run_id_pattern,
        dag_id_pattern=query.dag_id_pattern,
        triggering_user_name_pattern=query.triggering_user_name_pattern,
        dag_versions=query.dag_version or None,
        conf_contains=query.conf_contains,
    )
    return page_of(session, run_filter, query.order_by, page.limit, page.offset)


@router.post("/dags/{dag_id}/dagRuns/list")
def get_list_dag_runs_batch(
    dag_id: Literal["~"],
    body: DAGRunsBatchBody,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> DAGRunCollectionResponse:
    """Runs across DAGs, with the filters in the body (``dag_id`` must be ``~``)."""
    readable = readable_dags(principal)
    values = body.model_dump()
    run_filter = RunFilter(
        dag_ids=body.dag_ids or None,
        readable=readable,
        states=[None if s is None else s.value for s in body.states] if body.states else None,
        ranges=_ranges(values, ("run_after", "logical_date", "start_date", "end_date")),
    )
    limit = min(body.page_limit, settings.maximum_page_limit)
    return page_of(session, run_filter, body.order_by, limit, body.page_offset)


@router.get("/dags/{dag_id}/dagRuns/{dag_run_id}")
def get_dag_run(
    dag_id: str, dag_run_id: str, session: SessionDep, principal: PrincipalDep
) -> DAGRunResponse:
    """One run."""
    principal.require(Action.READ, Resource.DAG_RUN, dag_id)
    run, name = find_run(session, dag_id, dag_run_id)
    return respond(session, [(run, name)])[0]
