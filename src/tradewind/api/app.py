"""The API application: routers, authentication, error bodies and the request size limit.

Every module in :mod:`tradewind.api.routes` may export ``router`` (mounted at ``/api/v2``
behind authentication), ``v1_router`` (``/api/v1``, authenticated), and ``public_router``
(mounted at the root, no credentials: health and tokens only).

>>> from sqlalchemy import create_engine
>>> app = create_app(create_engine("sqlite://"))
>>> "/api/v2/monitor/health" in app.openapi()["paths"]
True
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from fastapi import Depends, FastAPI, Request
from sqlalchemy import Engine

from tradewind.api import errors, routes
from tradewind.api.auth.authenticate import Authenticator
from tradewind.api.auth.rate_limit import FailedLogins
from tradewind.api.auth.tokens import TokenSigner
from tradewind.api.deps import authenticate
from tradewind.api.settings import ApiSettings
from tradewind.db.queries.dags import SerializedDagCache

V2_PREFIX = "/api/v2"
V1_PREFIX = "/api/v1"


class BodySizeLimit:
    """413 for a request body over ``limit`` bytes, declared or streamed."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.limit:
                    await self._refuse(send)
                    return
        seen = 0
        limit = self.limit

        async def limited_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        response = errors.problem(
            413, f"Request body too large: the limit is {self.limit} bytes (api.max_body_bytes)"
        )
        await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


class _TooLarge(Exception):
    pass


def route_modules() -> list[Any]:
    return [
        importlib.import_module(f"{routes.__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(routes.__path__), key=lambda i: i.name)
    ]


def create_app(engine: Engine, settings: ApiSettings | None = None) -> FastAPI:
    """The API for the metadata DB behind ``engine``."""
    from tradewind import __version__

    settings = settings or ApiSettings()
    app = FastAPI(
        # Served below behind authentication: only health and tokens answer anonymously.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        title="Tradewind API",
        description="Airflow-compatible REST API of Tradewind (Airflow 3 stable API at "
        "/api/v2, Airflow 2's most used resources at /api/v1).",
        version=__version__,
    )
    app.state.engine = engine
    app.state.settings = settings
    # Serialized DAGs by version id, parsed once for every route and thread.
    app.state.dag_cache = SerializedDagCache()
    app.state.authenticator = Authenticator(
        engine,
        TokenSigner(engine, settings.secret_key, settings.access_token_expiration),
        FailedLogins(settings.failed_login_limit, settings.failed_login_window),
    )
    errors.install(app)
    secured = [Depends(authenticate)]
    for module in route_modules():
        documented = errors.ERROR_RESPONSES
        if (public := getattr(module, "public_router", None)) is not None:
            app.include_router(public, responses=documented)
        if (v2 := getattr(module, "router", None)) is not None:
            app.include_router(v2, prefix=V2_PREFIX, dependencies=secured, responses=documented)
        if (v1 := getattr(module, "v1_router", None)) is not None:
            app.include_router(v1, prefix=V1_PREFIX, dependencies=secured, responses=documented)
    _add_docs(app)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    return app


def _docs_caller(request: Request) -> None:
    """Any signed-in user may read the schema; a browser without credentials is asked for
    them (HTTP Basic), so ``/docs`` works from its address bar."""
    if not request.headers.get("authorization"):
        raise errors.ApiError(
            401, "Not authenticated", {"WWW-Authenticate": 'Basic realm="tradewind"'}
        )
    authenticate(request)


def _add_docs(app: FastAPI) -> None:
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse, JSONResponse

    signed_in = [Depends(_docs_caller)]

    @app.get("/openapi.json", include_in_schema=False, dependencies=signed_in)
    def openapi_schema() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=signed_in)
    def interactive_docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs")
