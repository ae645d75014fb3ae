"""Listing DAGs for the API: a filtered, ordered page of ``dag`` rows, their tags, a count.

A page costs one statement whatever its size: the rows (with "does its file have an import
error" as an ``EXISTS``), each with its tags joined in one value, and the count as a scalar
subquery (computed once). Rows are Core selects of the columns a listing shows, run on the
session's connection (no ORM work), never the serialized DAG.

Filters follow Airflow's ``GET /dags``: patterns are SQL ``LIKE`` patterns matched anywhere
in the value, case-insensitively (``~`` means everything; :mod:`.search`); ``last_run_*``
filters and orderings look at each DAG's latest run that started (the highest run id with a
start date).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    bindparam,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from tradewind.db.models import DagModel, DagRun, DagTag, ImportError_
from tradewind.db.queries.search import search_clause, storable

_dag = DagModel.__table__
_run = DagRun.__table__
#: Each DAG's latest started run; joined only when a filter or an ordering needs it.
LATEST_RUN = _run.alias("latest_run")
_latest_ids = (
    select(_run.c.dag_id, func.max(_run.c.id).label("run_pk"))
    .where(_run.c.start_date.is_not(None))
    .group_by(_run.c.dag_id)
    .subquery("latest_run_ids")
)

HAS_IMPORT_ERRORS = (
    exists().where(ImportError_.__table__.c.filename == _dag.c.fileloc).label("has_import_errors")
)

#: The columns a listing returns, in this order.
LISTED_COLUMNS = (
    _dag.c.dag_id,
    _dag.c.dag_display_name,
    _dag.c.is_paused,
    _dag.c.is_stale,
    _dag.c.last_parsed_time,
    _dag.c.fileloc,
    _dag.c.owners,
    _dag.c.description,
    _dag.c.timetable_summary,
    _dag.c.timetable_description,
    _dag.c.max_active_tasks,
    _dag.c.max_active_runs,
    _dag.c.max_consecutive_failed_dag_runs,
    _dag.c.has_task_concurrency_limits,
    _dag.c.next_dagrun,
    _dag.c.next_dagrun_data_interval_start,
    _dag.c.next_dagrun_data_interval_end,
    _dag.c.next_dagrun_create_after,
    HAS_IMPORT_ERRORS,
)

#: Joins a DAG's tag names in one value (a character no tag name is expected to hold).
TAG_SEPARATOR = "\x1f"

#: ``order_by`` names of ``GET /dags`` and what they sort by.
ORDERABLE: dict[str, Any] = {
    "dag_id": _dag.c.dag_id,
    "dag_display_name": _dag.c.dag_display_name,
    "next_dagrun": _dag.c.next_dagrun,
    "last_run_state": LATEST_RUN.c.state,
    "last_run_start_date": LATEST_RUN.c.start_date,
}


@dataclass(frozen=True)
class DateRange:
    """Bounds on a datetime; ``None`` is no bound."""

    gte: datetime | None = None
    gt: datetime | None = None
    lte: datetime | None = None
    lt: datetime | None = None

    def active(self) -> bool:
        return any(v is not None for v in (self.gte, self.gt, self.lte, self.lt))

    def clauses(self, column: Any) -> list[ColumnElement[bool]]:
        out = []
        if self.gte is not None:
            out.append(column >= self.gte)
        if self.gt is not None:
            out.append(column > self.gt)
        if self.lte is not None:
            out.append(column <= self.lte)
        if self.lt is not None:
            out.append(column < self.lt)
        return out


@dataclass(frozen=True)
class DagFilters:
    """What ``GET /dags`` (and ``PATCH /dags``) select.

    ``dag_ids`` is the caller's access (``None``: every DAG). ``match_nothing`` stands for a
    filter no DAG can pass (an unknown bundle name), so the page is empty without a query.
    """

    dag_ids: frozenset[str] | None = None
    exclude_stale: bool = True
    paused: bool | None = None
    dag_id_pattern: str | None = None
    dag_display_name_pattern: str | None = None
    tags: tuple[str, ...] = ()
    tags_match_all: bool = False
    owners: tuple[str, ...] = ()
    has_import_errors: bool | None = None
    last_run_state: str | None = None
    last_run_states: tuple[str | None, ...] = ()
    last_run_start: DateRange = field(default_factory=DateRange)
    last_run_end: DateRange = field(default_factory=DateRange)
    match_nothing: bool = False

    def needs_latest_run(self) -> bool:
        return bool(
            self.last_run_state is not None
            or self.last_run_states
            or self.last_run_start.active()
            or self.last_run_end.active()
        )

    def where(self) -> list[ColumnElement[bool]]:
        """The WHERE clauses (on ``dag``, and on ``latest_run`` when it is joined)."""
        out: list[ColumnElement[bool]] = []
        if self.match_nothing or (self.dag_ids is not None and not self.dag_ids):
            return [false()]
        if self.dag_ids is not None:
            out.append(_dag.c.dag_id.in_(sorted(self.dag_ids)))
        if self.exclude_stale:
            out.append(_dag.c.is_stale.is_(False))
        if self.paused is not None:
            out.append(_dag.c.is_paused.is_(self.paused))
        out += _searched(_dag.c.dag_id, self.dag_id_pattern)
        out += _searched(_dag.c.dag_display_name, self.dag_display_name_pattern)
        if self.tags:
            tagged = [
                exists().where(DagTag.dag_id == _dag.c.dag_id, DagTag.name == tag)
                if storable(tag)
                else false()
                for tag in self.tags
            ]
            out.append(and_(*tagged) if self.tags_match_all else or_(*tagged))
        if self.owners:
            either = [
                clause
                for owner in self.owners
                for clause in (_searched(_dag.c.owners, owner) or [true()])
            ]
            out.append(or_(*either))
        if self.has_import_errors is not None:
            errors = HAS_IMPORT_ERRORS.element
            out.append(errors if self.has_import_errors else ~errors)
        if self.last_run_state is not None:
            out.append(LATEST_RUN.c.state == self.last_run_state)
        if self.last_run_states:
            known = [s for s in self.last_run_states if s is not None]
            either = [LATEST_RUN.c.state.in_(known)] if known else []
            if None in self.last_run_states:
                either.append(LATEST_RUN.c.state.is_(None))
            out.append(or_(*either))
        out += self.last_run_start.clauses(LATEST_RUN.c.start_date)
        out += self.last_run_end.clauses(LATEST_RUN.c.end_date)
        return out


def _searched(column: Any, pattern: str | None) -> list[ColumnElement[bool]]:
    """Airflow's pattern search on ``column`` (see :mod:`.search`); text the database
    cannot take (a NUL) matches nothing."""
    if pattern is None:
        return []
    if not storable(pattern):
        return [false()]
    clause = search_clause(column, pattern)
    return [] if clause is None else [clause]


def order_clauses(names: Sequence[str]) -> list[Any]:
    """ORDER BY clauses for ``order_by`` values (``name``, ``-name`` descending, or several
    separated by commas) of :data:`ORDERABLE`; nulls go last. The API checks the names
    first (:func:`tradewind.api.deps.order_by`); an unknown one is a ``KeyError`` here."""
    out = []
    for raw in names:
        for item in raw.split(","):
            name = item.strip()
            column = ORDERABLE[name.lstrip("-")]
            out.append((column.desc() if name.startswith("-") else column.asc()).nulls_last())
    return out


def _from(query: Select[Any], joined: bool) -> Select[Any]:
    if not joined:
        return query.select_from(_dag)
    return query.select_from(
        _dag.outerjoin(_latest_ids, _latest_ids.c.dag_id == _dag.c.dag_id).outerjoin(
            LATEST_RUN, LATEST_RUN.c.id == _latest_ids.c.run_pk
        )
    )


_LIMIT = bindparam("page_limit", type_=BigInteger)
_OFFSET = bindparam("page_offset", type_=BigInteger)


@functools.lru_cache(maxsize=256)
def _statements(
    filters: DagFilters, order: tuple[str, ...], with_count: bool, limited: bool
) -> tuple[Select[Any], Select[Any]]:
    """The page statement and the count statement for these filters and this order.

    Building a statement with a CTE costs more than running it on a small table, so the
    statements are kept, with the page's limit and offset as parameters."""
    clauses = order_clauses(order)
    names = [item.strip().lstrip("-") for raw in order for item in raw.split(",")]
    joined = filters.needs_latest_run() or any(ORDERABLE[n].table is LATEST_RUN for n in names)
    if "dag_id" not in names:
        clauses.append(_dag.c.dag_id.asc())
    where = filters.where()
    columns = [*LISTED_COLUMNS, func.row_number().over(order_by=clauses).label("pos")]
    page_query = _from(select(*columns), joined).where(*where).order_by(*clauses)
    if limited:
        page_query = page_query.limit(_LIMIT)
    page = page_query.offset(_OFFSET).cte("page")
    tags = (
        select(DagTag.dag_id, func.aggregate_strings(DagTag.name, TAG_SEPARATOR).label("tags"))
        .where(DagTag.dag_id.in_(select(page.c.dag_id)))
        .group_by(DagTag.dag_id)
        .subquery("page_tags")
    )
    count = _from(select(func.count()), joined).where(*where)
    total = count.scalar_subquery() if with_count else literal(-1)
    query = (
        select(page, tags.c.tags, total.label("total"))
        .select_from(page.outerjoin(tags, tags.c.dag_id == page.c.dag_id))
        .order_by(page.c.pos)
    )
    return query, count


