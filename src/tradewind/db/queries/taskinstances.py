"""Task instance state changes, as compare-and-set updates.

Every change says which state (and, for a running try, which try number) it expects; the
``UPDATE ... WHERE state = :expected AND try_number = :n`` either changes exactly one row or
none. So a late or duplicate report is a no-op and a report from a stale try is refused:
nothing runs twice and nothing is lost when messages are repeated.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Row,
    Select,
    Table,
    Update,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from tradewind.db.models import TaskInstance, TaskInstanceHistory
from tradewind.executors.workload import RESCHEDULE_METHOD
from tradewind.states import TaskInstanceState, check_transition

#: Statements go to the table, not through the ORM's bulk-update machinery (a third of
#: the cost of a scheduling pass went there): these functions never load or sync objects.
_TABLE: Table = TaskInstance.__table__  # type: ignore[assignment]


def _now() -> datetime:
    return datetime.now(UTC)


#: A ``scheduled`` row whose try resumes after a deferral (not a sensor's next poke, the
#: other kind of continued try).
_RESUMING = _TABLE.c.next_method.is_not(None) & (_TABLE.c.next_method != RESCHEDULE_METHOD)


def transition(
    session: Session,
    ti_id: str,
    *,
    expected: TaskInstanceState | None,
    new: TaskInstanceState,
    try_number: int | None = None,
    values: dict[str, Any] | None = None,
    via: Sequence[TaskInstanceState] = (),
) -> bool:
    """Move one task instance from ``expected`` to ``new``; False if it was not in
    ``expected`` (or not at ``try_number``). Raises if the move itself is illegal.

    ``via`` are states the instance passes through on the way in the same transaction
    (a try that started and ended between two scheduling passes goes ``queued -> running
    -> success``): each step must be legal; one compare-and-set writes them all.
    """
    return transition_all(session, [(ti_id, expected, new, via, try_number, values or {})])


#: One compare-and-set of :func:`transition_all`: ``(ti_id, expected, new, via,
#: try_number, values)``, as :func:`transition` takes them.
Move = tuple[
    str,
    TaskInstanceState | None,
    TaskInstanceState,
    Sequence[TaskInstanceState],
    int | None,
    dict[str, Any],
]


def transition_all(session: Session, moves: Sequence[Move]) -> bool:
    """Several :func:`transition` s, those of one shape (states, columns) in one
    ``executemany`` (on PostgreSQL one round trip, pipelined); whether every one held.
    When one did not, the caller cannot tell which: it must read the rows again."""
    groups: dict[tuple[bool, bool, tuple[str, ...]], list[dict[str, Any]]] = {}
    now = _now()
    for ti_id, expected, new, via, try_number, values in moves:
        current = expected
        for step in (*via, new):
            check_transition(current, step)
            current = step
        params = {f"v_{name}": value for name, value in values.items()}
        params.update(w_id=ti_id, v_state=new.value, v_updated_at=now)
        if expected is not None:
            params["w_state"] = expected.value
        if try_number is not None:
            params["w_try"] = try_number
        shape = (expected is None, try_number is not None, tuple(values))
        groups.setdefault(shape, []).append(params)
    held = True
    for shape, rows in groups.items():
        # One row goes as a plain execute (rowcount is exact either way).
        result = session.connection().execute(
            _transition_statement(*shape), rows[0] if len(rows) == 1 else rows
        )
        held = held and int(result.rowcount) == len(rows)
    return held


#: A ``values`` key of :func:`transition`: sets ``start_date`` only where it is not set.
FIRST_START = "first_start_date"


@functools.cache
def _transition_statement(from_none: bool, with_try: bool, columns: tuple[str, ...]) -> Update:
    """The compare-and-set ``UPDATE`` of one shape, built once: the scheduler runs a few
    of them per finished try, and building a statement costs more than running it."""
    c = _TABLE.c
    stmt = update(_TABLE).where(c.id == bindparam("w_id"))
    stmt = stmt.where(c.state.is_(None) if from_none else c.state == bindparam("w_state"))
    if with_try:
        stmt = stmt.where(c.try_number == bindparam("w_try"))
    values: dict[Any, Any] = {
        name: bindparam(f"v_{name}") for name in ("state", "updated_at", *columns)
    }
    if FIRST_START in columns:
        # A try's start, unless the row has one: a try resuming after a deferral keeps it.
        del values[FIRST_START]
        values["start_date"] = func.coalesce(c.start_date, bindparam(f"v_{FIRST_START}"))
    return stmt.values(values)


def transition_many(
    session: Session,
    ti_ids: Iterable[str],
    *,
    expected: TaskInstanceState | None,
    new: TaskInstanceState,
    values: dict[str, Any] | None = None,
) -> int:
    """:func:`transition` for many at once; returns how many moved."""
    ids = list(ti_ids)
    if not ids:
        return 0
    check_transition(expected, new)
    stmt = update(_TABLE).where(_TABLE.c.id.in_(ids))
    if expected is None:
        stmt = stmt.where(TaskInstance.state.is_(None))
    else:
        stmt = stmt.where(TaskInstance.state == expected.value)
    stmt = stmt.values(state=new.value, updated_at=_now(), **(values or {}))
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


_HISTORY_COLUMNS = [
    c.name
    for c in TaskInstanceHistory.__table__.columns
    if c.name not in ("id", "task_instance_id")
]


def archive_try(session: Session, ti_id: str) -> None:
    """Copy the task instance's current try into ``task_instance_history`` (before a new
    try starts), so every try stays visible with its own state, times and log."""
    source = [getattr(TaskInstance, name) for name in _HISTORY_COLUMNS]
    session.execute(
        insert(TaskInstanceHistory).from_select(
            ["task_instance_id", *_HISTORY_COLUMNS],
            select(TaskInstance.id, *source).where(TaskInstance.id == ti_id),
        )
    )


def get(session: Session, ti_id: str) -> TaskInstance | None:
    return session.get(TaskInstance, ti_id)


def mark_queued(
    session: Session, ti_id: str, *, job_id: int | None = None, try_number: int | None = None
) -> int | None:
    """``scheduled -> queued`` starting a new try: the try number goes up by one. Returns
    the new try number, or None if the task instance was not scheduled (at ``try_number``,
    when given) any more. (A try that ends ``up_for_retry`` is archived when it ends.)"""
    if try_number is None:
        try_number = session.execute(
            select(_TABLE.c.try_number).where(
                _TABLE.c.id == ti_id, _TABLE.c.state == TaskInstanceState.SCHEDULED.value
            )
        ).scalar()
        if try_number is None:
            return None
    return mark_queued_many(session, [(ti_id, try_number)], job_id=job_id).get(ti_id)


def mark_queued_many(
    session: Session, tries: Sequence[tuple[str, int]], *, job_id: int | None = None
) -> dict[str, int]:
    """:func:`mark_queued` for many task instances in one statement: ``tries`` are
    ``(ti_id, try_number)`` as read; returns the new try number of each that moved (one
    still ``scheduled`` at that try number): one more, unless the instance continues its
    try (``next_method`` set: a resumed deferral or a sensor's next poke)."""
    if not tries:
        return {}
    check_transition(TaskInstanceState.SCHEDULED, TaskInstanceState.QUEUED)
    c, now = _TABLE.c, _now()
    stmt = (
        update(_TABLE)
        .where(
            tuple_(c.id, c.try_number).in_(list(tries)),
            c.state == TaskInstanceState.SCHEDULED.value,
        )
        .values(
            state=TaskInstanceState.QUEUED.value,
            # A try resumed after a deferral, or a sensor's next poke, keeps its number.
            try_number=case((c.next_method.is_(None), c.try_number + 1), else_=c.try_number),
            queued_dttm=now,
            queued_by_job_id=job_id,
            # A try resuming after a deferral keeps its start (Airflow); others start anew.
            start_date=case((_RESUMING, c.start_date), else_=None),
            end_date=None,
            duration=None,
            next_retry_at=None,
            updated_at=now,
        )
        .returning(c.id, c.try_number)
    )
    return {ti_id: int(n) for ti_id, n in session.connection().execute(stmt)}


def queue_candidates(session: Session, limit: int, offset: int = 0) -> Sequence[Row[Any]]:
    """``scheduled`` task instances of running runs of unpaused DAGs, in Airflow's queueing
    order (priority, the run's ``run_after``, map index), at most ``limit`` from ``offset``;
    each row has what queueing and the workload need of the instance, its run and its DAG."""
    return session.connection().execute(_candidates_statement(limit, offset)).all()


@functools.lru_cache(maxsize=64)
def _candidates_statement(limit: int, offset: int) -> Select[Any]:
    from tradewind.db.models import DagCode, DagModel, DagRun

    ti = _TABLE.c
    return (
        select(
            ti.id,
            ti.dag_id,
            ti.run_id,
            ti.task_id,
            ti.map_index,
            ti.try_number,
            ti.max_tries,
            ti.priority_weight,
            ti.pool,
            ti.pool_slots,
            ti.queue,
            ti.next_method,
            ti.next_kwargs,
            DagRun.id.label("run_pk"),
            DagRun.run_after,
            DagRun.dag_version_id,
            DagModel.max_active_tasks,
            DagModel.fileloc,
            DagCode.source_code_hash,
        )
        .join(DagRun, (DagRun.dag_id == ti.dag_id) & (DagRun.run_id == ti.run_id))
        .join(DagModel, DagModel.dag_id == ti.dag_id)
        .outerjoin(DagCode, DagCode.dag_id == ti.dag_id)
        .where(
            ti.state == TaskInstanceState.SCHEDULED.value,
            DagRun.state == "running",
            DagModel.is_paused.is_(False),
        )
        # Airflow's order (priority, the run's date, map index), but within a run the
        # instance scheduled first goes first: a sensor poking again or a resumed deferral
        # must not keep an equal task that waits longer from running. Copies of a mapped
        # task are scheduled together, so they still go by map index.
        .order_by(
            ti.priority_weight.desc(), DagRun.run_after, ti.scheduled_dttm, ti.map_index, ti.id
        )
        .limit(limit)
        .offset(offset)
    )


_ACTIVE = (
    select(
        _TABLE.c.dag_id,
        _TABLE.c.run_id,
        _TABLE.c.task_id,
        _TABLE.c.pool,
        func.count(),
        func.sum(_TABLE.c.pool_slots),
    )
    .where(
        or_(
            _TABLE.c.state == TaskInstanceState.QUEUED.value,
            _TABLE.c.state == TaskInstanceState.RUNNING.value,
        )
    )
    .group_by(_TABLE.c.dag_id, _TABLE.c.run_id, _TABLE.c.task_id, _TABLE.c.pool)
)


def active_tries(session: Session) -> list[tuple[str, str, str, str, int, int]]:
    """Task instances holding slots now (queued or running): ``(dag_id, run_id, task_id,
    pool, how many, pool slots they take)``."""
    return [
        (dag_id, run_id, task_id, pool, int(n), int(slots or 0))
        for dag_id, run_id, task_id, pool, n, slots in session.connection().execute(_ACTIVE)
    ]
