"""A DAG's source file: ``GET /api/v2/dagSources/{dag_id}`` and Airflow 2's
``GET /api/v1/dagSources/{file_token}``, as JSON or plain text by the ``Accept`` header.

Tradewind keeps the source of each DAG's file as last parsed, so the latest version has
its source; an older version's ``content`` is null.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PrincipalDep, SessionDep
from tradewind.api.errors import ApiError, ProblemDetail
from tradewind.api.routes.dag_bodies import dag_id_of_token, json_response
from tradewind.api.routes.dag_params import Int32Query
from tradewind.api.schemas.dag_sources import DAGSourceResponse
from tradewind.db.queries import dag_versions as q
from tradewind.db.queries.dag_listing import dag_row

router = APIRouter(tags=["DagSource"])
v1_router = APIRouter(tags=["DAG"])

_TEXT = "text/plain"
_JSON = "application/json"
_TEXT_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {_TEXT: {"schema": {"type": "string"}}}},
    406: {"model": ProblemDetail, "description": "Not Acceptable"},
}


@router.get("/dagSources/{dag_id}", response_model=DAGSourceResponse, responses=_TEXT_RESPONSES)
def get_dag_source(
    dag_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    accept: Annotated[str, Header()] = "*/*",
    version_number: Int32Query = None,
) -> Response:
    """The DAG's source (of its latest version, or of ``version_number``)."""
    principal.require(Action.READ, Resource.DAG_CODE, dag_id)
    if accept.startswith("*/*") or accept.startswith(_JSON):
        as_text = False
    elif accept.startswith(_TEXT):
        as_text = True
    else:
        raise ApiError(406, "Only application/json or text/plain is supported")
    row = dag_row(session, dag_id)
    latest = q.latest_version_number(session, dag_id) if row is not None else None
    if latest is None or (
        version_number is not None and q.get_version(session, dag_id, version_number) is None
    ):
        raise ApiError(
            404,
            f"The source code of the DAG {dag_id}, version_number {version_number} was not found",
        )
    number = latest if version_number is None else version_number
    content = q.source_of(session, dag_id) if number == latest else None
    if as_text:
        return Response(content or "", media_type=_TEXT)
    assert row is not None
    return json_response(
        {
            "content": content,
            "dag_id": dag_id,
            "version_number": number,
            "dag_display_name": row.dag_display_name or dag_id,
        }
    )


@v1_router.get("/dagSources/{file_token}", responses=_TEXT_RESPONSES)
def get_dag_source_v1(
    file_token: str,
    session: SessionDep,
    principal: PrincipalDep,
    accept: Annotated[str, Header()] = "*/*",
) -> Response:
    """Airflow 2's source by ``file_token`` (from a DAG's body): text unless JSON is asked."""
    dag_id = dag_id_of_token(file_token)
    if dag_id is None:
        raise ApiError(404, "Dag source not found")
    principal.require(Action.READ, Resource.DAG_CODE, dag_id)
    content = q.source_of(session, dag_id) if dag_row(session, dag_id) is not None else None
    if content is None:
        raise ApiError(404, "Dag source not found")
    kinds = [part.split(";")[0].strip() for part in accept.split(",")]
    if any(k in (_TEXT, "*/*", "text/*", "") for k in kinds):
        return Response(content, media_type=_TEXT)
    if _JSON in kinds:
        return json_response({"content": content})
    raise ApiError(406, "Not Allowed Accept Header")