def list_dags(
    session: Session,
    filters: DagFilters,
    *,
    order: Sequence[str] = (),
    limit: int | None = None,
    offset: int = 0,
    with_count: bool = True,
) -> tuple[list[Any], int]:
    """A page of DAGs and how many pass the filters, in one statement.

    Rows have the :data:`LISTED_COLUMNS`, then ``pos``, ``tags`` (:func:`split_tags` reads
    them) and ``total``, in this order.
    ``order`` holds ``order_by`` values (see :func:`order_clauses`); ``dag_id`` breaks
    ties. The count is skipped (``-1``) when ``with_count`` is false.
    """
    if filters.match_nothing:
        return [], 0
    query, count = _statements(filters, tuple(order), with_count, limit is not None)
    params = {"page_offset": offset, "page_limit": limit}
    rows = list(session.connection().execute(query, params).all())
    total = -1
    if with_count:
        if rows:
            total = int(rows[0].total)
        elif offset:  # past the last page: count apart
            total = int(session.connection().execute(count).scalar_one())
        else:
            total = 0
    return rows, total


@functools.lru_cache(maxsize=1024)
def split_tags(tags: str | None) -> tuple[str, ...]:
    """The sorted tag names in a listed row's ``tags``."""
    return tuple(sorted(tags.split(TAG_SEPARATOR))) if tags else ()


