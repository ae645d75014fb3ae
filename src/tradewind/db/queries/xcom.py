"""XCom rows in the metadata DB: encoded values keyed by task instance and key.

This is what serves workers' XCom requests in the service (they never hold DB credentials:
the executor asks on their behalf). Values are encoded with the typed JSON codec. Each
function takes a session or a plain connection: the worker services answer every request
of a try on one kept connection, and the statements are built once (a try makes a few of
these calls, and building a statement costs more than running it).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, func, select, tuple_
from sqlalchemy.orm import Session

from tradewind.db.dialects import dialect_name
from tradewind.db.models import XComRow
from tradewind.serialization.codec import decode, encode
from tradewind.xcom.backend import XComResult
from tradewind.xcom.base import XComKey

Bind = Session | Connection

_TABLE: Table = XComRow.__table__  # type: ignore[assignment]
_C = _TABLE.c
_OF_TRY = (
    (_C.dag_id == bindparam("w_dag_id"))
    & (_C.run_id == bindparam("w_run_id"))
    & (_C.task_id == bindparam("w_task_id"))
    & (_C.map_index == bindparam("w_map_index"))
)
_OF_KEY = _OF_TRY & (_C.key == bindparam("w_key"))
_GET = select(_C.value).where(_OF_KEY)
_GET_ALL = (
    select(_C.map_index, _C.value)
    .where(
        (_C.dag_id == bindparam("w_dag_id"))
        & (_C.run_id == bindparam("w_run_id"))
        & (_C.task_id == bindparam("w_task_id"))
        & (_C.key == bindparam("w_key"))
    )
    .order_by(_C.map_index)
)
_ANY_OF_TRY = select(_C.key).where(_OF_TRY).limit(1)
_DELETE = delete(_TABLE).where(_OF_TRY)


def _key(key: XComKey) -> dict[str, Any]:
    return {
        "w_dag_id": key.dag_id,
        "w_run_id": key.run_id,
        "w_task_id": key.task_id,
        "w_map_index": key.map_index,
        "w_key": key.key,
    }


def set_value(bind: Bind, key: XComKey, value: Any) -> None:
    """Store (or replace) one value."""
    set_encoded(bind, key, encode(value))


def set_encoded(bind: Bind, key: XComKey, text: str) -> None:
    """Store (or replace) one value already encoded with the codec, in one statement."""
    row = {name[2:]: value for name, value in _key(key).items()}
    bind.execute(_upsert(dialect_name(bind)), {**row, "value": text.encode(), "timestamp": _now()})


@functools.cache
def _upsert(dialect: str) -> Any:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` (both SQLite and PostgreSQL have it)."""
    from sqlalchemy.dialects import postgresql, sqlite

    stmt: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_TABLE)
    return stmt.on_conflict_do_update(
        index_elements=[c.name for c in _TABLE.primary_key.columns],
        set_={"value": stmt.excluded.value, "timestamp": stmt.excluded.timestamp},
    )


def _now() -> datetime:
    return datetime.now(UTC)


def get_value(bind: Bind, key: XComKey) -> Any:
    """The value; ``KeyError`` when nothing was pushed."""
    return decode(get_encoded(bind, key))


def get_encoded(bind: Bind, key: XComKey) -> str:
    """The value as the codec's text; ``KeyError`` when nothing was pushed."""
    data = bind.execute(_GET, _key(key)).scalar()
    if data is None:
        raise KeyError(key)
    return bytes(data).decode()


def get_all(bind: Bind, dag_id: str, run_id: str, task_id: str, key: str) -> list[tuple[int, Any]]:
    """Every map index's value for ``key``, by map index."""
    return [(i, decode(v)) for i, v in get_all_encoded(bind, dag_id, run_id, task_id, key)]


def get_all_encoded(
    bind: Bind, dag_id: str, run_id: str, task_id: str, key: str
) -> list[tuple[int, str]]:
    """Every map index's value for ``key`` as the codec's text, by map index."""
    rows = bind.execute(
        _GET_ALL, {"w_dag_id": dag_id, "w_run_id": run_id, "w_task_id": task_id, "w_key": key}
    ).all()
    return [(int(i), bytes(v).decode()) for i, v in rows]


def clear(
    bind: Bind, dag_id: str, run_id: str, task_id: str, map_index: int, *, returning: bool = False
) -> list[XComResult]:
    """Remove what one task instance pushed (before it runs again). Looks first: a first
    try has nothing to remove, and a read takes no write lock (SQLite has one writer).
    With ``returning``, the deleted rows come back (for the backend to purge what they
    refer to, after the commit)."""
    params = {
        "w_dag_id": dag_id,
        "w_run_id": run_id,
        "w_task_id": task_id,
        "w_map_index": map_index,
    }
    if bind.execute(_ANY_OF_TRY, params).first() is None:
        return []
    if not returning:
        bind.execute(_DELETE, params)
        return []
    return _results(bind.execute(_DELETE.returning(*_RESULT_COLUMNS), params))


def clear_tries(
    bind: Bind, instances: list[tuple[str, str, str, int]], *, returning: bool = False
) -> list[XComResult]:
    """Remove what these task instances (``(dag_id, run_id, task_id, map_index)``) pushed,
    in one statement: the scheduler does it as it queues their next tries, so a try starts
    with nothing left from an earlier one (Airflow clears when a try starts running).
    ``returning`` as for :func:`clear`."""
    if not instances:
        return []
    columns = tuple_(_C.dag_id, _C.run_id, _C.task_id, _C.map_index)
    stmt = delete(_TABLE).where(columns.in_(instances))
    if not returning:
        bind.execute(stmt)
        return []
    return _results(bind.execute(stmt.returning(*_RESULT_COLUMNS)))


def delete_where(bind: Bind, condition: Any, *, returning: bool = False) -> list[XComResult]:
    """Delete the rows matching ``condition`` (a SQL expression over the XCom table);
    ``returning`` as for :func:`clear`."""
    stmt = delete(_TABLE).where(condition)
    if not returning:
        bind.execute(stmt)
        return []
    return _results(bind.execute(stmt.returning(*_RESULT_COLUMNS)))


_RESULT_COLUMNS = (_C.dag_id, _C.run_id, _C.task_id, _C.map_index, _C.key, _C.value)


def _results(rows: Any) -> list[XComResult]:
    return [
        XComResult(dag_id, run_id, task_id, int(map_index), key, bytes(value).decode())
        for dag_id, run_id, task_id, map_index, key, value in rows
    ]


def count_where(bind: Bind, condition: Any) -> int:
    """How many rows match ``condition``."""
    return int(bind.execute(select(func.count()).select_from(_TABLE).where(condition)).scalar_one())


def rows_where(bind: Bind, condition: Any, *, prefix: bytes | None = None) -> list[XComResult]:
    """The rows matching ``condition`` (and whose value starts with ``prefix``), as the
    backend sees them."""
    if prefix is not None:
        condition = condition & _starts_with(prefix)
    return _results(bind.execute(select(*_RESULT_COLUMNS).where(condition)))


def _starts_with(prefix: bytes) -> Any:
    return func.substr(_C.value, 1, len(prefix)) == prefix


def values_starting_with(bind: Bind, start: bytes, dag_id: str | None = None) -> list[bytes]:
    """The values that start with ``start`` (references to stored data), of one DAG or all."""
    query = select(_C.value).where(_starts_with(start))
    if dag_id is not None:
        query = query.where(_C.dag_id == dag_id)
    return [bytes(v) for v in bind.execute(query).scalars()]


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
