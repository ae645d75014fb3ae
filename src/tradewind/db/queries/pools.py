"""Pools: named slot budgets (Airflow's field names: pool, slots, description,
include_deferred). ``default_pool`` always exists after ``db migrate`` and cannot be deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tradewind.db.models import Pool, TaskInstance
from tradewind.db.models.pool import DEFAULT_POOL, DEFAULT_POOL_SLOTS
from tradewind.exceptions import TradewindException
from tradewind.sdk.abstractoperator import validate_id

DEFAULT_POOL_DESCRIPTION = "Default pool"


class InvalidPoolError(TradewindException, ValueError):
    """A pool cannot be stored as given."""


class DefaultPoolError(TradewindException):
    """``default_pool`` cannot be deleted."""


class PoolExistsError(TradewindException):
    """A pool with that name already exists."""


@dataclass(frozen=True)
class PoolRecord:
    pool: str
    slots: int
    description: str | None
    include_deferred: bool


def _record(row: Pool) -> PoolRecord:
    return PoolRecord(row.pool, row.slots, row.description, bool(row.include_deferred))


def ensure_default_pool(session: Session) -> bool:
    """Create ``default_pool`` (128 slots, as in Airflow) if it is missing; True if created.
    Called by ``db migrate``; an existing default pool keeps its slots."""
    if session.scalar(select(Pool.id).where(Pool.pool == DEFAULT_POOL)) is not None:
        return False
    session.add(
        Pool(
            pool=DEFAULT_POOL,
            slots=DEFAULT_POOL_SLOTS,
            description=DEFAULT_POOL_DESCRIPTION,
            include_deferred=False,
        )
    )
    session.flush()
    return True


def set_pool(
    session: Session,
    name: str,
    slots: int,
    description: str | None,
    include_deferred: bool = False,
) -> bool:
    """Create or replace a pool; True if it was created. ``slots`` -1 means unlimited."""
    validate_id(name, "pool name")
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < -1:
        raise InvalidPoolError(
            f"pool {name!r}: slots must be a whole number >= 0, or -1 for unlimited; got {slots!r}"
        )
    row = session.scalar(select(Pool).where(Pool.pool == name))
    created = row is None
    if row is None:
        row = Pool(pool=name)
        session.add(row)
    row.slots = slots
    row.description = description
    row.include_deferred = include_deferred
    session.flush()
    return created


def get_pool(session: Session, name: str) -> PoolRecord | None:
    row = session.scalar(select(Pool).where(Pool.pool == name))
    return None if row is None else _record(row)


def list_pools(session: Session) -> list[PoolRecord]:
    return [_record(row) for row in session.scalars(select(Pool).order_by(Pool.pool))]


def delete_pool(session: Session, name: str) -> bool:
    """Delete a pool; False if there was none. :class:`DefaultPoolError` for the default."""
    if name == DEFAULT_POOL:
        raise DefaultPoolError(f"{DEFAULT_POOL} cannot be deleted")
    result = session.execute(delete(Pool).where(Pool.pool == name))
    return bool(getattr(result, "rowcount", 0))


# -- for the API: pages with slot usage, create/update that say what happened ---------------

#: Columns ``order_by`` may name (Airflow 3's ``id``/``pool``/``name``, Airflow 2's ``slots``).
ORDER_COLUMNS: dict[str, Any] = {
    "id": Pool.id,
    "pool": Pool.pool,
    "name": Pool.pool,
    "slots": Pool.slots,
}

#: Task instance states whose pool slots a pool reports, as Airflow counts them.
_USAGE_STATES = ("running", "queued", "scheduled", "deferred")
_CHUNK = 500


@dataclass(frozen=True)
class PoolUsage:
    """Pool slots taken by task instances in each state (Airflow's ``slots_stats``)."""

    running: int = 0
    queued: int = 0
    scheduled: int = 0
    deferred: int = 0

    def occupied(self, include_deferred: bool) -> int:
        """Running and queued, plus deferred when the pool counts them."""
        return self.running + self.queued + (self.deferred if include_deferred else 0)

    def open(self, slots: int, include_deferred: bool) -> int:
        """Free slots; -1 for an unlimited pool (Airflow's infinity, as its API answers)."""
        return -1 if slots < 0 else slots - self.occupied(include_deferred)


def pool_page(
    session: Session, *, condition: Any = None, order: list[Any], limit: int, offset: int
) -> tuple[list[PoolRecord], int]:
    """One page of pools matching ``condition`` in ``order``, and how many match."""
    query = select(Pool)
    count = select(func.count()).select_from(Pool)
    if condition is not None:
        query, count = query.where(condition), count.where(condition)
    rows = session.scalars(query.order_by(*order, Pool.id).limit(limit).offset(offset))
    return [_record(row) for row in rows], int(session.scalar(count) or 0)


def pool_usage(session: Session, names: Iterable[str]) -> dict[str, PoolUsage]:
    """Slots taken in each of these pools, in one grouped query over task instances (by the
    ``(state, pool)`` index); a pool nothing uses is absent."""
    wanted = list(dict.fromkeys(names))
    sums: dict[str, dict[str, int]] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = session.execute(
            select(TaskInstance.pool, TaskInstance.state, func.sum(TaskInstance.pool_slots))
            .where(
                TaskInstance.state.in_(_USAGE_STATES),
                TaskInstance.pool.in_(wanted[start : start + _CHUNK]),
            )
            .group_by(TaskInstance.pool, TaskInstance.state)
        )
        for pool, state, slots in rows:
            sums.setdefault(pool, {})[str(state)] = int(slots or 0)
    return {pool: PoolUsage(**by_state) for pool, by_state in sums.items()}


def _check_slots(name: str, slots: object) -> None:
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < -1:
        raise InvalidPoolError(
            f"pool {name!r}: slots must be a whole number >= 0, or -1 for unlimited; got {slots!r}"
        )


def create_pool(
    session: Session,
    name: str,
    slots: int,
    description: str | None,
    include_deferred: bool = False,
) -> PoolRecord:
    """Add a pool; :class:`PoolExistsError` if the name is taken (also when added at the same
    moment by someone else: the caller's transaction must then roll back)."""
    validate_id(name, "pool name")
    _check_slots(name, slots)
    exists = PoolExistsError(f"The Pool with name: `{name}` already exists")
    if session.scalar(select(Pool.id).where(Pool.pool == name)) is not None:
        raise exists
    row = Pool(pool=name, slots=slots, description=description, include_deferred=include_deferred)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise exists from None
    return _record(row)


#: An ``update_pool`` argument left as it is.
KEEP: Any = object()


def update_pool(
    session: Session,
    name: str,
    *,
    slots: int = KEEP,
    description: str | None = KEEP,
    include_deferred: bool = KEEP,
    new_name: str = KEEP,
) -> PoolRecord | None:
    """Change what is given of pool ``name``; None if there is none. Renaming
    ``default_pool`` raises :class:`DefaultPoolError`; to a taken name,
    :class:`PoolExistsError`."""
    row = session.scalar(select(Pool).where(Pool.pool == name))
    if row is None:
        return None
    if new_name is not KEEP and new_name != name:
        if name == DEFAULT_POOL:
            raise DefaultPoolError(f"{DEFAULT_POOL}'s name cannot be changed")
        validate_id(new_name, "pool name")
        if session.scalar(select(Pool.id).where(Pool.pool == new_name)) is not None:
            raise PoolExistsError(f"The Pool with name: `{new_name}` already exists")
        row.pool = new_name
    if slots is not KEEP:
        _check_slots(name, slots)
        row.slots = slots
    if description is not KEEP:
        row.description = description
    if include_deferred is not KEEP:
        row.include_deferred = bool(include_deferred)
    session.flush()
    return _record(row)


def existing_pools(session: Session, names: Iterable[str]) -> set[str]:
    """Which of ``names`` exist."""
    wanted, found = list(names), set[str]()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found.update(session.scalars(select(Pool.pool).where(Pool.pool.in_(chunk))))
    return found


def delete_pools(session: Session, names: Iterable[str]) -> int:
    """Delete these pools (never ``default_pool``: :class:`DefaultPoolError`); how many
    there were."""
    wanted, deleted = list(names), 0
    if DEFAULT_POOL in wanted:
        raise DefaultPoolError(f"{DEFAULT_POOL} cannot be deleted")
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        result = session.execute(delete(Pool).where(Pool.pool.in_(chunk)))
        deleted += int(getattr(result, "rowcount", 0) or 0)
    return deleted
