"""``/importErrors`` (v2 and v1): DAG files that failed to load, with their tracebacks.

Reading them needs ``can_read`` on ``ImportError``, which only built-in roles grant, and
those read every DAG, so no traceback needs hiding from a caller who may read only some of
the DAGs a file defines (Airflow redacts those).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tradewind.api.auth.principal import Principal
from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PageDep, PrincipalDep, SessionDep, order_by
from tradewind.api.errors import ApiError
from tradewind.api.routes.dag_params import Int32Path
from tradewind.api.schemas.dags import BUNDLE_NAME
from tradewind.api.schemas.import_errors import (
    ImportErrorCollectionResponse,
    ImportErrorCollectionV1,
    ImportErrorResponse,
    ImportErrorV1,
)
from tradewind.db.queries import import_error_listing as q

router = APIRouter(tags=["Import Error"])
v1_router = APIRouter(tags=["ImportError"])

_V1_ORDERABLE = {k: q.ORDERABLE[k] for k in ("import_error_id", "timestamp", "filename")}


def _response(row: Any) -> ImportErrorResponse:
    return ImportErrorResponse(
        import_error_id=row.id,
        timestamp=row.timestamp,
        filename=row.filename,
        bundle_name=BUNDLE_NAME,
        stack_trace=row.stacktrace,
    )


def _v1(row: Any) -> ImportErrorV1:
    return ImportErrorV1(
        import_error_id=row.id,
        timestamp=row.timestamp,
        filename=row.filename,
        stack_trace=row.stacktrace,
    )


def _get(session: SessionDep, principal: Principal, import_error_id: int) -> Any:
    principal.require(Action.READ, Resource.IMPORT_ERROR)
    row = q.get_import_error(session, import_error_id)
    if row is None:
        raise ApiError(
            404, f"The ImportError with import_error_id: `{import_error_id}` was not found"
        )
    return row


@router.get("/importErrors/{import_error_id}")
def get_import_error(
    import_error_id: Int32Path, session: SessionDep, principal: PrincipalDep
) -> ImportErrorResponse:
    return _response(_get(session, principal, import_error_id))


@router.get("/importErrors")
def get_import_errors(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    filename_pattern: Annotated[
        str | None, Query(description="SQL LIKE expression matched anywhere in the file name")
    ] = None,
    order: Annotated[list[str], Query(alias="order_by")] = [],  # noqa: B006
) -> ImportErrorCollectionResponse:
    principal.require(Action.READ, Resource.IMPORT_ERROR)
    rows, total = q.list_import_errors(
        session,
        filename_pattern=filename_pattern,
        order=order_by(order, q.ORDERABLE, "id"),
        limit=page.limit,
        offset=page.offset,
    )
    return ImportErrorCollectionResponse(
        import_errors=[_response(r) for r in rows], total_entries=total
    )


@v1_router.get("/importErrors/{import_error_id}")
def get_import_error_v1(
    import_error_id: Int32Path, session: SessionDep, principal: PrincipalDep
) -> ImportErrorV1:
    return _v1(_get(session, principal, import_error_id))


@v1_router.get("/importErrors")
def get_import_errors_v1(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    order: Annotated[str | None, Query(alias="order_by")] = None,
) -> ImportErrorCollectionV1:
    principal.require(Action.READ, Resource.IMPORT_ERROR)
    rows, total = q.list_import_errors(
        session,
        order=order_by(order, _V1_ORDERABLE, "import_error_id"),
        limit=page.limit,
        offset=page.offset,
    )
    return ImportErrorCollectionV1(import_errors=[_v1(r) for r in rows], total_entries=total)
