"""The caller of a request, and what it may do.

A :class:`Principal` is built from a user's roles. Built-in roles grant permissions
everywhere; custom roles grant what DAGs' ``access_control`` gives them, on those DAGs.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from tradewind.api.auth.roles import (
    BUILTIN_ROLES,
    DAG_SCOPED,
    Action,
    Permissions,
    Resource,
    dag_grants,
    permissions_of,
)
from tradewind.api.errors import ApiError

#: Seconds the per-DAG access index is kept before it is read again.
ACCESS_INDEX_SECONDS = 5.0


class AccessControlIndex:
    """Every DAG's ``access_control`` that has one, read from the ``dag`` table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._by_dag: dict[str, dict[str, dict[str, list[str]]]] = {}
        self._read_at = -1e9
        self._lock = threading.Lock()

    def current(self) -> dict[str, dict[str, dict[str, list[str]]]]:
        now = time.monotonic()
        with self._lock:
            if now - self._read_at > ACCESS_INDEX_SECONDS:
                from tradewind.db.models import DagModel

                with self._engine.connect() as conn:
                    rows = conn.execute(
                        select(DagModel.dag_id, DagModel.access_control).where(
                            DagModel.access_control.is_not(None)
                        )
                    ).all()
                self._by_dag = {dag_id: ac for dag_id, ac in rows if ac}
                self._read_at = now
            return self._by_dag


@dataclass
class Principal:
    """Who is calling. ``username`` is None for an anonymous caller."""

    username: str | None
    roles: list[str]
    access: AccessControlIndex | None = None
    permissions: Permissions = field(init=False)
    custom_roles: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.permissions = permissions_of(self.roles)
        self.custom_roles = [r for r in self.roles if r not in BUILTIN_ROLES]

    def can(self, action: Action, resource: Resource, dag_id: str | None = None) -> bool:
        """Whether this caller may do ``action`` on ``resource`` (of ``dag_id``, for DAG
        resources; without it, on every DAG)."""
        if action in self.permissions.get(resource, ()):
            return True
        if dag_id is None or resource not in DAG_SCOPED or not self.custom_roles:
            return False
        if self.access is None:
            return False
        granted = dag_grants(self.access.current().get(dag_id), self.custom_roles)
        return action in granted.get(resource, ())

    def require(self, action: Action, resource: Resource, dag_id: str | None = None) -> None:
        """Raise 403 unless :meth:`can`."""
        if not self.can(action, resource, dag_id):
            raise ApiError(403, _forbidden(action, resource, dag_id))

    def dag_ids_with(self, action: Action, resource: Resource) -> set[str] | None:
        """The DAGs on which this caller may do ``action`` to ``resource``: ``None`` means
        every DAG; otherwise the set (empty when none), to filter listings with."""
        if action in self.permissions.get(resource, ()):
            return None
        if not self.custom_roles or self.access is None:
            return set()
        return {
            dag_id
            for dag_id, ac in self.access.current().items()
            if action in dag_grants(ac, self.custom_roles).get(resource, ())
        }


def _forbidden(action: Action, resource: Resource, dag_id: str | None) -> str:
    what = f"{action.value} on {resource.value}"
    if dag_id is not None:
        what += f" of DAG {dag_id!r}"
    return f"Forbidden: your roles do not allow {what}"


def anonymous() -> Principal:
    return Principal(None, ["Public"])
