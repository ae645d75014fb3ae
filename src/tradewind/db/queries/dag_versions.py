"""What the API shows about DAGs besides their rows: versions, source, run counts by state.

Versions are ``serialized_dag`` rows, listed without their JSON. Run counts come from one
grouped statement over ``dag_run`` (its ``(state, dag_id)`` index).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from tradewind.db.models import DagCode, DagModel, DagRun, SerializedDagModel
from tradewind.db.queries.search import storable

_version = SerializedDagModel.__table__
_dag = DagModel.__table__

#: The columns a version listing returns (never ``data``).
VERSION_COLUMNS = (
    _version.c.id,
    _version.c.version_number,
    _version.c.dag_id,
    _version.c.created_at,
    func.coalesce(_dag.c.dag_display_name, _version.c.dag_id).label("dag_display_name"),
)

#: ``order_by`` names of the version listing. Tradewind has one bundle without versions,
#: so ordering by bundle is ordering by id.
VERSION_ORDERABLE: dict[str, Any] = {
    "id": _version.c.id,
    "version_number": _version.c.version_number,
    "bundle_name": _version.c.id,
    "bundle_version": _version.c.id,
}


def list_versions(
    session: Session,
    *,
    dag_id: str | None,
    dag_ids: frozenset[str] | None,
    version_number: int | None = None,
    match_nothing: bool = False,
    order: Sequence[Any] = (),
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[Any], int]:
    """A page of versions (of ``dag_id``, or of every DAG in ``dag_ids`` when it is
    ``None``; ``dag_ids`` ``None`` is every DAG) and how many there are."""
    where: list[Any] = []
    if match_nothing or (dag_ids is not None and not dag_ids):
        where.append(false())
    if dag_id is not None:
        where.append(_version.c.dag_id == dag_id)
    if dag_ids is not None and dag_ids:
        where.append(_version.c.dag_id.in_(sorted(dag_ids)))
    if version_number is not None:
        where.append(_version.c.version_number == version_number)
    source = _version.outerjoin(_dag, _dag.c.dag_id == _version.c.dag_id)
    query = (
        select(*VERSION_COLUMNS)
        .select_from(source)
        .where(*where)
        .order_by(*order, _version.c.id)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    rows = list(session.execute(query).all())
    count = select(func.count()).select_from(_version).where(*where)
    return rows, int(session.execute(count).scalar_one())


def get_version(session: Session, dag_id: str, version_number: int) -> Any:
    """One version of ``dag_id`` (without its JSON), or ``None``."""
    if not storable(dag_id):
        return None
    rows, _ = list_versions(session, dag_id=dag_id, dag_ids=None, version_number=version_number)
    return rows[0] if rows else None


def latest_version_number(session: Session, dag_id: str) -> int | None:
    query = select(func.max(_version.c.version_number)).where(_version.c.dag_id == dag_id)
    value = session.execute(query).scalar()
    return None if value is None else int(value)


def source_of(session: Session, dag_id: str) -> str | None:
    """The DAG file's source as last parsed (its text), or ``None`` when none is kept."""
    code = session.scalars(select(DagCode.source_code).where(DagCode.dag_id == dag_id)).first()
    return None if code is None else bytes(code).decode("utf-8", errors="replace")


def run_counts(
    session: Session, dag_ids: Sequence[str], readable: frozenset[str] | None
) -> dict[tuple[str, str], dict[str, int]]:
    """``{(dag_id, display name): {state: runs}}`` for the DAGs that have runs: those in
    ``dag_ids`` (all when empty) that are in ``readable`` (all when ``None``), by dag_id."""
    wanted = [d for d in dag_ids if storable(d)]
    if (dag_ids and not wanted) or (readable is not None and not readable):
        return {}
    run = DagRun.__table__
    name = func.coalesce(_dag.c.dag_display_name, run.c.dag_id)
    query = (
        select(run.c.dag_id, name, run.c.state, func.count())
        .select_from(run.outerjoin(_dag, _dag.c.dag_id == run.c.dag_id))
        .group_by(run.c.dag_id, name, run.c.state)
        .order_by(run.c.dag_id)
    )
    if wanted:
        query = query.where(run.c.dag_id.in_(sorted(set(wanted))))
    if readable is not None:
        query = query.where(run.c.dag_id.in_(sorted(readable)))
    out: dict[tuple[str, str], dict[str, int]] = {}
    for dag_id, display_name, state, count in session.execute(query):
        out.setdefault((dag_id, display_name), {})[state] = int(count)
    return out
