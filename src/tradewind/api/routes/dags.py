"""``/api/v2/dags``: list (filters, pages, ordering), get, pause and unpause, one or many.

A caller sees the DAGs it may read and changes those it may edit; one that may read none
gets 403. Deleting is in :mod:`.dag_delete`, details in :mod:`.dag_details`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from tradewind.api.auth.principal import Principal
from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PrincipalDep, SessionDep, order_by, page
from tradewind.api.errors import ApiError
from tradewind.api.routes.dag_bodies import dag_body, encode, json_response
from tradewind.api.routes.dag_params import DagListQuery, DagPatchQuery
from tradewind.api.schemas.dags import DAGCollectionResponse, DAGPatchBody, DAGResponse
from tradewind.db.queries import audit
from tradewind.db.queries import dag_listing as q

router = APIRouter(tags=["DAG"])

T = TypeVar("T")


def readable_dags(principal: Principal, action: Action = Action.READ) -> frozenset[str] | None:
    """The DAGs the caller may ``action`` (``None``: all); 403 when it may touch none."""
    ids = principal.dag_ids_with(action, Resource.DAG)
    if ids is not None and not ids:
        raise ApiError(403, f"Forbidden: your roles do not allow {action.value} on any DAG")
    return None if ids is None else frozenset(ids)


def page_body(rows: list[Any], total: int) -> dict[str, Any]:
    return {"dags": [dag_body(r) for r in rows], "total_entries": total}


def _not_found(dag_id: str) -> ApiError:
    return ApiError(404, f"The Dag with ID: `{dag_id}` was not found")


@router.get("/dags", response_model=DAGCollectionResponse)
async def get_dags(
    request: Request, principal: PrincipalDep, query: Annotated[DagListQuery, Query()]
) -> Response:
    """The DAGs the caller may read, filtered, ordered and paged as Airflow's ``GET /dags``.

    The API's busiest read, so it hops to a worker thread once (session, access check,
    query and body together) instead of once per dependency; see :mod:`.dag_bodies`."""
    order_by(query.order_by, q.ORDERABLE, "dag_id")  # 400 for a name not in it
    pages = page(request, query.limit, query.offset)

    def work(session: Session) -> bytes:
        filters = query.filters(readable_dags(principal))
        rows, total = q.list_dags(
            session, filters, order=query.order_by, limit=pages.limit, offset=pages.offset
        )
        return encode(page_body(rows, total))

    return json_response(await in_session(request, work))


async def in_session(request: Request, work: Callable[[Session], T]) -> T:
    """``work(session)`` in a worker thread, in a transaction committed when it returns
    (as :data:`~tradewind.api.deps.SessionDep` gives, without a thread hop per step)."""

    def run() -> T:
        engine = request.app.state.engine
        with Session(engine, expire_on_commit=False) as session, session.begin():
            return work(session)

    return await run_in_threadpool(run)


@router.get("/dags/{dag_id}", response_model=DAGResponse)
def get_dag(dag_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """One DAG as the listing shows it (stale DAGs too)."""
    principal.require(Action.READ, Resource.DAG, dag_id)
    row = q.get_dag(session, dag_id)
    if row is None:
        raise _not_found(dag_id)
    return json_response(dag_body(row))


def check_update_mask(update_mask: list[str] | None) -> None:
    """Only ``is_paused`` can change: another name in ``update_mask`` is a 400."""
    names = [n.strip() for item in update_mask or [] for n in item.split(",") if n.strip()]
    if names and names != ["is_paused"]:
        raise ApiError(400, "Only `is_paused` field can be updated through the REST API")


@router.patch("/dags/{dag_id}", response_model=DAGResponse)
def patch_dag(
    dag_id: str,
    body: DAGPatchBody,
    session: SessionDep,
    principal: PrincipalDep,
    background: BackgroundTasks,
    update_mask: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """Pause or unpause one DAG."""
    principal.require(Action.EDIT, Resource.DAG, dag_id)
    check_update_mask(update_mask)
    row = q.dag_row(session, dag_id)
    if row is None:
        raise ApiError(404, f"Dag with id: {dag_id} was not found")
    was_paused = row.is_paused
    row.is_paused = body.is_paused
    audit.record(
        session, "patch_dag", dag_id=dag_id, owner=principal.username, extra=body.model_dump()
    )
    session.flush()
    found = q.get_dag(session, dag_id)
    assert found is not None
    if was_paused and not body.is_paused:
        background.add_task(wake_scheduler)
    return json_response(dag_body(found))


@router.patch("/dags", response_model=DAGCollectionResponse)
def patch_dags(
    body: DAGPatchBody,
    session: SessionDep,
    principal: PrincipalDep,
    background: BackgroundTasks,
    request: Request,
    query: Annotated[DagPatchQuery, Query()],
) -> Response:
    """Pause or unpause every DAG the filters select and the caller may edit; the answer
    is a page of them. Without ``dag_id_pattern`` nothing is selected (``~`` is all)."""
    editable = readable_dags(principal, Action.EDIT)
    check_update_mask(query.update_mask)
    pages = page(request, query.limit, query.offset)
    filters = replace(query.filters(editable), match_nothing=query.dag_id_pattern is None)
    changed = set_paused_audited(session, principal, q.matching_dag_ids(session, filters), body)
    if changed and not body.is_paused:
        background.add_task(wake_scheduler)
    # Whatever the filter on ``paused`` was, the answer lists the DAGs that were selected.
    selected = q.DagFilters(
        dag_ids=frozenset(changed), exclude_stale=False, match_nothing=not changed
    )
    rows, total = q.list_dags(session, selected, limit=pages.limit, offset=pages.offset)
    return json_response(page_body(rows, total))


def set_paused_audited(
    session: Session, principal: Principal, dag_ids: list[str], body: DAGPatchBody
) -> list[str]:
    """Set ``is_paused`` on ``dag_ids`` with an audit row each; returns ``dag_ids``."""
    q.set_paused(session, dag_ids, body.is_paused)
    for dag_id in dag_ids:
        audit.record(
            session,
            "patch_dags",
            dag_id=dag_id,
            owner=principal.username,
            extra=body.model_dump(),
        )
    session.flush()
    return dag_ids


def wake_scheduler() -> None:
    """An unpaused DAG may be due now: tell a local scheduler (a hint; nothing if none).
    Run as a background task, after the change is committed."""
    from tradewind.scheduler.wakeup import notify

    notify()
