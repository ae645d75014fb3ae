"""Connections at ``/api/v1`` with Airflow 2's shapes: listed without password or extra,
read without the password (write-only there), created with a plain ``POST`` (200), updated
with a partial body and ``update_mask``. The rules are ``/api/v2``'s
(:mod:`tradewind.api.routes.connections`).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from tradewind.api import deps
from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PageDep, PrincipalDep, SessionDep
from tradewind.api.errors import ApiError
from tradewind.api.routes.connection_probe import probe, require_enabled
from tradewind.api.routes.connections import (
    FIELDS,
    IMMUTABLE,
    add_from_body,
    apply_changes,
    delete_connection,
    not_found,
    probe_target,
    view_of,
)
from tradewind.api.routes.variables import NO_KEY, MaskQuery, OrderQuery
from tradewind.api.schemas.bulk import ActionError, split_mask
from tradewind.api.schemas.connections import (
    ConnectionTestResponse,
    ConnectionV1,
    ConnectionV1Body,
    ConnectionV1Collection,
    ConnectionV1Item,
)
from tradewind.db.queries import audit
from tradewind.db.queries import connections as queries
from tradewind.secrets.masking import sensitive_names

v1_router = APIRouter(tags=["Connection"])


@v1_router.get("/connections")
def get_connections_v1(
    session: SessionDep, principal: PrincipalDep, page: PageDep, order_by: OrderQuery = None
) -> ConnectionV1Collection:
    """Connections without password or extra, as Airflow 2 lists them."""
    principal.require(Action.READ, Resource.CONNECTION)
    order = deps.order_by(order_by, queries.ORDER_COLUMNS, "id")
    views, total = queries.connection_page(
        session, None, order=order, limit=page.limit, offset=page.offset, extras=False
    )
    items = [ConnectionV1Item.model_validate(ConnectionV1Item.fields(v)) for v in views]
    return ConnectionV1Collection(connections=items, total_entries=total)


@v1_router.get("/connections/{connection_id}", responses=NO_KEY)
def get_connection_v1(
    connection_id: str, session: SessionDep, principal: PrincipalDep
) -> ConnectionV1:
    principal.require(Action.READ, Resource.CONNECTION)
    view = view_of(session, connection_id)
    if view is None:
        raise not_found(connection_id)
    return ConnectionV1.of(view, sensitive_names())


def _required(body: ConnectionV1Body) -> None:
    absent = sorted(f for f in ("connection_id", "conn_type") if getattr(body, f) is None)
    if absent:
        raise ApiError(400, f"Missing required property(ies): {absent}")


@v1_router.post("/connections", responses=NO_KEY)
def post_connection_v1(
    body: ConnectionV1Body, session: SessionDep, principal: PrincipalDep
) -> ConnectionV1:
    principal.require(Action.CREATE, Resource.CONNECTION)
    _required(body)
    try:
        view = add_from_body(session, body)
    except ActionError as err:
        if err.status == 409:
            raise ApiError(409, f"Connection already exist. ID: {body.connection_id}") from None
        raise ApiError(err.status, err.error) from None
    audit.record(
        session, "post_connection", owner=principal.username, extra={"conn_id": view.conn_id}
    )
    return ConnectionV1.of(view, sensitive_names())


@v1_router.patch("/connections/{connection_id}", responses=NO_KEY)
def patch_connection_v1(
    connection_id: str,
    body: ConnectionV1Body,
    session: SessionDep,
    principal: PrincipalDep,
    update_mask: MaskQuery = None,
) -> ConnectionV1:
    """Update the fields sent, or with ``update_mask`` only those named (each must be in
    the body)."""
    principal.require(Action.EDIT, Resource.CONNECTION)
    if view_of(session, connection_id) is None:
        raise not_found(connection_id)
    if body.connection_id is not None and body.connection_id != connection_id:
        raise ApiError(400, "The connection_id cannot be updated.")
    sent = body.fields_sent() - IMMUTABLE
    mask = split_mask(update_mask)
    if mask is not None:
        for name in mask:
            if name not in sent or name not in FIELDS:
                raise ApiError(400, f"'{name}' is unknown or cannot be updated.")
        sent = set(mask)
    if "conn_type" in sent and body.conn_type is None:
        raise ApiError(400, "conn_type cannot be null")
    try:
        view = apply_changes(session, connection_id, {f: body.value_of(f) for f in sent & FIELDS})
    except ActionError as err:
        raise ApiError(err.status, err.error) from None
    audit.record(
        session, "patch_connection", owner=principal.username, extra={"conn_id": connection_id}
    )
    return ConnectionV1.of(view, sensitive_names())


@v1_router.delete("/connections/{connection_id}", status_code=204)
def delete_connection_v1(
    connection_id: str, session: SessionDep, principal: PrincipalDep
) -> Response:
    return delete_connection(connection_id, session, principal)


@v1_router.post("/connections/test", responses=NO_KEY)
def test_connection_v1(
    body: ConnectionV1Body, session: SessionDep, principal: PrincipalDep
) -> ConnectionTestResponse:
    """As ``/api/v2/connections/test`` (off unless ``api.test_connection`` is Enabled)."""
    principal.require(Action.CREATE, Resource.CONNECTION)
    require_enabled()
    _required(body)
    assert body.connection_id is not None
    return probe(probe_target(session, body.connection_id, body.fields_sent(), body.value_of))
