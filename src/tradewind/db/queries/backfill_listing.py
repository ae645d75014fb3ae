"""Reading backfills for the API: a DAG's backfills a page at a time.

Two queries a page: a ``count(*)`` and the page joined to the ``dag`` row (for the display
name). Creating, pausing and cancelling backfills is :mod:`tradewind.db.queries.backfills`.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tradewind.db.models import Backfill, DagModel

#: Largest offset passed to the database (bigger ones would overflow its integer type).
MAX_OFFSET = 2**62


def page_backfills(
    session: Session, dag_id: str, *, descending: bool, limit: int, offset: int
) -> tuple[list[tuple[Backfill, str | None]], int]:
    """One page of a DAG's backfills by id, with the DAG's display name, and how many it has
    (the API's list: two queries)."""
    total = session.scalar(
        select(func.count()).select_from(Backfill).where(Backfill.dag_id == dag_id)
    )
    order = Backfill.id.desc() if descending else Backfill.id.asc()
    rows = session.execute(
        select(Backfill, DagModel.dag_display_name)
        .join(DagModel, DagModel.dag_id == Backfill.dag_id)
        .where(Backfill.dag_id == dag_id)
        .order_by(order)
        .limit(limit)
        .offset(min(offset, MAX_OFFSET))
    )
    return [(row[0], row[1]) for row in rows], int(total or 0)


def display_name(session: Session, dag_id: str) -> str | None:
    """The DAG's display name (``None`` when it has none or is unknown)."""
    return session.scalar(select(DagModel.dag_display_name).where(DagModel.dag_id == dag_id))
