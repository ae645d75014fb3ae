"""Reading task instances and their past tries for the API: filtered pages, one instance, tries.

A page is one ``SELECT`` (the instance with its run's dates, its DAG's display name, its
serialized version, its trigger and the jobs that queued it or run its trigger, all joined)
plus one ``COUNT``; nothing is read per row. Filters are values bound as parameters, never
SQL text, so a filter value can only ever match or not match.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, false, func, literal, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import operators

from tradewind.db.models import (
    DagModel,
    DagRun,
    Job,
    SerializedDagModel,
    TaskInstance,
    TaskInstanceHistory,
    Trigger,
)
from tradewind.db.types import UtcDateTime

TI = TaskInstance
TIH = TaskInstanceHistory
_QUEUED_BY = aliased(Job, name="queued_by_job")
_TRIGGERER = aliased(Job, name="triggerer_job")

#: Names ``order_by`` takes on task instance lists (Airflow's), and the columns they sort.
ORDER_COLUMNS: Mapping[str, Any] = {
    "id": TI.id,
    "state": TI.state,
    "duration": TI.duration,
    "start_date": TI.start_date,
    "end_date": TI.end_date,
    "map_index": TI.map_index,
    "try_number": TI.try_number,
    "logical_date": DagRun.logical_date,
    "run_after": DagRun.run_after,
    "data_interval_start": DagRun.data_interval_start,
    "data_interval_end": DagRun.data_interval_end,
    "rendered_map_index": TI.rendered_map_index,
    "operator": TI.operator,
}
#: What the batch list (``POST .../taskInstances/list``) orders by, as in Airflow.
BATCH_ORDER_COLUMNS: Mapping[str, Any] = {
    name: ORDER_COLUMNS[name]
    for name in ("id", "state", "duration", "start_date", "end_date", "map_index")
}
#: Fields a range filter (``<field>_gte``, ``_gt``, ``_lte``, ``_lt``) may bound.
RANGE_FIELDS = ("run_after", "logical_date", "start_date", "end_date", "updated_at", "duration")


@dataclass(frozen=True)
class Bounds:
    """A range filter: each bound is optional."""

    gte: Any = None
    gt: Any = None
    lte: Any = None
    lt: Any = None

    def is_set(self) -> bool:
        return any(v is not None for v in (self.gte, self.gt, self.lte, self.lt))


@dataclass(frozen=True)
class TiFilter:
    """What a list of task instances is narrowed to; ``None`` means "any"."""

    dag_ids: Collection[str] | None = None
    run_ids: Collection[str] | None = None
    task_ids: Collection[str] | None = None
    map_indexes: Collection[int] | None = None
    #: States to match; ``None`` in it matches "no status".
    states: Collection[str | None] | None = None
    pools: Collection[str] | None = None
    queues: Collection[str] | None = None
    executors: Collection[str] | None = None
    operators: Collection[str] | None = None
    try_numbers: Collection[int] | None = None
    version_numbers: Collection[int] | None = None
    ranges: Mapping[str, Bounds] = field(default_factory=dict)
    #: SQL ``LIKE`` patterns (``%`` and ``_`` wildcards), case-insensitive, as Airflow's.
    task_display_name_pattern: str | None = None
    dag_id_pattern: str | None = None
    mapped_only: bool = False


@dataclass(frozen=True)
class VersionInfo:
    """The serialized DAG version a task instance ran with."""

    id: int
    version_number: int
    dag_id: str
    created_at: datetime
    dag_display_name: str


@dataclass(frozen=True)
class TiDetail:
    """One task instance (or past try) with what the API shows beside it."""

    ti: TaskInstance | TaskInstanceHistory
    logical_date: datetime | None
    run_after: datetime | None
    dag_display_name: str
    version: VersionInfo | None
    trigger: Trigger | None
    queued_by_job: Job | None
    triggerer_job: Job | None


def _now() -> datetime:
    return datetime.now(UTC)


def _range_column(name: str, model: Any) -> Any:
    if name in ("run_after", "logical_date"):
        return getattr(DagRun, name)
    column = getattr(model, name)
    if name in ("start_date", "end_date"):
        # As Airflow: a try still running counts as ending (or starting) now.
        return func.coalesce(column, literal(_now(), UtcDateTime()))
    return column


def _any_of(column: Any, values: Collection[Any]) -> ColumnElement[bool]:
    clause: ColumnElement[bool] = column.in_(sorted(set(values), key=str))
    return clause


def conditions(f: TiFilter, model: Any = TI) -> list[ColumnElement[bool]]:
    """The ``WHERE`` clauses of ``f`` on ``model`` (task instances or their history)."""
    out: list[ColumnElement[bool]] = []
    for values, column in (
        (f.dag_ids, model.dag_id),
        (f.run_ids, model.run_id),
        (f.task_ids, model.task_id),
        (f.map_indexes, model.map_index),
        (f.pools, model.pool),
        (f.queues, model.queue),
        (f.executors, model.executor),
        (f.operators, model.operator),
        (f.try_numbers, model.try_number),
        (f.version_numbers, SerializedDagModel.version_number),
    ):
        if values is not None:
            out.append(_any_of(column, values) if values else false())
    if f.states is not None:
        named = [s for s in f.states if s is not None]
        clauses = [model.state.in_(sorted(set(named)))] if named else []
        if None in f.states:
            clauses.append(model.state.is_(None))
        out.append(or_(*clauses) if clauses else false())
    for name, bounds in f.ranges.items():
        column = _range_column(name, model)
        for value, op in (
            (bounds.gte, "__ge__"),
            (bounds.gt, "__gt__"),
            (bounds.lte, "__le__"),
            (bounds.lt, "__lt__"),
        ):
            if value is not None:
                out.append(getattr(column, op)(value))
    if f.task_display_name_pattern is not None:
        shown = func.coalesce(model.task_display_name, model.task_id)
        out.append(shown.ilike(_pattern(f.task_display_name_pattern)))
    if f.dag_id_pattern is not None:
        out.append(model.dag_id.ilike(_pattern(f.dag_id_pattern)))
    if f.mapped_only:
        out.append(model.map_index >= 0)
    return out


def _pattern(value: str) -> str:
    """Airflow's search: ``~`` matches everything; anything else is found inside the name."""
    return "%" if value == "~" else f"%{value}%"


