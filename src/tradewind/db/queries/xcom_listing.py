"""XCom entries as the API lists, reads and edits them (the workers' hot path is
:mod:`tradewind.db.queries.xcom`; nothing here is on it).

A page is one query joined to its run (logical date), its DAG (display name) and its task
instance (task display name), plus one count. Values are never read for a listing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tradewind.db.models import DagModel, DagRun, TaskInstance, XComRow
from tradewind.db.queries.search import search_clause
from tradewind.exceptions import TradewindException
from tradewind.xcom.base import XComKey

#: What a path segment ``~`` means: every DAG, run or task.
ANY = "~"
_DAG_NAME = func.coalesce(DagModel.dag_display_name, XComRow.dag_id)


class XComExistsError(TradewindException):
    """An entry with that key already exists for the task instance."""


@dataclass(frozen=True)
class XComEntry:
    """One stored XCom entry; ``value`` (the row's text) only when read one at a time."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    key: str
    timestamp: datetime
    logical_date: datetime | None
    dag_display_name: str
    task_display_name: str
    value: str | None = None


@dataclass(frozen=True)
class XComFilter:
    """What a listing asks for: ids (``~`` for any), exact key and map index, patterns, and
    the DAGs the caller may read (None: all)."""

    dag_id: str = ANY
    run_id: str = ANY
    task_id: str = ANY
    map_index: int | None = None
    key: str | None = None
    key_pattern: str | None = None
    run_id_pattern: str | None = None
    task_id_pattern: str | None = None
    dag_display_name_pattern: str | None = None
    readable_dag_ids: frozenset[str] | None = None

    def conditions(self) -> list[Any]:
        out: list[Any] = []
        for column, value in (
            (XComRow.dag_id, self.dag_id),
            (XComRow.run_id, self.run_id),
            (XComRow.task_id, self.task_id),
        ):
            if value != ANY:
                out.append(column == value)
        if self.map_index is not None:
            out.append(XComRow.map_index == self.map_index)
        if self.key is not None:
            out.append(XComRow.key == self.key)
        if self.readable_dag_ids is not None:
            out.append(XComRow.dag_id.in_(sorted(self.readable_dag_ids)))
        patterns: list[tuple[Any, str | None]] = [
            (XComRow.key, self.key_pattern),
            (XComRow.run_id, self.run_id_pattern),
            (XComRow.task_id, self.task_id_pattern),
            (_DAG_NAME, self.dag_display_name_pattern),
        ]
        for column, pattern in patterns:
            clause = search_clause(column, pattern)
            if clause is not None:
                out.append(clause)
        return out


_COLUMNS = (
    XComRow.dag_id,
    XComRow.run_id,
    XComRow.task_id,
    XComRow.map_index,
    XComRow.key,
    XComRow.timestamp,
    DagRun.logical_date,
    _DAG_NAME,
    func.coalesce(TaskInstance.task_display_name, XComRow.task_id),
)


def _joined(query: Any, *, task_instance: bool = True) -> Any:
    query = query.join(
        DagRun, and_(DagRun.dag_id == XComRow.dag_id, DagRun.run_id == XComRow.run_id)
    ).join(DagModel, DagModel.dag_id == XComRow.dag_id)
    if task_instance:
        query = query.outerjoin(
            TaskInstance,
            and_(
                TaskInstance.dag_id == XComRow.dag_id,
                TaskInstance.run_id == XComRow.run_id,
                TaskInstance.task_id == XComRow.task_id,
                TaskInstance.map_index == XComRow.map_index,
            ),
        )
    return query


def _entry(row: Any, value: Any = None) -> XComEntry:
    dag_id, run_id, task_id, map_index, key, timestamp, logical_date, dag_name, task_name = row
    return XComEntry(
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=int(map_index),
        key=key,
        timestamp=timestamp,
        logical_date=logical_date,
        dag_display_name=dag_name,
        task_display_name=task_name,
        value=None if value is None else bytes(value).decode(),
    )


def xcom_page(
    session: Session, where: XComFilter, *, limit: int, offset: int
) -> tuple[list[XComEntry], int]:
    """One page of entries (Airflow's order: DAG, task, run, map index, key) and how many
    match. Values are not read."""
    if where.readable_dag_ids is not None and not where.readable_dag_ids:
        return [], 0
    conditions = where.conditions()
    query = _joined(select(*_COLUMNS).select_from(XComRow)).where(*conditions)
    query = query.order_by(
        XComRow.dag_id, XComRow.task_id, XComRow.run_id, XComRow.map_index, XComRow.key
    )
    rows = session.execute(query.limit(limit).offset(offset)).all()
    count = _joined(select(func.count()).select_from(XComRow), task_instance=False)
    total = int(session.scalar(count.where(*conditions)) or 0)
    return [_entry(row) for row in rows], total


def get_entry(session: Session, key: XComKey) -> XComEntry | None:
    """One entry with its value (the row's text), or None."""
    row = session.execute(
        _joined(select(*_COLUMNS, XComRow.value).select_from(XComRow)).where(
            XComRow.dag_id == key.dag_id,
            XComRow.run_id == key.run_id,
            XComRow.task_id == key.task_id,
            XComRow.map_index == key.map_index,
            XComRow.key == key.key,
        )
    ).first()
    return None if row is None else _entry(row[:-1], row[-1])


def _where(key: XComKey) -> Any:
    return and_(
        XComRow.dag_id == key.dag_id,
        XComRow.run_id == key.run_id,
        XComRow.task_id == key.task_id,
        XComRow.map_index == key.map_index,
        XComRow.key == key.key,
    )


def insert_entry(session: Session, key: XComKey, text: str) -> None:
    """Add an entry holding ``text`` (what the XCom backend made of the value);
    :class:`XComExistsError` if there is one (the caller's transaction must then roll back
    when it was added at the same moment by someone else)."""
    exists = XComExistsError(
        f"The XCom with key: `{key.key}` with mentioned task instance already exists."
    )
    if session.scalar(select(XComRow.key).where(_where(key))) is not None:
        raise exists
    session.add(
        XComRow(
            dag_id=key.dag_id,
            run_id=key.run_id,
            task_id=key.task_id,
            map_index=key.map_index,
            key=key.key,
            value=text.encode(),
            timestamp=datetime.now(UTC),
        )
    )
    try:
        session.flush()
    except IntegrityError:
        raise exists from None


def replace_value(session: Session, key: XComKey, text: str) -> str | None:
    """Give an existing entry ``text`` (and a new timestamp); the text it held, for the
    backend to purge what it referred to, or None when there is no such entry."""
    old = session.scalar(select(XComRow.value).where(_where(key)).with_for_update())
    if old is None:
        return None
    session.execute(
        update(XComRow).where(_where(key)).values(value=text.encode(), timestamp=datetime.now(UTC))
    )
    return bytes(old).decode()


def run_of(session: Session, dag_id: str, run_id: str) -> tuple[str, int | None] | None:
    """A run's state and DAG version, or None when there is no such run."""
    row = session.execute(
        select(DagRun.state, DagRun.dag_version_id).where(
            DagRun.dag_id == dag_id, DagRun.run_id == run_id
        )
    ).first()
    return None if row is None else (str(row[0]), row[1])
