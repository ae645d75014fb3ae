"""Reading DAG runs for the API: filtered, ordered pages, and what a response shows with them.

A page costs two queries whatever its size: a ``count(*)`` over the filters, and the page
itself joined to the ``dag`` row (for the display name). The serialized versions the page's
runs follow are read with one more query (:func:`versions_by_id`), without their JSON.
Filters are Airflow 3's (``<column>_gte/_gt/_lte/_lt`` ranges, ``state``, ``run_type``,
``*_pattern`` LIKE searches...); values are always bound parameters, never SQL text.

>>> print(like(DagRun.run_id, "manual%").compile(compile_kwargs={"literal_binds": True}))
lower(dag_run.run_id) LIKE lower('%manual%%') ESCAPE '\\'
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float, Text, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from tradewind.db.models import DagModel, DagRun, ImportError_, SerializedDagModel
from tradewind.db.types import UtcDateTime

#: Columns an API client may order runs by (``dag_run_id`` is Airflow's name for ``run_id``).
ORDERABLE = (
    "id",
    "state",
    "dag_id",
    "run_id",
    "dag_run_id",
    "logical_date",
    "run_after",
    "start_date",
    "end_date",
    "updated_at",
    "conf",
    "duration",
)
#: The datetime columns that take ``_gte`` / ``_gt`` / ``_lte`` / ``_lt`` bounds.
RANGED = ("run_after", "logical_date", "start_date", "end_date", "updated_at")
#: Largest offset passed to the database (bigger ones would overflow its integer type).
MAX_OFFSET = 2**62


@dataclass(frozen=True)
class Bounds:
    """A range filter: each bound is optional (Airflow's ``Range``)."""

    gte: Any = None
    gt: Any = None
    lte: Any = None
    lt: Any = None

    def clauses(self, column: Any) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.gte is not None:
            found.append(column >= self.gte)
        if self.gt is not None:
            found.append(column > self.gt)
        if self.lte is not None:
            found.append(column <= self.lte)
        if self.lt is not None:
            found.append(column < self.lt)
        return found


@dataclass
class RunFilter:
    """What to list. ``None`` (or empty) means "no condition" for each field."""

    dag_ids: Collection[str] | None = None
    #: The DAGs the caller may read (``None``: every DAG), from ``Principal.dag_ids_with``.
    readable: Collection[str] | None = None
    states: Sequence[str | None] | None = None
    run_types: Sequence[str] | None = None
    ranges: Mapping[str, Bounds] = field(default_factory=dict)
    duration: Bounds | None = None
    run_id_pattern: str | None = None
    dag_id_pattern: str | None = None
    #: Runs do not record who triggered them: any pattern matches nothing, as NULL would.
    triggering_user_name_pattern: str | None = None
    dag_versions: Sequence[int] | None = None
    conf_contains: str | None = None

    def clauses(self, now: datetime, dialect: str = "sqlite") -> list[ColumnElement[bool]]:
        """The WHERE clauses; ``now`` stands for the end of runs not ended yet (as Airflow)."""
        found: list[ColumnElement[bool]] = []
        if self.dag_ids is not None:
            found.append(DagRun.dag_id.in_(sorted(set(self.dag_ids))))
        if self.readable is not None:
            found.append(DagRun.dag_id.in_(sorted(set(self.readable))))
        if self.states:
            named = [s for s in self.states if s is not None]
            either = [DagRun.state.in_(named)] if named else []
            if len(named) != len(self.states):
                either.append(DagRun.state.is_(None))
            found.append(or_(*either))
        if self.run_types:
            found.append(DagRun.run_type.in_(list(self.run_types)))
        now_value = literal(now, UtcDateTime())
        for name, bounds in self.ranges.items():
            column: Any = getattr(DagRun, name)
            if name in ("start_date", "end_date"):
                column = func.coalesce(column, now_value)
            found.extend(bounds.clauses(column))
        if self.duration is not None:
            found.extend(self.duration.clauses(duration_seconds(dialect)))
        for column, pattern in (
            (DagRun.run_id, self.run_id_pattern),
            (DagRun.dag_id, self.dag_id_pattern),
        ):
            if pattern is not None:
                found.append(like(column, pattern))
        if self.triggering_user_name_pattern is not None:
            found.append(like(DagRun.triggering_user_name, self.triggering_user_name_pattern))
        if self.dag_versions:
            versions = select(SerializedDagModel.id).where(
                SerializedDagModel.version_number.in_(list(self.dag_versions))
            )
            found.append(DagRun.dag_version_id.in_(versions))
        if self.conf_contains is not None:
            found.append(cast(DagRun.conf, Text).contains(self.conf_contains, autoescape=True))
        return found


def like(column: Any, pattern: str) -> ColumnElement[bool]:
    """Airflow's ``*_pattern`` search: SQL LIKE (``%`` and ``_`` are wildcards), any case,
    ``~`` for everything. Backslashes are literal, so no pattern can end in a dangling escape."""
    if pattern == "~":
        pattern = "%"
    found: ColumnElement[bool] = column.ilike(
        f"%{pattern.replace(chr(92), chr(92) * 2)}%", escape="\\"
    )
    return found


def duration_seconds(dialect: str) -> Any:
    """``end_date - start_date`` in seconds (NULL unless both are set), per database."""
    if dialect == "postgresql":
        return func.extract("epoch", DagRun.end_date - DagRun.start_date)
    return cast(
        (func.julianday(DagRun.end_date) - func.julianday(DagRun.start_date)) * 86400.0, Float
    )


def order_columns(dialect: str) -> dict[str, Any]:
    """The ``order_by`` names clients may use, to their column expressions."""
    columns: dict[str, Any] = {name: getattr(DagRun, name, None) for name in ORDERABLE}
    columns["dag_run_id"] = DagRun.run_id
    # JSON has no ordering on PostgreSQL: order by its text.
    columns["conf"] = cast(DagRun.conf, Text)
    columns["duration"] = duration_seconds(dialect)
    return columns


def order_columns_v1(dialect: str) -> dict[str, Any]:
    """Airflow 2's ``order_by`` names (``execution_date``, ``external_trigger``...)."""
    columns = order_columns(dialect)
    columns["execution_date"] = DagRun.logical_date
    columns["external_trigger"] = case(
        (DagRun.run_type.in_(["manual", "operator_triggered"]), 1), else_=0
    )
    return columns


def list_runs(
    session: Session,
    run_filter: RunFilter,
    order: Sequence[Any],
    *,
    limit: int,
    offset: int,
    now: datetime | None = None,
) -> tuple[list[tuple[DagRun, str | None]], int]:
    """``([(run, dag display name)], total)`` of one page. ``order`` are ORDER BY clauses
    (empty values sort last either way); the run's primary key breaks ties."""
    dialect = session.get_bind().dialect.name
    where = run_filter.clauses(now or datetime.now(UTC), dialect)
    total = session.scalar(select(func.count()).select_from(DagRun).where(*where)) or 0
    if not order:
        order = [DagRun.id.asc()]
    tiebreak = DagRun.id.desc() if _descending(order[0]) else DagRun.id.asc()
    page = (
        select(DagRun, DagModel.dag_display_name)
        .join(DagModel, DagModel.dag_id == DagRun.dag_id)
        .where(*where)
        .order_by(*[clause.nulls_last() for clause in order], tiebreak)
        .limit(limit)
        .offset(min(offset, MAX_OFFSET))
    )
    rows = [(row[0], row[1]) for row in session.execute(page)]
    return rows, int(total)


def _descending(clause: Any) -> bool:
    modifier = getattr(clause, "modifier", None)
    return getattr(modifier, "__name__", "") == "desc_op"


def get_run_with_dag(
    session: Session, dag_id: str, run_id: str
) -> tuple[DagRun, str | None] | None:
    """A run and its DAG's display name, or ``None``."""
    row = session.execute(
        select(DagRun, DagModel.dag_display_name)
        .join(DagModel, DagModel.dag_id == DagRun.dag_id)
        .where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
    ).first()
    return None if row is None else (row[0], row[1])


@dataclass(frozen=True)
class VersionInfo:
    """A serialized version as responses show it (``DagVersionResponse``), without its JSON."""

    id: int
    dag_id: str
    version_number: int
    created_at: datetime


def versions_by_id(session: Session, version_ids: Collection[int | None]) -> dict[int, VersionInfo]:
    """The versions with these ids, in one query."""
    ids = sorted({v for v in version_ids if v is not None})
    if not ids:
        return {}
    rows = session.execute(
        select(
            SerializedDagModel.id,
            SerializedDagModel.dag_id,
            SerializedDagModel.version_number,
            SerializedDagModel.created_at,
        ).where(SerializedDagModel.id.in_(ids))
    )
    return {row[0]: VersionInfo(row[0], row[1], row[2], row[3]) for row in rows}


@dataclass(frozen=True)
class TriggerTarget:
    """What triggering a run needs to know of the DAG, read in one query."""

    dag_id: str
    display_name: str | None
    is_stale: bool
    has_import_errors: bool
    version: VersionInfo | None


def trigger_target(session: Session, dag_id: str) -> TriggerTarget | None:
    """The DAG's row, whether its file has an import error, and its latest version (``None``
    when the DAG is unknown): one round trip on primary keys and unique indexes."""
    versions = aliased(SerializedDagModel)
    latest = (
        select(versions.id)
        .where(versions.dag_id == DagModel.dag_id)
        .order_by(versions.version_number.desc())
        .limit(1)
        .correlate(DagModel)
        .scalar_subquery()
    )
    broken = select(ImportError_.id).where(ImportError_.filename == DagModel.fileloc).exists()
    row = session.execute(
        select(
            DagModel.dag_id,
            DagModel.dag_display_name,
            DagModel.is_stale,
            broken,
            SerializedDagModel.id,
            SerializedDagModel.version_number,
            SerializedDagModel.created_at,
        )
        .select_from(DagModel)
        .outerjoin(SerializedDagModel, SerializedDagModel.id == latest)
        .where(DagModel.dag_id == dag_id)
    ).first()
    if row is None:
        return None
    version = None if row[4] is None else VersionInfo(row[4], row[0], row[5], row[6])
    return TriggerTarget(row[0], row[1], bool(row[2]), bool(row[3]), version)


def dag_display_name(session: Session, dag_id: str) -> tuple[bool, str | None]:
    """``(exists, display name)`` of a DAG."""
    row = session.execute(
        select(DagModel.dag_display_name).where(DagModel.dag_id == dag_id)
    ).first()
    return (False, None) if row is None else (True, row[0])


__all__ = [
    "ORDERABLE",
    "RANGED",
    "Bounds",
    "RunFilter",
    "TriggerTarget",
    "VersionInfo",
    "dag_display_name",
    "get_run_with_dag",
    "like",
    "list_runs",
    "order_columns",
    "order_columns_v1",
    "trigger_target",
    "versions_by_id",
]
