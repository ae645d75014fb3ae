"""Connections: ``/api/v2/connections`` (Airflow 3, with bulk and test); ``/api/v1`` is in
:mod:`tradewind.api.routes.connections_v1`.

Op and Admin only. Passwords and extras are stored encrypted, as ``tradewind connections
add`` stores them, and never answered in clear (see :mod:`tradewind.api.schemas.connections`).
Every change is in the event log, without secrets.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Response

from tradewind.api import deps
from tradewind.api.auth.roles import Action, Resource
from tradewind.api.bulk import apply_bulk, split_existing
from tradewind.api.deps import PageDep, PrincipalDep, SessionDep
from tradewind.api.errors import ApiError
from tradewind.api.routes.connection_probe import probe, require_enabled
from tradewind.api.routes.variables import (
    NO_KEY,
    MaskQuery,
    OrderQuery,
    read_encryptor,
    write_encryptor,
)
from tradewind.api.schemas.bulk import (
    ActionError,
    BulkActionNotOnExistence,
    BulkActionOnExistence,
    BulkBody,
    BulkCreateAction,
    BulkDeleteAction,
    BulkResponse,
    BulkUpdateAction,
    split_mask,
    update_fields,
)
from tradewind.api.schemas.connections import (
    ConnectionBody,
    ConnectionCollectionResponse,
    ConnectionResponse,
    ConnectionTestResponse,
    ConnectionV1Body,
)
from tradewind.db.models import Connection as ConnectionRow
from tradewind.db.queries import audit
from tradewind.db.queries import connections as queries
from tradewind.db.queries.search import search_clause, storable
from tradewind.sdk.connection import Connection
from tradewind.secrets.encryption import Encryptor, SecretsError
from tradewind.secrets.masking import sensitive_names

router = APIRouter(tags=["Connection"])

#: Fields an update may change (the id never changes).
FIELDS = {"conn_type", "description", "host", "login", "schema", "port", "password", "extra"}
IMMUTABLE = {"connection_id", "conn_id"}


def not_found(conn_id: str) -> ApiError:
    return ApiError(404, f"The Connection with connection_id: `{conn_id}` was not found")


def _encryptor(conn_id: str, changes: dict[str, object]) -> Encryptor | None:
    """A key to write with when a secret is set (503 without one), else one to read with."""
    if changes.get("password") or changes.get("extra"):
        return write_encryptor(f"store connection {conn_id!r}")
    return read_encryptor()


def view_of(session: SessionDep, conn_id: str) -> queries.ConnectionView | None:
    if not storable(conn_id):
        return None
    return queries.read_connection_view(session, conn_id, read_encryptor())


def add_from_body(
    session: SessionDep, body: ConnectionBody | ConnectionV1Body
) -> queries.ConnectionView:
    """Store a new connection; ActionError for a duplicate (409) or a bad one (400)."""
    conn = Connection(
        conn_id=str(body.connection_id),
        conn_type=body.conn_type,
        description=body.description,
        host=body.host,
        login=body.login,
        password=body.password,
        schema=body.schema_,
        port=body.port,
        extra=body.extra,
    )
    encryptor = _encryptor(conn.conn_id, {"password": conn.password, "extra": conn.extra})
    try:
        queries.add_connection(session, conn, encryptor)
    except queries.DuplicateConnectionError:
        raise ActionError(
            409, f"The Connection with connection_id: `{conn.conn_id}` already exists"
        ) from None
    except SecretsError as err:
        raise ApiError(503, str(err)) from None
    except ValueError as err:  # InvalidConnectionError, a bad id
        raise ActionError(400, str(err)) from None
    view = queries.read_connection_view(session, conn.conn_id, encryptor)
    assert view is not None
    return view


def apply_changes(
    session: SessionDep, conn_id: str, changes: dict[str, object]
) -> queries.ConnectionView:
    """Apply ``changes`` to an existing connection; ActionError if refused."""
    encryptor = _encryptor(conn_id, changes)
    try:
        view = queries.update_connection(session, conn_id, encryptor, changes)
    except SecretsError as err:
        raise ApiError(503, str(err)) from None
    except ValueError as err:
        raise ActionError(400, str(err)) from None
    if view is None:
        raise ActionError(404, f"The Connection with connection_id: `{conn_id}` was not found")
    return view


@router.get("/connections", responses=NO_KEY)
def get_connections(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    order_by: OrderQuery = None,
    connection_id_pattern: str | None = None,
) -> ConnectionCollectionResponse:
    """Connections, a page at a time, secrets masked; ``connection_id_pattern`` is a
    case-insensitive substring (``%``/``_`` wildcards, ``a|b`` for either)."""
    principal.require(Action.READ, Resource.CONNECTION)
    order = deps.order_by(order_by, queries.ORDER_COLUMNS, "id")
    views, total = queries.connection_page(
        session,
        read_encryptor(),
        condition=search_clause(
            ConnectionRow.conn_id,
            deps.search_pattern(connection_id_pattern, "connection_id_pattern"),
        ),
        order=order,
        limit=page.limit,
        offset=page.offset,
    )
    names = sensitive_names()
    return ConnectionCollectionResponse(
        connections=[ConnectionResponse.of(v, names) for v in views], total_entries=total
    )


@router.get("/connections/{connection_id}", responses=NO_KEY)
def get_connection(
    connection_id: str, session: SessionDep, principal: PrincipalDep
) -> ConnectionResponse:
    principal.require(Action.READ, Resource.CONNECTION)
    view = view_of(session, connection_id)
    if view is None:
        raise not_found(connection_id)
    return ConnectionResponse.of(view, sensitive_names())


@router.post("/connections", status_code=201, responses=NO_KEY)
def post_connection(
    body: ConnectionBody, session: SessionDep, principal: PrincipalDep
) -> ConnectionResponse:
    """Create a connection (409 if the id is taken)."""
    principal.require(Action.CREATE, Resource.CONNECTION)
    try:
        view = add_from_body(session, body)
    except ActionError as err:
        raise ApiError(err.status, err.error) from None
    audit.record(
        session, "post_connection", owner=principal.username, extra={"conn_id": view.conn_id}
    )
    return ConnectionResponse.of(view, sensitive_names())


@router.patch("/connections/{connection_id}", responses=NO_KEY)
def patch_connection(
    connection_id: str,
    body: ConnectionBody,
    session: SessionDep,
    principal: PrincipalDep,
    update_mask: MaskQuery = None,
) -> ConnectionResponse:
    """Update a connection: the fields sent, or only those in ``update_mask``. A password
    of ``***`` (what a read shows) keeps the stored one; so do masked keys of ``extra``."""
    principal.require(Action.EDIT, Resource.CONNECTION)
    if body.connection_id != connection_id:
        raise ApiError(
            400, "The connection_id in the request body does not match the URL parameter"
        )
    try:
        fields = update_fields(
            body.fields_sent(), split_mask(update_mask), allowed=FIELDS, immutable=IMMUTABLE
        )
        if view_of(session, connection_id) is None:
            raise not_found(connection_id)
        view = apply_changes(session, connection_id, {f: body.value_of(f) for f in fields})
    except ActionError as err:
        raise ApiError(err.status, err.error) from None
    audit.record(
        session, "patch_connection", owner=principal.username, extra={"conn_id": connection_id}
    )
    return ConnectionResponse.of(view, sensitive_names())


@router.delete("/connections/{connection_id}", status_code=204)
def delete_connection(connection_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    principal.require(Action.DELETE, Resource.CONNECTION)
    if not storable(connection_id) or not queries.delete_connection(session, connection_id):
        raise not_found(connection_id)
    audit.record(
        session, "delete_connection", owner=principal.username, extra={"conn_id": connection_id}
    )
    return Response(status_code=204)


@router.patch("/connections", responses=NO_KEY)
def bulk_connections(
    body: BulkBody[ConnectionBody], session: SessionDep, principal: PrincipalDep
) -> BulkResponse:
    """Create, update and delete connections in one request. Each action is done whole or
    not at all; one that fails is listed in ``errors`` and the others still apply."""
    return apply_bulk(
        body,
        session,
        principal,
        Resource.CONNECTION,
        create=_bulk_create,
        update=_bulk_update,
        delete=_bulk_delete,
        event="bulk_connections",
        ids_name="conn_ids",
    )


def _split(session: SessionDep, ids: list[str]) -> tuple[set[str], list[str]]:
    return split_existing(
        ids, lambda ids: queries.existing_connections(session, ids), "connection_ids"
    )


def _secrets_key(entities: list[ConnectionBody]) -> None:
    """Refuse (503) before anything is written when a secret is to be stored without a key."""
    if any(e.password or e.extra for e in entities):
        write_encryptor("store connections")


def _bulk_create(session: SessionDep, action: BulkCreateAction[ConnectionBody]) -> list[str]:
    found, _ = _split(session, [e.connection_id for e in action.entities])
    if found and action.action_on_existence is BulkActionOnExistence.FAIL:
        raise ActionError(
            409, f"The connections with these connection_ids: {sorted(found)} already exist."
        )
    _secrets_key(action.entities)
    done = []
    for entity in action.entities:
        if entity.connection_id not in found:
            add_from_body(session, entity)
        elif action.action_on_existence is BulkActionOnExistence.OVERWRITE:
            apply_changes(session, entity.connection_id, {f: entity.value_of(f) for f in FIELDS})
        else:
            continue
        done.append(entity.connection_id)
    return done


def _bulk_update(session: SessionDep, action: BulkUpdateAction[ConnectionBody]) -> list[str]:
    found, missing = _split(session, [e.connection_id for e in action.entities])
    if missing and action.action_on_non_existence is BulkActionNotOnExistence.FAIL:
        raise ActionError(
            404, f"The connections with these connection_ids: {missing} were not found."
        )
    mask = split_mask(action.update_mask)
    todo = [e for e in action.entities if e.connection_id in found]
    changes = [
        update_fields(e.fields_sent(), mask, allowed=FIELDS, immutable=IMMUTABLE) for e in todo
    ]
    _secrets_key(todo)
    for entity, fields in zip(todo, changes, strict=True):
        apply_changes(session, entity.connection_id, {f: entity.value_of(f) for f in fields})
    return [e.connection_id for e in todo]


def _bulk_delete(session: SessionDep, action: BulkDeleteAction) -> list[str]:
    found, missing = _split(session, action.entities)
    if missing and action.action_on_non_existence is BulkActionNotOnExistence.FAIL:
        raise ActionError(
            404, f"The connections with these connection_ids: {missing} were not found."
        )
    queries.delete_connections(session, found)
    return [i for i in action.entities if i in found]


@router.post("/connections/test", responses=NO_KEY)
def test_connection(
    body: ConnectionBody, session: SessionDep, principal: PrincipalDep
) -> ConnectionTestResponse:
    """Test whether a connection's host answers: off unless ``api.test_connection`` is
    ``Enabled`` (403), as in Airflow, since it makes the server open network connections
    where a caller says. Fields not sent come from the stored connection of that id."""
    principal.require(Action.CREATE, Resource.CONNECTION)
    require_enabled()
    return probe(probe_target(session, body.connection_id, body.fields_sent(), body.value_of))


def probe_target(
    session: SessionDep, conn_id: str, sent: set[str], value_of: Callable[[str], object]
) -> dict[str, object]:
    """The type, host and port to test: those sent, else the stored connection's."""
    stored = view_of(session, conn_id)
    fields: dict[str, object] = {
        "conn_id": conn_id,
        "conn_type": stored.conn_type if stored else None,
        "host": stored.host if stored else None,
        "port": stored.port if stored else None,
    }
    for name in ("conn_type", "host", "port"):
        if name in sent:
            fields[name] = value_of(name)
    return fields


@router.post("/connections/defaults", status_code=204)
def create_default_connections(principal: PrincipalDep) -> Response:
    """Airflow's route to add its providers' default connections. Tradewind ships none, so
    there is nothing to add: it answers 204 and changes nothing."""
    principal.require(Action.CREATE, Resource.CONNECTION)
    return Response(status_code=204)
