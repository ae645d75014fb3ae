"""Pools: named slot budgets (Airflow's field names: pool, slots, description,
include_deferred). ``default_pool`` always exists after ``db migrate`` and cannot be deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tradewind.db.models import Pool
from tradewind.db.models.pool import DEFAULT_POOL, DEFAULT_POOL_SLOTS
from tradewind.exceptions import TradewindException
from tradewind.sdk.abstractoperator import validate_id

DEFAULT_POOL_DESCRIPTION = "Default pool"


class InvalidPoolError(TradewindException, ValueError):
    """A pool cannot be stored as given."""


class DefaultPoolError(TradewindException):
    """``default_pool`` cannot be deleted."""


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
