"""``/eventLogs`` (v2 and v1): the audit log of who did what to which DAG, run or task."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from tradewind.api.auth.principal import Principal
from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PageDep, PrincipalDep, SessionDep, order_by
from tradewind.api.errors import ApiError
from tradewind.api.routes.dag_params import Int32Path, Int32Query, aware
from tradewind.api.schemas.event_logs import (
    EventLogCollectionResponse,
    EventLogCollectionV1,
    EventLogResponse,
    EventLogV1,
)
from tradewind.db.queries import event_log as q

router = APIRouter(tags=["Event Log"])
v1_router = APIRouter(tags=["EventLog"])

_V1_ORDERABLE = {
    k: q.ORDERABLE[k]
    for k in (
        "event_log_id",
        "when",
        "dag_id",
        "task_id",
        "run_id",
        "event",
        "execution_date",
        "owner",
        "extra",
    )
}


def _response(row: Any) -> EventLogResponse:
    return EventLogResponse(
        event_log_id=row.id,
        when=row.dttm,
        dag_id=row.dag_id,
        task_id=row.task_id,
        run_id=row.run_id,
        map_index=row.map_index,
        try_number=row.try_number,
        event=row.event,
        logical_date=row.logical_date,
        owner=row.owner,
        owner_display_name=None,
        extra=row.extra,
        dag_display_name=row.dag_display_name or row.dag_id,
        task_display_name=row.task_display_name,
    )


def _v1(row: Any) -> EventLogV1:
    return EventLogV1(
        event_log_id=row.id,
        when=row.dttm,
        dag_id=row.dag_id,
        task_id=row.task_id,
        run_id=row.run_id,
        map_index=row.map_index,
        try_number=row.try_number,
        event=row.event,
        execution_date=row.logical_date,
        owner=row.owner,
        extra=row.extra,
    )


def _readable(principal: Principal) -> frozenset[str] | None:
    principal.require(Action.READ, Resource.AUDIT_LOG)
    ids = principal.dag_ids_with(Action.READ, Resource.DAG)
    return None if ids is None else frozenset(ids)


def _get(session: SessionDep, principal: Principal, event_log_id: int) -> Any:
    readable = _readable(principal)
    row = q.get_event(session, event_log_id)
    if row is None or (
        readable is not None and row.dag_id is not None and row.dag_id not in readable
    ):
        raise ApiError(404, f"The Event Log with id: `{event_log_id}` not found")
    return row


def common_filters(
    dag_id: str | None = None,
    task_id: str | None = None,
    run_id: str | None = None,
    map_index: Int32Query = None,
    try_number: Int32Query = None,
    owner: str | None = None,
    event: str | None = None,
    before: datetime | None = None,
    after: datetime | None = None,
) -> q.EventFilters:
    """The filters Airflow 2 and 3 share."""
    return q.EventFilters(
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        map_index=map_index,
        try_number=try_number,
        owner=owner,
        event=event,
        before=aware(before),
        after=aware(after),
    )


CommonFilters = Annotated[q.EventFilters, Depends(common_filters)]


@router.get("/eventLogs/{event_log_id}")
def get_event_log(
    event_log_id: Int32Path, session: SessionDep, principal: PrincipalDep
) -> EventLogResponse:
    return _response(_get(session, principal, event_log_id))


@router.get("/eventLogs")
def get_event_logs(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    common: CommonFilters,
    excluded_events: Annotated[list[str] | None, Query()] = None,
    included_events: Annotated[list[str] | None, Query()] = None,
    dag_id_pattern: str | None = None,
    task_id_pattern: str | None = None,
    run_id_pattern: str | None = None,
    owner_pattern: str | None = None,
    event_pattern: str | None = None,
    order: Annotated[list[str], Query(alias="order_by")] = [],  # noqa: B006
) -> EventLogCollectionResponse:
    """Audit rows, filtered as Airflow's ``GET /eventLogs`` (patterns are SQL LIKE
    expressions matched anywhere), oldest first by default."""
    filters = replace(
        common,
        dag_ids=_readable(principal),
        excluded_events=tuple(excluded_events) if excluded_events else None,
        included_events=tuple(included_events) if included_events else None,
        dag_id_pattern=dag_id_pattern,
        task_id_pattern=task_id_pattern,
        run_id_pattern=run_id_pattern,
        owner_pattern=owner_pattern,
        event_pattern=event_pattern,
    )
    rows, total = q.list_events(
        session,
        filters,
        order=order_by(order, q.ORDERABLE, "id"),
        limit=page.limit,
        offset=page.offset,
    )
    return EventLogCollectionResponse(event_logs=[_response(r) for r in rows], total_entries=total)


@v1_router.get("/eventLogs/{event_log_id}")
def get_event_log_v1(
    event_log_id: Int32Path, session: SessionDep, principal: PrincipalDep
) -> EventLogV1:
    return _v1(_get(session, principal, event_log_id))


def _names(value: str | None) -> tuple[str, ...] | None:
    names = tuple(n.strip() for n in (value or "").split(",") if n.strip())
    return names or None


@v1_router.get("/eventLogs")
def get_event_logs_v1(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    common: CommonFilters,
    included_events: Annotated[
        str | None, Query(description="Event names separated by commas")
    ] = None,
    excluded_events: Annotated[
        str | None, Query(description="Event names separated by commas")
    ] = None,
    order: Annotated[str | None, Query(alias="order_by")] = None,
) -> EventLogCollectionV1:
    filters = replace(
        common,
        dag_ids=_readable(principal),
        included_events=_names(included_events),
        excluded_events=_names(excluded_events),
    )
    rows, total = q.list_events(
        session,
        filters,
        order=order_by(order, _V1_ORDERABLE, "event_log_id"),
        limit=page.limit,
        offset=page.offset,
    )
    return EventLogCollectionV1(event_logs=[_v1(r) for r in rows], total_entries=total)
