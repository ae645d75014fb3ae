"""Reading the audit log (``log``) for the API: filtered, ordered pages and single rows.

:mod:`.audit` writes the rows; this module reads them with the DAG's display name and the
task's (from its task instance, when it still exists). Filters are Airflow's: exact values,
event name lists, a time window, and ``*_pattern`` searches (:mod:`.search`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import Session

from tradewind.db.models import DagModel, Log, TaskInstance
from tradewind.db.queries.search import search_clause, storable

_log = Log.__table__
_dag = DagModel.__table__
_ti = TaskInstance.__table__

COLUMNS = (
    _log.c.id,
    _log.c.dttm,
    _log.c.dag_id,
    _log.c.task_id,
    _log.c.run_id,
    _log.c.map_index,
    _log.c.try_number,
    _log.c.event,
    _log.c.logical_date,
    _log.c.owner,
    _log.c.extra,
    _dag.c.dag_display_name,
    func.coalesce(_ti.c.task_display_name, _ti.c.task_id).label("task_display_name"),
)

#: ``order_by`` names (Airflow 3's and 2's) and their columns.
ORDERABLE: dict[str, Any] = {
    "id": _log.c.id,
    "event_log_id": _log.c.id,
    "dttm": _log.c.dttm,
    "when": _log.c.dttm,
    "dag_id": _log.c.dag_id,
    "task_id": _log.c.task_id,
    "run_id": _log.c.run_id,
    "event": _log.c.event,
    "logical_date": _log.c.logical_date,
    "execution_date": _log.c.logical_date,
    "owner": _log.c.owner,
    "owner_display_name": _log.c.owner,
    "extra": _log.c.extra,
}


@dataclass(frozen=True)
class EventFilters:
    """What an event log listing selects; ``dag_ids`` is the caller's access (``None``:
    every DAG; rows about no DAG are always visible)."""

    dag_ids: frozenset[str] | None = None
    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    owner: str | None = None
    event: str | None = None
    included_events: tuple[str, ...] | None = None
    excluded_events: tuple[str, ...] | None = None
    before: datetime | None = None
    after: datetime | None = None
    dag_id_pattern: str | None = None
    task_id_pattern: str | None = None
    run_id_pattern: str | None = None
    owner_pattern: str | None = None
    event_pattern: str | None = None

    def where(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.dag_ids is not None:
            out.append(or_(_log.c.dag_id.is_(None), _log.c.dag_id.in_(sorted(self.dag_ids))))
        for column, value in (
            (_log.c.dag_id, self.dag_id),
            (_log.c.task_id, self.task_id),
            (_log.c.run_id, self.run_id),
            (_log.c.owner, self.owner),
            (_log.c.event, self.event),
        ):
            if value is not None:
                out.append(column == value if storable(value) else false())
        if self.map_index is not None:
            out.append(_log.c.map_index == self.map_index)
        if self.try_number is not None:
            out.append(_log.c.try_number == self.try_number)
        if self.included_events is not None:
            out.append(_log.c.event.in_([e for e in self.included_events if storable(e)]))
        if self.excluded_events:
            out.append(_log.c.event.not_in([e for e in self.excluded_events if storable(e)]))
        if self.before is not None:
            out.append(_log.c.dttm < self.before)
        if self.after is not None:
            out.append(_log.c.dttm > self.after)
        for column, pattern in (
            (_log.c.dag_id, self.dag_id_pattern),
            (_log.c.task_id, self.task_id_pattern),
            (_log.c.run_id, self.run_id_pattern),
            (_log.c.owner, self.owner_pattern),
            (_log.c.event, self.event_pattern),
        ):
            if pattern is not None:
                clause = search_clause(column, pattern) if storable(pattern) else false()
                if clause is not None:
                    out.append(clause)
        return out


def _source() -> Any:
    return _log.outerjoin(_dag, _dag.c.dag_id == _log.c.dag_id).outerjoin(
        _ti,
        (_ti.c.dag_id == _log.c.dag_id)
        & (_ti.c.run_id == _log.c.run_id)
        & (_ti.c.task_id == _log.c.task_id)
        & (_ti.c.map_index == func.coalesce(_log.c.map_index, -1)),
    )


def list_events(
    session: Session,
    filters: EventFilters,
    *,
    order: list[Any],
    limit: int | None,
    offset: int,
) -> tuple[list[Any], int]:
    """A page of audit rows (:data:`COLUMNS`) and how many pass the filters."""
    where = filters.where()
    query = select(*COLUMNS).select_from(_source()).where(*where).order_by(*order, _log.c.id)
    if limit is not None:
        query = query.limit(limit)
    rows = list(session.execute(query.offset(offset)).all())
    count = select(func.count()).select_from(_log).where(*where)
    return rows, int(session.execute(count).scalar_one())


def get_event(session: Session, event_log_id: int) -> Any:
    query = select(*COLUMNS).select_from(_source()).where(_log.c.id == event_log_id)
    return session.execute(query).first()