def _detail_select(model: Any) -> Select[Any]:
    return (
        select(
            model,
            DagRun.logical_date,
            DagRun.run_after,
            DagModel.dag_display_name,
            SerializedDagModel.id.label("version_id"),
            SerializedDagModel.version_number,
            SerializedDagModel.created_at.label("version_created_at"),
            Trigger,
            _QUEUED_BY,
            _TRIGGERER,
        )
        .select_from(model)
        .join(DagRun, and_(DagRun.dag_id == model.dag_id, DagRun.run_id == model.run_id))
        .outerjoin(DagModel, DagModel.dag_id == model.dag_id)
        .outerjoin(SerializedDagModel, SerializedDagModel.id == model.dag_version_id)
        .outerjoin(Trigger, Trigger.id == model.trigger_id)
        .outerjoin(_QUEUED_BY, _QUEUED_BY.id == model.queued_by_job_id)
        .outerjoin(_TRIGGERER, _TRIGGERER.id == Trigger.triggerer_id)
        # Rows may have changed in this transaction through plain UPDATEs: read them afresh.
        .execution_options(populate_existing=True)
    )


def _detail(row: Any) -> TiDetail:
    ti = row[0]
    display = row.dag_display_name or ti.dag_id
    version = None
    if row.version_id is not None:
        version = VersionInfo(
            row.version_id, row.version_number, ti.dag_id, row.version_created_at, display
        )
    return TiDetail(
        ti=ti,
        logical_date=row.logical_date,
        run_after=row.run_after,
        dag_display_name=display,
        version=version,
        trigger=row.Trigger,
        queued_by_job=row.queued_by_job,
        triggerer_job=row.triggerer_job,
    )


def nulls_last(clauses: Sequence[Any]) -> list[Any]:
    """``clauses`` with rows lacking the value last, on every database (as Airflow sorts),
    and the id as the final tie-break so pages never overlap."""
    out: list[Any] = []
    for clause in clauses:
        out.append(case((clause.element.is_(None), 1), else_=0))
        out.append(clause)
    descending = bool(clauses) and getattr(clauses[0], "modifier", None) is operators.desc_op
    out.append(TI.id.desc() if descending else TI.id.asc())
    return out


