"""``/api/v2/dags/{dag_id}/dagVersions``: the DAG's serialized versions (``~``: every DAG's)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PageDep, PrincipalDep, SessionDep, order_by
from tradewind.api.errors import ApiError
from tradewind.api.routes.dag_params import Int32Path, Int32Query
from tradewind.api.schemas.dag_versions import DAGVersionCollectionResponse, DagVersionResponse
from tradewind.api.schemas.dags import BUNDLE_NAME
from tradewind.db.queries import dag_versions as q
from tradewind.db.queries.dag_listing import dag_row

router = APIRouter(tags=["DagVersion"])


def version_response(row: Any) -> DagVersionResponse:
    return DagVersionResponse(
        id=row.id,
        version_number=row.version_number,
        dag_id=row.dag_id,
        bundle_name=BUNDLE_NAME,
        bundle_version=None,
        created_at=row.created_at,
        dag_display_name=row.dag_display_name,
        bundle_url=None,
    )


@router.get("/dags/{dag_id}/dagVersions/{version_number}")
def get_dag_version(
    dag_id: str, version_number: Int32Path, session: SessionDep, principal: PrincipalDep
) -> DagVersionResponse:
    """One version of a DAG."""
    principal.require(Action.READ, Resource.DAG_VERSION, dag_id)
    row = q.get_version(session, dag_id, version_number)
    if row is None:
        raise ApiError(
            404,
            f"The DagVersion with dag_id: `{dag_id}` and version_number: `{version_number}` "
            "was not found",
        )
    return version_response(row)


@router.get("/dags/{dag_id}/dagVersions")
def get_dag_versions(
    dag_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    version_number: Int32Query = None,
    bundle_name: str | None = None,
    bundle_version: str | None = None,
    order: Annotated[list[str], Query(alias="order_by")] = [],  # noqa: B006
) -> DAGVersionCollectionResponse:
    """The versions of a DAG, or of every DAG the caller may read with ``~``."""
    readable: frozenset[str] | None = None
    if dag_id == "~":
        ids = principal.dag_ids_with(Action.READ, Resource.DAG_VERSION)
        if ids is not None and not ids:
            raise ApiError(403, "Forbidden: your roles do not allow can_read on any DAG version")
        readable = None if ids is None else frozenset(ids)
    else:
        principal.require(Action.READ, Resource.DAG_VERSION, dag_id)
        if dag_row(session, dag_id) is None:
            raise ApiError(404, f"The Dag with ID: `{dag_id}` was not found")
    clauses = order_by(order, q.VERSION_ORDERABLE, "id")
    rows, total = q.list_versions(
        session,
        dag_id=None if dag_id == "~" else dag_id,
        dag_ids=readable,
        version_number=version_number,
        match_nothing=(bundle_name not in (None, BUNDLE_NAME)) or bundle_version is not None,
        order=clauses,
        limit=page.limit,
        offset=page.offset,
    )
    return DAGVersionCollectionResponse(
        dag_versions=[version_response(r) for r in rows], total_entries=total
    )
