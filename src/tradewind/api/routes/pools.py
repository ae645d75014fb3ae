"""Pools: ``/api/v2/pools`` (Airflow 3, with bulk) and ``/api/v1/pools``, with slot usage.

Viewer and up read pools; Op and Admin change them. ``default_pool`` cannot be deleted, and
only its ``slots`` and ``include_deferred`` change. Usage (running, queued, scheduled and
deferred slots) comes from one grouped query over task instances per answer, whatever the
page size. A changed size reaches a running scheduler within its next sweep (a second).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from tradewind.api import deps
from tradewind.api.auth.roles import Action, Resource
from tradewind.api.bulk import apply_bulk, split_existing
from tradewind.api.deps import PageDep, PrincipalDep, SessionDep
from tradewind.api.errors import ApiError
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
from tradewind.api.schemas.pools import (
    PoolBody,
    PoolCollectionResponse,
    PoolPatchBody,
    PoolResponse,
    PoolV1,
    PoolV1Body,
    PoolV1Collection,
)
from tradewind.db.models import Pool
from tradewind.db.models.pool import DEFAULT_POOL
from tradewind.db.queries import audit
from tradewind.db.queries import pools as queries
from tradewind.db.queries.search import search_clause, storable
from tradewind.exceptions import TradewindException

router = APIRouter(tags=["Pool"])
v1_router = APIRouter(tags=["Pool"])

MaskQuery = Annotated[list[str] | None, Query(description="Fields to update (repeat, or a,b).")]
OrderQuery = Annotated[list[str] | None, Query(description="Field to sort by, `-` for desc.")]
_FIELDS = {"name", "slots", "description", "include_deferred"}
_DEFAULT_POOL_FIELDS = {"slots", "include_deferred"}


def _not_found(name: str) -> ApiError:
    return ApiError(404, f"The Pool with name: `{name}` was not found")


def _answer(session: SessionDep, record: queries.PoolRecord) -> PoolResponse:
    return PoolResponse.of(record, queries.pool_usage(session, [record.pool]).get(record.pool))


@router.get("/pools")
def get_pools(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    order_by: OrderQuery = None,
    pool_name_pattern: str | None = None,
) -> PoolCollectionResponse:
    """Pools with their slot usage, a page at a time; ``pool_name_pattern`` is a
    case-insensitive substring (``%``/``_`` wildcards, ``a|b`` for either)."""
    principal.require(Action.READ, Resource.POOL)
    order = deps.order_by(order_by, queries.ORDER_COLUMNS, "id")
    records, total = queries.pool_page(
        session,
        condition=search_clause(
            Pool.pool, deps.search_pattern(pool_name_pattern, "pool_name_pattern")
        ),
        order=order,
        limit=page.limit,
        offset=page.offset,
    )
    usage = queries.pool_usage(session, [r.pool for r in records])
    return PoolCollectionResponse(
        pools=[PoolResponse.of(r, usage.get(r.pool)) for r in records], total_entries=total
    )


def _get(session: SessionDep, name: str) -> queries.PoolRecord | None:
    return queries.get_pool(session, name) if storable(name) else None


@router.get("/pools/{pool_name:path}")
def get_pool(pool_name: str, session: SessionDep, principal: PrincipalDep) -> PoolResponse:
    principal.require(Action.READ, Resource.POOL)
    record = _get(session, pool_name)
    if record is None:
        raise _not_found(pool_name)
    return _answer(session, record)


@router.post("/pools", status_code=201)
def post_pool(body: PoolBody, session: SessionDep, principal: PrincipalDep) -> PoolResponse:
    """Create a pool (409 if the name is taken)."""
    principal.require(Action.CREATE, Resource.POOL)
    try:
        record = queries.create_pool(
            session, body.name, body.slots, body.description, body.include_deferred
        )
    except queries.PoolExistsError as err:
        raise ApiError(409, str(err)) from None
    audit.record(session, "post_pool", owner=principal.username, extra={"pool": body.name})
    return _answer(session, record)


def _update(
    session: SessionDep, name: str, body: PoolPatchBody | PoolBody, mask: list[str] | None
) -> queries.PoolRecord:
    """Apply a v2 PATCH body (Airflow 3's rules); ActionError if refused."""
    record = _get(session, name)
    if record is None:
        raise ActionError(404, f"The Pool with name: `{name}` was not found")
    if mask is not None:
        mask = ["name" if field == "pool" else field for field in mask]
    if name == DEFAULT_POOL and not (mask and set(mask) <= _DEFAULT_POOL_FIELDS):
        raise ActionError(400, "Only slots and included_deferred can be modified on Default Pool")
    fields = update_fields(body.model_fields_set, mask, allowed=_FIELDS, immutable=set())
    changes = {f: getattr(body, f) for f in fields - {"name"}}
    for field in ("slots", "include_deferred"):
        if field in changes and changes[field] is None:
            raise ActionError(400, f"{field} cannot be null")
    try:
        updated = queries.update_pool(session, name, **changes)
    except (queries.InvalidPoolError, queries.DefaultPoolError) as err:
        raise ActionError(400, str(err)) from None
    assert updated is not None  # it exists: read above, in this transaction
    return updated


@router.patch("/pools/{pool_name:path}")
def patch_pool(
    pool_name: str,
    body: PoolPatchBody,
    session: SessionDep,
    principal: PrincipalDep,
    update_mask: MaskQuery = None,
) -> PoolResponse:
    """Update a pool: the fields sent, or only those in ``update_mask``."""
    principal.require(Action.EDIT, Resource.POOL)
    if body.name and body.name != pool_name:
        raise ApiError(400, "Invalid body, pool name from request body doesn't match uri parameter")
    try:
        record = _update(session, pool_name, body, split_mask(update_mask))
    except ActionError as err:
        raise ApiError(err.status, err.error) from None
    audit.record(session, "patch_pool", owner=principal.username, extra={"pool": pool_name})
    return _answer(session, record)


def _delete(session: SessionDep, name: str, message: str) -> None:
    if name == DEFAULT_POOL:
        raise ApiError(400, "Default Pool can't be deleted")
    if not storable(name) or not queries.delete_pool(session, name):
        raise ApiError(404, message)


@router.delete("/pools/{pool_name:path}", status_code=204)
def delete_pool(pool_name: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """Delete a pool (400 for ``default_pool``)."""
    principal.require(Action.DELETE, Resource.POOL)
    _delete(session, pool_name, f"The Pool with name: `{pool_name}` was not found")
    audit.record(session, "delete_pool", owner=principal.username, extra={"pool": pool_name})
    return Response(status_code=204)


@router.patch("/pools")
def bulk_pools(
    body: BulkBody[PoolBody], session: SessionDep, principal: PrincipalDep
) -> BulkResponse:
    """Create, update and delete pools in one request. Each action is done whole or not at
    all; one that fails is listed in ``errors`` and the others still apply."""
    return apply_bulk(
        body,
        session,
        principal,
        Resource.POOL,
        create=_bulk_create,
        update=_bulk_update,
        delete=_bulk_delete,
        event="bulk_pools",
        ids_name="pools",
    )


def _split(session: SessionDep, names: list[str]) -> tuple[set[str], list[str]]:
    return split_existing(names, lambda ids: queries.existing_pools(session, ids), "pool names")


def _bulk_create(session: SessionDep, action: BulkCreateAction[PoolBody]) -> list[str]:
    found, _ = _split(session, [e.name for e in action.entities])
    if found and action.action_on_existence is BulkActionOnExistence.FAIL:
        raise ActionError(409, f"The pools with these pool names: {sorted(found)} already exist.")
    done = []
    for entity in action.entities:
        if entity.name in found:
            if action.action_on_existence is BulkActionOnExistence.SKIP:
                continue
            queries.update_pool(
                session,
                entity.name,
                slots=entity.slots,
                description=entity.description,
                include_deferred=entity.include_deferred,
            )
        else:
            try:
                queries.create_pool(
                    session, entity.name, entity.slots, entity.description, entity.include_deferred
                )
            except queries.PoolExistsError as err:  # added at this moment by someone else
                raise ApiError(409, str(err)) from None
        done.append(entity.name)
    return done


def _bulk_update(session: SessionDep, action: BulkUpdateAction[PoolBody]) -> list[str]:
    found, missing = _split(session, [e.name for e in action.entities])
    if missing and action.action_on_non_existence is BulkActionNotOnExistence.FAIL:
        raise ActionError(404, f"The pools with these pool names: {missing} were not found.")
    mask = split_mask(action.update_mask)
    todo = [e for e in action.entities if e.name in found]
    for entity in todo:  # every entity is checked before any is written
        if entity.name == DEFAULT_POOL and not (mask and set(mask) <= _DEFAULT_POOL_FIELDS):
            raise ActionError(
                400, "Only slots and included_deferred can be modified on Default Pool"
            )
        update_fields(entity.model_fields_set, mask, allowed=_FIELDS, immutable=set())
    for entity in todo:
        _update(session, entity.name, entity, mask)
    return [e.name for e in todo]


def _bulk_delete(session: SessionDep, action: BulkDeleteAction) -> list[str]:
    if DEFAULT_POOL in action.entities:
        raise ActionError(400, "Default Pool can't be deleted")
    found, missing = _split(session, action.entities)
    if missing and action.action_on_non_existence is BulkActionNotOnExistence.FAIL:
        raise ActionError(404, f"The pools with these pool names: {missing} were not found.")
    queries.delete_pools(session, found)
    return [n for n in action.entities if n in found]


# -- /api/v1 (Airflow 2) -------------------------------------------------------------------


def _v1_not_found(name: str) -> ApiError:
    return ApiError(404, f"Pool with name:'{name}' not found")


def _v1(session: SessionDep, record: queries.PoolRecord) -> PoolV1:
    return PoolV1.of(record, queries.pool_usage(session, [record.pool]).get(record.pool))


@v1_router.get("/pools")
def get_pools_v1(
    session: SessionDep, principal: PrincipalDep, page: PageDep, order_by: OrderQuery = None
) -> PoolV1Collection:
    principal.require(Action.READ, Resource.POOL)
    order = deps.order_by(order_by, queries.ORDER_COLUMNS, "id")
    records, total = queries.pool_page(session, order=order, limit=page.limit, offset=page.offset)
    usage = queries.pool_usage(session, [r.pool for r in records])
    return PoolV1Collection(
        pools=[PoolV1.of(r, usage.get(r.pool)) for r in records], total_entries=total
    )


@v1_router.get("/pools/{pool_name:path}")
def get_pool_v1(pool_name: str, session: SessionDep, principal: PrincipalDep) -> PoolV1:
    principal.require(Action.READ, Resource.POOL)
    record = _get(session, pool_name)
    if record is None:
        raise _v1_not_found(pool_name)
    return _v1(session, record)


def _missing(body: PoolV1Body) -> None:
    absent = sorted(f for f in ("name", "slots") if getattr(body, f) is None)
    if absent:
        raise ApiError(400, f"Missing required property(ies): {absent}")


@v1_router.post("/pools")
def post_pool_v1(body: PoolV1Body, session: SessionDep, principal: PrincipalDep) -> PoolV1:
    """Create a pool (``name`` and ``slots`` required; 409 if the name is taken)."""
    principal.require(Action.CREATE, Resource.POOL)
    _missing(body)
    assert body.name is not None and body.slots is not None
    try:
        record = queries.create_pool(
            session, body.name, body.slots, body.description, bool(body.include_deferred)
        )
    except queries.PoolExistsError:
        raise ApiError(409, f"Pool: {body.name} already exists") from None
    except TradewindException as err:  # a bad name
        raise ApiError(400, str(err)) from None
    audit.record(session, "post_pool", owner=principal.username, extra={"pool": body.name})
    return _v1(session, record)


@v1_router.patch("/pools/{pool_name:path}")
def patch_pool_v1(
    pool_name: str,
    body: PoolV1Body,
    session: SessionDep,
    principal: PrincipalDep,
    update_mask: MaskQuery = None,
) -> PoolV1:
    """Update a pool: every field (``name`` and ``slots`` required), or with
    ``update_mask`` only those named. A different ``name`` renames the pool (not
    ``default_pool``, whose ``slots`` and ``include_deferred`` alone may change)."""
    principal.require(Action.EDIT, Resource.POOL)
    mask = split_mask(update_mask)
    if (
        pool_name == DEFAULT_POOL
        and body.name != DEFAULT_POOL
        and not (mask and set(mask) <= _DEFAULT_POOL_FIELDS)
    ):
        raise ApiError(400, "Default Pool's name can't be modified")
    if _get(session, pool_name) is None:
        raise _v1_not_found(pool_name)
    if mask is not None:
        for field in mask:
            if field not in _FIELDS:
                raise ApiError(400, f"Invalid field: {field} in update mask")
        fields = set(mask)
    else:
        _missing(body)
        fields = _FIELDS & body.model_fields_set
    changes = {f: getattr(body, f) for f in fields - {"name"}}
    for field in ("slots", "include_deferred"):
        if field in changes and changes[field] is None:
            raise ApiError(400, f"{field} cannot be null")
    if "name" in fields:
        if body.name is None:
            raise ApiError(400, "name cannot be null")
        changes["new_name"] = body.name
    try:
        record = queries.update_pool(session, pool_name, **changes)
    except queries.PoolExistsError as err:
        raise ApiError(409, str(err)) from None
    except TradewindException as err:  # a bad name, or renaming default_pool
        raise ApiError(400, str(err)) from None
    assert record is not None
    audit.record(session, "patch_pool", owner=principal.username, extra={"pool": pool_name})
    return _v1(session, record)


@v1_router.delete("/pools/{pool_name:path}", status_code=204)
def delete_pool_v1(pool_name: str, session: SessionDep, principal: PrincipalDep) -> Response:
    principal.require(Action.DELETE, Resource.POOL)
    _delete(session, pool_name, f"Pool with name:'{pool_name}' not found")
    audit.record(session, "delete_pool", owner=principal.username, extra={"pool": pool_name})
    return Response(status_code=204)
