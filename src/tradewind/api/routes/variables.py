"""Variables: ``/api/v2/variables`` (Airflow 3, with bulk) and ``/api/v1/variables``.

Op and Admin only (Viewer and User get 403, reads included: values are configuration and
often secrets). Values are stored encrypted, as ``tradewind variables set`` stores them, and
answered with sensitive values masked. Every change is recorded in the event log, with the
key and never the value.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from tradewind.api import deps
from tradewind.api.auth.roles import Action, Resource
from tradewind.api.bulk import apply_bulk, split_existing
from tradewind.api.deps import PageDep, PrincipalDep, SessionDep
from tradewind.api.errors import ApiError, ProblemDetail
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
from tradewind.api.schemas.variables import (
    VariableBody,
    VariableCollectionResponse,
    VariableResponse,
    VariableV1,
    VariableV1Body,
    VariableV1Collection,
    VariableV1Item,
)
from tradewind.db.models import Variable
from tradewind.db.queries import audit
from tradewind.db.queries import variables as queries
from tradewind.db.queries.search import search_clause, storable
from tradewind.secrets.encryption import Encryptor, SecretsError
from tradewind.secrets.masking import sensitive_names

router = APIRouter(tags=["Variable"])
v1_router = APIRouter(tags=["Variable"])

#: Documented on routes that store or read secrets: a server without a (valid) Fernet key
#: cannot store them.
NO_KEY: dict[int | str, dict[str, Any]] = {
    503: {"model": ProblemDetail, "description": "The Fernet key is missing or malformed"}
}
MaskQuery = Annotated[list[str] | None, Query(description="Fields to update (repeat, or a,b).")]
OrderQuery = Annotated[list[str] | None, Query(description="Field to sort by, `-` for desc.")]
_ALLOWED = {"value", "description"}


def write_encryptor(purpose: str) -> Encryptor:
    """The Fernet key(s) to store a secret with; 503 when the server has none (secrets are
    never stored in clear)."""
    from tradewind.secrets.encryption import require_encryptor

    try:
        return require_encryptor(purpose)
    except SecretsError as err:
        raise ApiError(503, str(err)) from None


def read_encryptor() -> Encryptor | None:
    """The Fernet key(s) to read secrets with, or None (what cannot be opened reads null)."""
    from tradewind.secrets.encryption import load_encryptor

    try:
        return load_encryptor()
    except SecretsError as err:
        raise ApiError(503, str(err)) from None


def _not_found(key: str) -> ApiError:
    return ApiError(404, f"The Variable with key: `{key}` was not found")


def _read(session: SessionDep, key: str) -> queries.VariableRecord:
    record = queries.read_variable(session, key, read_encryptor()) if storable(key) else None
    if record is None:
        raise _not_found(key)
    return record


@router.get("/variables", responses=NO_KEY)
def get_variables(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    order_by: OrderQuery = None,
    variable_key_pattern: str | None = None,
) -> VariableCollectionResponse:
    """Variables, a page at a time; ``variable_key_pattern`` is a case-insensitive
    substring (``%``/``_`` wildcards, ``a|b`` for either)."""
    principal.require(Action.READ, Resource.VARIABLE)
    order = deps.order_by(order_by, queries.ORDER_COLUMNS, "id")
    condition = search_clause(
        Variable.key, deps.search_pattern(variable_key_pattern, "variable_key_pattern")
    )
    records, total = queries.variable_page(
        session,
        read_encryptor(),
        condition=condition,
        order=order,
        limit=page.limit,
        offset=page.offset,
    )
    names = sensitive_names()
    return VariableCollectionResponse(
        variables=[VariableResponse.of(r, names) for r in records], total_entries=total
    )


@router.get("/variables/{variable_key:path}", responses=NO_KEY)
def get_variable(
    variable_key: str, session: SessionDep, principal: PrincipalDep
) -> VariableResponse:
    principal.require(Action.READ, Resource.VARIABLE)
    return VariableResponse.of(_read(session, variable_key), sensitive_names())


@router.post("/variables", status_code=201, responses=NO_KEY)
def post_variable(
    body: VariableBody, session: SessionDep, principal: PrincipalDep
) -> VariableResponse:
    """Create a variable (409 if the key exists)."""
    principal.require(Action.CREATE, Resource.VARIABLE)
    encryptor = write_encryptor(f"store variable {body.key!r}")
    try:
        record = queries.create_variable(
            session, body.key, body.stored_value(), encryptor, body.description
        )
    except queries.VariableExistsError as err:
        raise ApiError(409, str(err)) from None
    audit.record(session, "post_variable", owner=principal.username, extra={"key": body.key})
    return VariableResponse.of(record, sensitive_names())


def _update(
    session: SessionDep, key: str, body: VariableBody, mask: list[str] | None
) -> queries.VariableRecord:
    """Apply a v2 PATCH body (Airflow 3's update_mask rule); ActionError if refused."""
    if not storable(key) or not queries.existing_keys(session, [key]):
        raise ActionError(404, f"The Variable with key: `{key}` was not found")
    fields = update_fields(body.model_fields_set, mask, allowed=_ALLOWED, immutable={"key"})
    return _apply(session, key, fields, body.stored_value(), body.description)


def _apply(
    session: SessionDep, key: str, fields: set[str], value: str, description: str | None
) -> queries.VariableRecord:
    """Write ``fields`` (value, description) of an existing variable."""
    encryptor: Encryptor | None
    if "value" in fields:
        encryptor = write_encryptor(f"store variable {key!r}")
    else:
        encryptor = read_encryptor()  # to answer with the value
    record = queries.update_variable(
        session,
        key,
        encryptor,
        value=value if "value" in fields else queries.KEEP,
        description=description if "description" in fields else queries.KEEP,
    )
    assert record is not None  # it exists: checked before, in this transaction
    return record


@router.patch("/variables/{variable_key:path}", responses=NO_KEY)
def patch_variable(
    variable_key: str,
    body: VariableBody,
    session: SessionDep,
    principal: PrincipalDep,
    update_mask: MaskQuery = None,
) -> VariableResponse:
    """Update a variable: the fields sent, or only those in ``update_mask``."""
    principal.require(Action.EDIT, Resource.VARIABLE)
    if body.key != variable_key:
        raise ApiError(400, "Invalid body, key from request body doesn't match uri parameter")
    try:
        record = _update(session, variable_key, body, split_mask(update_mask))
    except ActionError as err:
        raise ApiError(err.status, err.error) from None
    audit.record(session, "patch_variable", owner=principal.username, extra={"key": body.key})
    return VariableResponse.of(record, sensitive_names())


@router.delete("/variables/{variable_key:path}", status_code=204)
def delete_variable(variable_key: str, session: SessionDep, principal: PrincipalDep) -> Response:
    principal.require(Action.DELETE, Resource.VARIABLE)
    if not storable(variable_key) or not queries.delete_variable(session, variable_key):
        raise _not_found(variable_key)
    audit.record(session, "delete_variable", owner=principal.username, extra={"key": variable_key})
    return Response(status_code=204)


@router.patch("/variables", responses=NO_KEY)
def bulk_variables(
    body: BulkBody[VariableBody], session: SessionDep, principal: PrincipalDep
) -> BulkResponse:
    """Create, update and delete variables in one request. Each action is done whole or not
    at all; one that fails is listed in ``errors`` and the others still apply."""
    return apply_bulk(
        body,
        session,
        principal,
        Resource.VARIABLE,
        create=_bulk_create,
        update=_bulk_update,
        delete=_bulk_delete,
        event="bulk_variables",
        ids_name="keys",
    )


def _split(session: SessionDep, keys: list[str]) -> tuple[set[str], list[str]]:
    return split_existing(keys, lambda ids: queries.existing_keys(session, ids), "keys")


def _bulk_create(session: SessionDep, action: BulkCreateAction[VariableBody]) -> list[str]:
    keys = [e.key for e in action.entities]
    found, _ = _split(session, keys)
    if found and action.action_on_existence is BulkActionOnExistence.FAIL:
        raise ActionError(409, f"The variables with these keys: {sorted(found)} already exist.")
    entries = {e.key: (e.stored_value(), e.description) for e in action.entities}
    encryptor = write_encryptor("store variables")
    skip = action.action_on_existence is BulkActionOnExistence.SKIP
    on_existing: queries.OnExisting = "skip" if skip else "overwrite"
    result = queries.import_variables(session, entries, encryptor, on_existing)
    return [k for k in keys if k in set(result.created) | set(result.updated)]


def _bulk_update(session: SessionDep, action: BulkUpdateAction[VariableBody]) -> list[str]:
    found, missing = _split(session, [e.key for e in action.entities])
    if missing and action.action_on_non_existence is BulkActionNotOnExistence.FAIL:
        raise ActionError(404, f"The variables with these keys: {missing} were not found.")
    mask = split_mask(action.update_mask)
    for entity in action.entities:  # every entity is checked before any is written
        update_fields(entity.model_fields_set, mask, allowed=_ALLOWED, immutable={"key"})
    todo = [e for e in action.entities if e.key in found]
    for entity in todo:
        _update(session, entity.key, entity, mask)
    return [e.key for e in todo]


def _bulk_delete(session: SessionDep, action: BulkDeleteAction) -> list[str]:
    found, missing = _split(session, action.entities)
    if missing and action.action_on_non_existence is BulkActionNotOnExistence.FAIL:
        raise ActionError(404, f"The variables with these keys: {missing} were not found.")
    queries.delete_variables(session, found)
    return [k for k in action.entities if k in found]


# -- /api/v1 (Airflow 2) -------------------------------------------------------------------


@v1_router.get("/variables")
def get_variables_v1(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    order_by: OrderQuery = None,
) -> VariableV1Collection:
    """Variables' keys and descriptions (Airflow 2 lists no values)."""
    principal.require(Action.READ, Resource.VARIABLE)
    order = deps.order_by(order_by, queries.ORDER_COLUMNS, "id")
    records, total = queries.variable_page(
        session, None, order=order, limit=page.limit, offset=page.offset, values=False
    )
    items = [VariableV1Item(key=r.key, description=r.description) for r in records]
    return VariableV1Collection(variables=items, total_entries=total)


def _v1_not_found(key: str) -> ApiError:
    return ApiError(404, f"Variable does not exist: `{key}`")


@v1_router.get("/variables/{variable_key:path}", responses=NO_KEY)
def get_variable_v1(variable_key: str, session: SessionDep, principal: PrincipalDep) -> VariableV1:
    principal.require(Action.READ, Resource.VARIABLE)
    try:
        record = _read(session, variable_key)
    except ApiError:
        raise _v1_not_found(variable_key) from None
    return VariableV1.of(record, sensitive_names())


@v1_router.post("/variables", responses=NO_KEY)
def post_variables_v1(
    body: VariableV1Body, session: SessionDep, principal: PrincipalDep
) -> VariableV1:
    """Create or replace a variable (Airflow 2's POST sets it whether or not it exists)."""
    principal.require(Action.CREATE, Resource.VARIABLE)
    encryptor = write_encryptor(f"store variable {body.key!r}")
    queries.set_variable(session, body.key, body.value, encryptor, body.description)
    audit.record(session, "post_variables", owner=principal.username, extra={"key": body.key})
    record = queries.VariableRecord(body.key, body.value, body.description, True)
    return VariableV1.of(record, sensitive_names())


@v1_router.patch("/variables/{variable_key:path}", responses=NO_KEY)
def patch_variable_v1(
    variable_key: str,
    body: VariableV1Body,
    session: SessionDep,
    principal: PrincipalDep,
    update_mask: MaskQuery = None,
) -> VariableV1:
    """Update a variable; with ``update_mask``, only the named fields (``value``,
    ``description``)."""
    principal.require(Action.EDIT, Resource.VARIABLE)
    if body.key != variable_key:
        raise ApiError(400, "Invalid post body: key from request body doesn't match uri parameter")
    if not storable(variable_key) or not queries.existing_keys(session, [variable_key]):
        raise _v1_not_found(variable_key)
    fields = {"value", "description"}
    mask = split_mask(update_mask)
    if mask is not None:
        for name in mask:
            if name not in fields:
                raise ApiError(400, f"'{name}' is unknown or cannot be updated.")
        fields = set(mask)
    record = _apply(session, variable_key, fields, body.value, body.description)
    audit.record(session, "patch_variable", owner=principal.username, extra={"key": body.key})
    return VariableV1.of(record, sensitive_names())


@v1_router.delete("/variables/{variable_key:path}", status_code=204)
def delete_variable_v1(variable_key: str, session: SessionDep, principal: PrincipalDep) -> Response:
    principal.require(Action.DELETE, Resource.VARIABLE)
    if not storable(variable_key) or not queries.delete_variable(session, variable_key):
        raise _v1_not_found(variable_key)
    audit.record(session, "delete_variable", owner=principal.username, extra={"key": variable_key})
    return Response(status_code=204)