def page(
    session: Session,
    f: TiFilter,
    order: Sequence[Any],
    limit: int,
    offset: int,
) -> tuple[list[TiDetail], int]:
    """One page of task instances matching ``f`` in ``order``, and how many match in all."""
    where = conditions(f)
    count_query = (
        select(func.count())
        .select_from(TI)
        .join(DagRun, and_(DagRun.dag_id == TI.dag_id, DagRun.run_id == TI.run_id))
    )
    if f.version_numbers is not None:
        count_query = count_query.outerjoin(
            SerializedDagModel, SerializedDagModel.id == TI.dag_version_id
        )
    total = int(session.execute(count_query.where(*where)).scalar_one())
    if total == 0 or limit == 0:
        return [], total
    query = _detail_select(TI).where(*where).order_by(*order).limit(limit).offset(offset)
    return [_detail(row) for row in session.execute(query)], total


def get(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int | None
) -> TiDetail | None:
    """One task instance; with ``map_index`` None, the one with the lowest map index (-1 when
    the task is not mapped, so the caller can tell a mapped task from a missing one)."""
    query = _detail_select(TI).where(
        TI.dag_id == dag_id, TI.run_id == run_id, TI.task_id == task_id
    )
    if map_index is not None:
        query = query.where(TI.map_index == map_index)
    row = session.execute(query.order_by(TI.map_index).limit(1)).first()
    return None if row is None else _detail(row)


def by_ids(session: Session, ti_ids: Collection[str]) -> list[TiDetail]:
    """Task instances by id, as they are now, ordered by DAG, run, task and map index."""
    if not ti_ids:
        return []
    query = (
        _detail_select(TI)
        .where(TI.id.in_(sorted(ti_ids)))
        .order_by(TI.dag_id, DagRun.run_after, TI.run_id, TI.task_id, TI.map_index)
    )
    return [_detail(row) for row in session.execute(query)]


def exists(session: Session, dag_id: str, run_id: str, task_id: str, map_index: int | None) -> bool:
    """Whether the task has an instance in the run (at ``map_index``, when given)."""
    query = select(TI.id).where(TI.dag_id == dag_id, TI.run_id == run_id, TI.task_id == task_id)
    if map_index is not None:
        query = query.where(TI.map_index == map_index)
    return session.scalar(query.limit(1)) is not None


def of_task(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int | None
) -> list[TiDetail]:
    """Every instance of one task in one run (or only the one at ``map_index``)."""
    query = _detail_select(TI).where(
        TI.dag_id == dag_id, TI.run_id == run_id, TI.task_id == task_id
    )
    if map_index is not None:
        query = query.where(TI.map_index == map_index)
    return [_detail(row) for row in session.execute(query.order_by(TI.map_index))]


def tries(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int
) -> list[TiDetail]:
    """Every try of one task instance, oldest first: the finished ones from the history, then
    the current row unless it is one of those (an instance waiting to retry, or cleared and
    not started again, still carries the number of the try it archived)."""
    past = [
        _detail(row)
        for row in session.execute(
            _detail_select(TIH)
            .where(
                TIH.dag_id == dag_id,
                TIH.run_id == run_id,
                TIH.task_id == task_id,
                TIH.map_index == map_index,
            )
            .order_by(TIH.try_number)
        )
    ]
    current = get(session, dag_id, run_id, task_id, map_index)
    archived = {d.ti.try_number for d in past}
    if current is not None and current.ti.try_number not in archived:
        past.append(current)
    return past


def one_try(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int
) -> TiDetail | None:
    """One try of a task instance: the archived copy when there is one, else the current row
    if it is at that try."""
    row = session.execute(
        _detail_select(TIH).where(
            TIH.dag_id == dag_id,
            TIH.run_id == run_id,
            TIH.task_id == task_id,
            TIH.map_index == map_index,
            TIH.try_number == try_number,
        )
    ).first()
    if row is not None:
        return _detail(row)
    current = get(session, dag_id, run_id, task_id, map_index)
    if current is not None and current.ti.try_number == try_number:
        return current
    return None
