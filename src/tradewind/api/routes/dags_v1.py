"""``/api/v1/dags``: Airflow 2's DAG endpoints (list, get, details, pause one or many).

Airflow 2 answers bad bodies and parameters with 400 (not 422), takes ``fields`` to return
only some fields, and its bulk ``PATCH /dags`` changes the DAGs of the requested page only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Query, Response
from pydantic import ValidationError

from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PageDep, PrincipalDep, SessionDep, order_by
from tradewind.api.errors import ApiError
from tradewind.api.routes.dag_bodies import dag_body_v1, json_response, timedelta_v1
from tradewind.api.routes.dag_details import as_timedelta, load_details, params_body, timezone_of
from tradewind.api.routes.dags import (
    check_update_mask,
    readable_dags,
    set_paused_audited,
    wake_scheduler,
)
from tradewind.api.schemas.dags import DAGPatchBody
from tradewind.api.schemas.dags_v1 import DAGV1, DAGCollectionV1, DAGDetailV1
from tradewind.db.queries import dag_listing as q

v1_router = APIRouter(tags=["DAG"])

_ORDERABLE_V1 = {k: v for k, v in q.ORDERABLE.items() if not k.startswith("last_run")}
_DAG_FIELDS = frozenset(DAGV1.model_fields)
_DETAIL_FIELDS = frozenset(DAGDetailV1.model_fields)


def _only(
    body: dict[str, Any], fields: list[str] | None, allowed: frozenset[str]
) -> dict[str, Any]:
    """``body`` with only the ``fields`` asked for (all without ``fields``); 400 for a name
    the schema does not have."""
    names = [n.strip() for item in fields or [] for n in item.split(",") if n.strip()]
    if not names:
        return body
    unknown = sorted(set(names) - allowed)
    if unknown:
        raise ApiError(400, f"Invalid fields: {', '.join(unknown)}")
    return {name: body[name] for name in names}


def _rows_body(rows: list[Any]) -> list[dict[str, Any]]:
    return [dag_body_v1(r) for r in rows]


@v1_router.get("/dags", response_model=DAGCollectionV1)
def get_dags_v1(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    tags: Annotated[list[str], Query()] = [],  # noqa: B006
    only_active: bool = True,
    paused: bool | None = None,
    dag_id_pattern: str | None = None,
    order: Annotated[str | None, Query(alias="order_by")] = None,
    fields: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """The DAGs the caller may read (``dag_id_pattern`` matches anywhere in the id)."""
    filters = q.DagFilters(
        dag_ids=readable_dags(principal),
        exclude_stale=only_active,
        paused=paused,
        dag_id_pattern=dag_id_pattern or None,
        tags=tuple(tags),
    )
    order_by(order, _ORDERABLE_V1, "dag_id")  # 400 for a name not in it
    rows, total = q.list_dags(
        session, filters, order=[order] if order else [], limit=page.limit, offset=page.offset
    )
    dags = [_only(d, fields, _DAG_FIELDS) for d in _rows_body(rows)]
    return json_response({"dags": dags, "total_entries": total})


@v1_router.get("/dags/{dag_id}", response_model=DAGV1)
def get_dag_v1(
    dag_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    fields: Annotated[list[str] | None, Query()] = None,
) -> Response:
    principal.require(Action.READ, Resource.DAG, dag_id)
    row = q.get_dag(session, dag_id)
    if row is None:
        raise ApiError(404, f"The DAG with dag_id: {dag_id} was not found")
    return json_response(_only(_rows_body([row])[0], fields, _DAG_FIELDS))


@v1_router.get("/dags/{dag_id}/details", response_model=DAGDetailV1)
def get_dag_details_v1(
    dag_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    fields: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """The DAG with what its latest serialized version says (Airflow 2's ``DAGDetail``)."""
    principal.require(Action.READ, Resource.DAG, dag_id)
    details = load_details(session, dag_id)
    out = dag_body_v1(details.row)
    body = details.body
    out.update(
        timezone=timezone_of(body),
        catchup=bool(body.get("catchup", False)),
        orientation="LR",
        concurrency=details.row.max_active_tasks,
        start_date=body.get("start_date"),
        dag_run_timeout=timedelta_v1(as_timedelta(body.get("dagrun_timeout"))),
        dataset_expression=None,
        doc_md=body.get("doc_md"),
        params=params_body(body.get("params") or []),
        end_date=body.get("end_date"),
        is_paused_upon_creation=body.get("is_paused_upon_creation"),
        last_parsed=details.row.last_parsed_time,
        template_search_path=body.get("template_searchpath") or None,
        render_template_as_native_obj=bool(body.get("render_template_as_native_obj", False)),
    )
    return json_response(_only(out, fields, _DETAIL_FIELDS))


def _patch_body(raw: dict[str, Any], update_mask: list[str] | None) -> DAGPatchBody:
    """The change a v1 PATCH asks for: a DAG body (its read-only fields are ignored, as
    when a client sends back what it read) with ``is_paused``; 400 otherwise."""
    check_update_mask(update_mask)
    unknown = sorted(set(raw) - _DETAIL_FIELDS)
    if unknown:
        raise ApiError(400, f"Unknown field(s) in the body: {', '.join(unknown)}")
    try:
        return DAGPatchBody.model_validate({"is_paused": raw.get("is_paused")})
    except ValidationError:
        raise ApiError(400, "is_paused: a boolean is required") from None


@v1_router.patch("/dags/{dag_id}", response_model=DAGV1)
def patch_dag_v1(
    dag_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    raw: Annotated[dict[str, Any], Body()],
    background: BackgroundTasks,
    update_mask: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """Pause or unpause one DAG."""
    principal.require(Action.EDIT, Resource.DAG, dag_id)
    body = _patch_body(raw, update_mask)
    if q.get_dag(session, dag_id) is None:
        raise ApiError(404, f"Dag with id: '{dag_id}' not found")
    set_paused_audited(session, principal, [dag_id], body)
    if not body.is_paused:
        background.add_task(wake_scheduler)
    row = q.get_dag(session, dag_id)
    return json_response(_rows_body([row])[0])


@v1_router.patch("/dags", response_model=DAGCollectionV1)
def patch_dags_v1(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    raw: Annotated[dict[str, Any], Body()],
    background: BackgroundTasks,
    dag_id_pattern: str | None = None,
    tags: Annotated[list[str], Query()] = [],  # noqa: B006
    only_active: bool = True,
    update_mask: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """Pause or unpause the page of DAGs whose id matches ``dag_id_pattern`` (``~``: all)."""
    editable = readable_dags(principal, Action.EDIT)
    if not dag_id_pattern:
        raise ApiError(400, "Missing query parameter 'dag_id_pattern' (use ~ for every DAG)")
    body = _patch_body(raw, update_mask)
    filters = q.DagFilters(
        dag_ids=editable,
        exclude_stale=only_active,
        dag_id_pattern=dag_id_pattern,
        tags=tuple(tags),
    )
    rows, total = q.list_dags(session, filters, limit=page.limit, offset=page.offset)
    changed = set_paused_audited(session, principal, [r.dag_id for r in rows], body)
    if changed and not body.is_paused:
        background.add_task(wake_scheduler)
    page_filter = q.DagFilters(dag_ids=frozenset(changed), exclude_stale=False)
    rows, _ = q.list_dags(session, page_filter, with_count=False)
    return json_response({"dags": _rows_body(rows), "total_entries": total})
