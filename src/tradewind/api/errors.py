"""Error bodies: Airflow's problem detail (``detail``, ``status``, ``title``, ``type``).

Every error the API returns, from a route, from request validation or from an unexpected
failure, has this body, so clients written for Airflow read ``detail`` as they do there.
Validation errors (422) keep pydantic's list of problems in ``detail``, as Airflow 3 does.
"""

from __future__ import annotations

import logging
import math
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ProblemDetail(BaseModel):
    """The body of every error answer (RFC 7807, as Airflow's API returns them)."""

    detail: Any
    status: int
    title: str
    type: str


#: Documented on every route, so clients and schema checkers know the error bodies.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDetail, "description": HTTPStatus(status).phrase}
    for status in (400, 401, 403, 404, 409, 413, 429)
}


class ApiError(Exception):
    """Raise from a route to answer with a problem detail.

    >>> ApiError(404, "The DAG with dag_id: `x` was not found").status
    404
    """

    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


def not_found(detail: str) -> ApiError:
    return ApiError(404, detail)


def problem(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = {"detail": detail, "status": status, "title": title, "type": "about:blank"}
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers)


def _validation_detail(err: RequestValidationError) -> list[dict[str, Any]]:
    detail = []
    for item in err.errors():
        entry = {k: v for k, v in item.items() if k in ("type", "loc", "msg", "input", "ctx")}
        if "ctx" in entry:
            entry["ctx"] = {k: str(v) for k, v in entry["ctx"].items()}
        if "input" in entry:
            entry["input"] = _json_safe(entry["input"])
        detail.append(entry)
    return detail


def _json_safe(value: Any) -> Any:
    """The rejected input as JSON can carry it: NaN and infinities (which a client may send,
    and JSON cannot answer) become text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return problem(exc.status, exc.detail, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, exc.detail, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, _validation_detail(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error serving %s %s", request.method, request.url.path)
        return problem(500, "Internal error: the server's log has the details.")