def dag_row(session: Session, dag_id: str) -> DagModel | None:
    """The ``dag`` row, or ``None`` (also for an id no row can have, such as one with NUL)."""
    return session.get(DagModel, dag_id) if storable(dag_id) else None


def get_dag(session: Session, dag_id: str) -> Any:
    """One DAG as a listing shows it (stale or not), or ``None``."""
    if not storable(dag_id):
        return None
    rows, _ = list_dags(
        session, DagFilters(dag_ids=frozenset({dag_id}), exclude_stale=False), with_count=False
    )
    return rows[0] if rows else None


def matching_dag_ids(session: Session, filters: DagFilters) -> list[str]:
    """Every DAG id that passes ``filters``, sorted."""
    if filters.match_nothing:
        return []
    query = _from(select(_dag.c.dag_id), filters.needs_latest_run()).where(*filters.where())
    return list(session.scalars(query.order_by(_dag.c.dag_id)))


def set_paused(session: Session, dag_ids: Sequence[str], paused: bool) -> int:
    """Pause or unpause these DAGs; how many rows changed."""
    if not dag_ids:
        return 0
    result = session.execute(
        update(DagModel)
        .where(DagModel.dag_id.in_(list(dag_ids)), DagModel.is_paused.is_not(paused))
        .values(is_paused=paused)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def active_run_count(session: Session, dag_id: str) -> int:
    """Runs of ``dag_id`` that are queued or running."""
    query = (
        select(func.count())
        .select_from(DagRun)
        .where(DagRun.dag_id == dag_id, DagRun.state.in_(("queued", "running")))
    )
    return int(session.execute(query).scalar_one())
