"""XCom rows in the metadata DB: encoded values keyed by task instance and key.

This is what serves workers' XCom requests in the service (they never hold DB credentials:
the executor asks on their behalf). Values are encoded with the typed JSON codec.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tradewind.db.models import XComRow
from tradewind.serialization.codec import decode, encode
from tradewind.xcom.base import XComKey


def set_value(session: Session, key: XComKey, value: Any) -> None:
    """Store (or replace) one value."""
    data = encode(value).encode()
    row = session.get(XComRow, (key.dag_id, key.run_id, key.task_id, key.map_index, key.key))
    if row is None:
        session.add(
            XComRow(
                dag_id=key.dag_id,
                run_id=key.run_id,
                task_id=key.task_id,
                map_index=key.map_index,
                key=key.key,
                value=data,
                timestamp=datetime.now(UTC),
            )
        )
    else:
        row.value = data
        row.timestamp = datetime.now(UTC)
    session.flush()


def get_value(session: Session, key: XComKey) -> Any:
    """The value; ``KeyError`` when nothing was pushed."""
    row = session.get(XComRow, (key.dag_id, key.run_id, key.task_id, key.map_index, key.key))
    if row is None:
        raise KeyError(key)
    return decode(row.value)


def get_all(
    session: Session, dag_id: str, run_id: str, task_id: str, key: str
) -> list[tuple[int, Any]]:
    """Every map index's value for ``key``, by map index."""
    rows = session.execute(
        select(XComRow.map_index, XComRow.value)
        .where(
            XComRow.dag_id == dag_id,
            XComRow.run_id == run_id,
            XComRow.task_id == task_id,
            XComRow.key == key,
        )
        .order_by(XComRow.map_index)
    ).all()
    return [(int(i), decode(v)) for i, v in rows]


def clear(session: Session, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
    """Remove what one task instance pushed (before it runs again)."""
    session.execute(
        delete(XComRow).where(
            XComRow.dag_id == dag_id,
            XComRow.run_id == run_id,
            XComRow.task_id == task_id,
            XComRow.map_index == map_index,
        )
    )


def pushed_counts(
    session: Session, dag_id: str, run_id: str, task_ids: set[str]
) -> dict[tuple[str, str], int]:
    """How many map indexes pushed each key, per task (what mapping over a mapped task's
    output expands to)."""
    if not task_ids:
        return {}
    rows = session.execute(
        select(XComRow.task_id, XComRow.key, func.count())
        .where(XComRow.dag_id == dag_id, XComRow.run_id == run_id, XComRow.task_id.in_(task_ids))
        .group_by(XComRow.task_id, XComRow.key)
    ).all()
    return {(t, k): int(n) for t, k, n in rows}
