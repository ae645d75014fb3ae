"""Applying Airflow 3's bulk bodies (``PATCH /variables``, ``/pools``, ``/connections``): the
loop every resource shares. Each action is done whole or not at all; one that fails is listed
in the answer's ``errors`` and the others still apply, all in the request's transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from tradewind.api.auth.principal import Principal
from tradewind.api.auth.roles import Action, Resource
from tradewind.api.schemas.bulk import (
    ActionError,
    BulkAction,
    BulkBody,
    BulkCreateAction,
    BulkDeleteAction,
    BulkResponse,
    BulkUpdateAction,
    duplicates,
    results_for,
)
from tradewind.db.queries import audit
from tradewind.db.queries.search import storable

#: The permission each kind of action needs.
PERMISSION = {
    BulkAction.CREATE: Action.CREATE,
    BulkAction.UPDATE: Action.EDIT,
    BulkAction.DELETE: Action.DELETE,
}

Handler = Callable[[Session, Any], list[str]]


def split_existing(
    ids: list[str], existing: Callable[[list[str]], set[str]], what: str
) -> tuple[set[str], list[str]]:
    """``(ids that exist, ids that do not)`` of one action's entities, ``existing`` saying
    which exist; an id given twice is refused (``what`` names them in the message)."""
    repeated = duplicates(ids)
    if repeated:
        raise ActionError(400, f"These {what} are given more than once: {repeated}")
    found = existing([i for i in ids if storable(i)])
    return found, [i for i in ids if i not in found]


def apply_bulk(
    body: BulkBody[Any],
    session: Session,
    principal: Principal,
    resource: Resource,
    *,
    create: Handler,
    update: Handler,
    delete: Callable[[Session, BulkDeleteAction], list[str]],
    event: str,
    ids_name: str,
) -> BulkResponse:
    """Check every action's permission first (403 before anything changes), then apply each
    with its handler (which raises :class:`ActionError` to refuse it); one audit row lists
    what was done, each action's ids under ``ids_name``."""
    for action in body.actions:
        principal.require(PERMISSION[action.action], resource)
    response = BulkResponse()
    done: list[dict[str, object]] = []
    for action in body.actions:
        results = results_for(response, action.action)
        try:
            if isinstance(action, BulkCreateAction):
                ids = create(session, action)
            elif isinstance(action, BulkUpdateAction):
                ids = update(session, action)
            else:
                ids = delete(session, action)
        except ActionError as err:
            results.errors.append({"error": err.error, "status_code": err.status})
            continue
        results.success.extend(ids)
        done.append({"action": action.action.value, ids_name: ids})
    audit.record(session, event, owner=principal.username, extra={"actions": done})
    return response
