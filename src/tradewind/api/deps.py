"""What routes take as parameters: a DB session, the caller, a page, an ordering.

Routers exported as ``router`` are mounted behind :func:`authenticate`, so a route cannot
forget authentication; a route reads the caller with ``principal: PrincipalDep`` and checks
what it does with ``principal.require(Action.X, Resource.Y, dag_id)`` (403 otherwise).

Example route::

    @router.get("/pools/{pool_name}")
    def get_pool(pool_name: str, session: SessionDep, principal: PrincipalDep) -> PoolResponse:
        principal.require(Action.READ, Resource.POOL)
        ...
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tradewind.api.auth.principal import Principal
from tradewind.api.errors import ApiError
from tradewind.api.settings import ApiSettings


def get_session(request: Request) -> Iterator[Session]:
    """A session committed when the route returns, rolled back when it raises."""
    engine: Engine = request.app.state.engine
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def authenticate(request: Request) -> Principal:
    """The caller from ``Authorization: Bearer <token>`` or ``Basic``; 401 without one."""
    header = request.headers.get("authorization")
    if not header:
        raise ApiError(401, "Not authenticated", {"WWW-Authenticate": "Bearer"})
    scheme, _, value = header.partition(" ")
    auth = request.app.state.authenticator
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        principal: Principal = auth.from_token(value)
    elif scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(401, "Malformed Basic credentials") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise ApiError(401, "Malformed Basic credentials")
        principal = auth.from_basic(username, password, _client(request))
    else:
        raise ApiError(401, "Unsupported authorization scheme: use Bearer or Basic")
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


#: The largest integer the databases take (a bigger one is a 422, not a database error).
MAX_INT = 2**63 - 1


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def page(
    request: Request,
    limit: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> Page:
    """``limit`` (default ``api.fallback_page_limit``, at most ``api.maximum_page_limit``)
    and ``offset``, as Airflow reads them."""
    settings: ApiSettings = request.app.state.settings
    if limit is None:
        limit = settings.fallback_page_limit
    return Page(min(limit, settings.maximum_page_limit), offset)


PageDep = Annotated[Page, Depends(page)]


def order_by(values: list[str] | str | None, allowed: Mapping[str, Any], default: str) -> list[Any]:
    """ORDER BY clauses for ``order_by`` values (``name`` or ``-name`` for descending), from
    the ``allowed`` name-to-column map; 400 for a name not in it, as Airflow answers.

    >>> from sqlalchemy import column
    >>> [str(c) for c in order_by("-b", {"a": column("a"), "b": column("b")}, "a")]
    ['b DESC']
    """
    if values is None or values == [] or values == "":
        values = [default]
    elif isinstance(values, str):
        values = [values]
    clauses = []
    for raw in values:
        for item in raw.split(","):
            name = item.strip()
            descending = name.startswith("-")
            name = name.lstrip("-")
            column = allowed.get(name)
            if column is None:
                raise ApiError(
                    400,
                    f"Ordering with '{name}' is disallowed or the attribute does not exist on "
                    f"the model (allowed: {', '.join(sorted(allowed))})",
                )
            clauses.append(column.desc() if descending else column.asc())
    return clauses


def search_pattern(value: str | None, name: str) -> str | None:
    """A ``*_pattern`` filter's value; 400 for text no database can hold.

    >>> search_pattern("etl_%", "dag_id_pattern")
    'etl_%'
    """
    from tradewind.db.queries.search import storable

    if value is not None and not storable(value):
        raise ApiError(400, f"{name} must not contain NUL characters or lone surrogates")
    return value
