"""Setting task instances' state by hand (the API's "mark success / failed / skipped").

Which instances a mark reaches is Airflow's: the task (all its map indexes, or some), with
its upstream and/or downstream tasks if asked, in its run, or in every run from the first
(``past``) or up to the last (``future``) by logical date, leaving out those already in the
state. Each change is a compare-and-set on the state and try number read, so a worker
reporting at the same moment either lands first (and the mark does not apply to that row) or
is refused after.

Marks respect :mod:`tradewind.states`: an instance whose try is live (queued, running,
deferred, restarting) moves only by a legal transition; one that is not running (no status,
scheduled, waiting to retry or to be rescheduled, or finished) first goes back to "no status"
as a clear does, and moves on from there. A mark that would break the table changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, or_, select, update
from sqlalchemy.orm import Session

from tradewind.db.models import DagRun, TaskInstance
from tradewind.exceptions import TradewindException
from tradewind.states import (
    FINISHED_STATES,
    IllegalTransition,
    TaskInstanceState,
    check_transition,
)

TI = TaskInstance
_TABLE: Table = TaskInstance.__table__  # type: ignore[assignment]
S = TaskInstanceState

#: States whose try is not running: a mark resets them to "no status" first, as a clear does.
NOT_RUNNING: frozenset[TaskInstanceState | None] = frozenset(
    {None, S.SCHEDULED, S.UP_FOR_RETRY, S.UP_FOR_RESCHEDULE, *FINISHED_STATES}
)


class ScopeError(TradewindException, ValueError):
    """``past`` or ``future`` asked of a run without a logical date."""


@dataclass(frozen=True)
class Target:
    """One task instance a mark would change, as read."""

    id: str
    run_id: str
    task_id: str
    map_index: int
    state: str | None
    try_number: int
    start_date: datetime | None
    end_date: datetime | None


def run_scope(session: Session, run: DagRun, *, past: bool, future: bool) -> list[str]:
    """The runs a mark or a clear of ``run`` reaches: the run alone, or every run of its DAG
    with a logical date up to it (``past``) and/or from it (``future``)."""
    if not past and not future:
        return [run.run_id]
    if run.logical_date is None:
        raise ScopeError(
            "Cannot use include_past or include_future with no logical_date (e.g. manually "
            "or asset-triggered)."
        )
    query = select(DagRun.run_id).where(
        DagRun.dag_id == run.dag_id, DagRun.logical_date.is_not(None)
    )
    if not past:
        query = query.where(DagRun.logical_date >= run.logical_date)
    if not future:
        query = query.where(DagRun.logical_date <= run.logical_date)
    return sorted(set(session.scalars(query)) | {run.run_id})


def relatives(dag: Any, task_ids: Iterable[str], *, upstream: bool, downstream: bool) -> set[str]:
    """Every task upstream and/or downstream of ``task_ids`` in ``dag`` (not themselves)."""
    found: set[str] = set()
    for task_id in task_ids:
        task = dag.task_dict.get(task_id)
        if task is None:
            continue
        if upstream:
            found |= task.get_flat_relative_ids(upstream=True)
        if downstream:
            found |= task.get_flat_relative_ids(upstream=False)
    return found


def targets(
    session: Session,
    dag_id: str,
    run_ids: Collection[str],
    task_id: str,
    map_indexes: Collection[int] | None,
    relative_ids: Collection[str],
    new: TaskInstanceState,
) -> list[Target]:
    """The instances a mark to ``new`` reaches that are not in ``new`` already."""
    own = TI.task_id == task_id
    if map_indexes is not None:
        own = and_(own, TI.map_index.in_(sorted(map_indexes)))
    which = or_(own, TI.task_id.in_(sorted(relative_ids))) if relative_ids else own
    rows = session.execute(
        select(
            TI.id,
            TI.run_id,
            TI.task_id,
            TI.map_index,
            TI.state,
            TI.try_number,
            TI.start_date,
            TI.end_date,
        )
        .where(
            TI.dag_id == dag_id,
            TI.run_id.in_(sorted(run_ids)),
            which,
            or_(TI.state.is_(None), TI.state != new.value),
        )
        .order_by(TI.run_id, TI.task_id, TI.map_index)
    ).all()
    return [Target(*row) for row in rows]


def may_set(current: str | None, new: TaskInstanceState) -> bool:
    """Whether a mark may move an instance in ``current`` to ``new``.

    >>> may_set("failed", TaskInstanceState.SUCCESS)
    True
    >>> may_set("queued", TaskInstanceState.SUCCESS)
    False
    >>> may_set("running", TaskInstanceState.SUCCESS)
    True
    """
    state = None if current is None else TaskInstanceState(current)
    for start in (state, None) if state in NOT_RUNNING else (state,):
        try:
            check_transition(start, new)
        except IllegalTransition:
            continue
        return True
    return False


def refused(found: Sequence[Target], new: TaskInstanceState) -> list[Target]:
    """The instances of ``found`` a mark to ``new`` may not move (live tries, whose next
    state is not ``new`` by the transition table)."""
    return [t for t in found if not may_set(t.state, new)]


_CAS_COLUMNS = ("state", "start_date", "end_date", "duration", "updated_at")


def _statement(from_none: bool) -> Any:
    c = _TABLE.c
    stmt = update(_TABLE).where(c.id == bindparam("w_id"), c.try_number == bindparam("w_try"))
    stmt = stmt.where(c.state.is_(None) if from_none else c.state == bindparam("w_state"))
    values: dict[str, Any] = {name: bindparam(f"v_{name}") for name in _CAS_COLUMNS}
    # A marked instance is done with whatever it waited for: nothing to resume or retry.
    values.update(
        next_retry_at=None,
        next_method=None,
        next_kwargs=None,
        trigger_id=None,
        trigger_timeout=None,
    )
    return stmt.values(values)


def apply(session: Session, found: Sequence[Target], new: TaskInstanceState) -> list[str]:
    """Move each of ``found`` to ``new`` if it is still as read; the ids that moved.

    As in Airflow, an instance keeps its start (or starts now) and ends now unless it had
    ended; its duration is the difference.
    """
    if not found:
        return []
    now = datetime.now(UTC)
    groups: dict[bool, list[dict[str, Any]]] = {}
    for t in found:
        start = t.start_date or now
        end = t.end_date or now
        params = {
            "w_id": t.id,
            "w_try": t.try_number,
            "v_state": new.value,
            "v_start_date": start,
            "v_end_date": end,
            "v_duration": max(0.0, (end - start).total_seconds()),
            "v_updated_at": now,
        }
        if t.state is not None:
            params["w_state"] = t.state
        groups.setdefault(t.state is None, []).append(params)
    moved = 0
    for from_none, rows in groups.items():
        result = session.connection().execute(_statement(from_none), rows)
        moved += int(result.rowcount)
    ids = [t.id for t in found]
    if moved == len(ids):
        return ids
    # Some row changed under us: report the ones that hold the new state now.
    return list(session.scalars(select(TI.id).where(TI.id.in_(ids), TI.state == new.value)))


def set_notes(
    session: Session,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int | None,
    note: str | None,
) -> int:
    """Set the note of a task's instances in a run (or of the one at ``map_index``)."""
    stmt = update(TI).where(TI.dag_id == dag_id, TI.run_id == run_id, TI.task_id == task_id)
    if map_index is not None:
        stmt = stmt.where(TI.map_index == map_index)
    stmt = stmt.values(note=note, updated_at=datetime.now(UTC))
    result = session.execute(stmt.execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def resume_downstream(session: Session, dag: Any, task_id: str, run_ids: Iterable[str]) -> int:
    """Clear the failed and upstream-failed instances downstream of ``task_id`` (not the
    task itself) in ``run_ids``, so they run again now that it is marked; how many."""
    from tradewind.db.queries.clear import clear_task_instances

    downstream = relatives(dag, [task_id], upstream=False, downstream=True) - {task_id}
    if not downstream:
        return 0
    retries = {tid: dag.task_dict[tid].retries for tid in downstream}
    return sum(
        clear_task_instances(
            session, dag.dag_id, downstream, run_id=run_id, only_failed=True, retries=retries
        )
        for run_id in run_ids
    )


class MarkRefused(TradewindException):
    """Some instance a mark reaches is in a live try that cannot move to the new state."""

    def __init__(self, blocked: Sequence[Target], new: TaskInstanceState) -> None:
        shown = ", ".join(
            f"{t.task_id}"
            + (f"[{t.map_index}]" if t.map_index >= 0 else "")
            + f" in {t.run_id} is {t.state}"
            for t in blocked[:10]
        )
        more = f" (and {len(blocked) - 10} more)" if len(blocked) > 10 else ""
        super().__init__(
            f"Cannot set {len(blocked)} task instance(s) to {new.value} while their try is "
            f"live: {shown}{more}. Wait for the try to run (or mark it failed) first."
        )
        self.blocked = list(blocked)


def mark(
    session: Session,
    dag: Any,
    run: DagRun,
    task_id: str,
    map_indexes: Collection[int] | None,
    new: TaskInstanceState,
    *,
    upstream: bool = False,
    downstream: bool = False,
    past: bool = False,
    future: bool = False,
    dry_run: bool = False,
) -> list[str]:
    """Mark ``task_id`` (and the relatives and runs asked) with ``new``; the ids of the
    instances changed (or, with ``dry_run``, that would be). After a mark to success or
    skipped, failed instances downstream in those runs are cleared to run again, as Airflow
    does. Raises :class:`ScopeError` or :class:`MarkRefused`, changing nothing."""
    run_ids = run_scope(session, run, past=past, future=future)
    related = relatives(dag, [task_id], upstream=upstream, downstream=downstream) - {task_id}
    found = targets(session, dag.dag_id, run_ids, task_id, map_indexes, related, new)
    blocked = refused(found, new)
    if blocked:
        raise MarkRefused(blocked, new)
    if dry_run:
        return [t.id for t in found]
    moved = apply(session, found, new)
    if moved and new in (S.SUCCESS, S.SKIPPED):
        resume_downstream(session, dag, task_id, run_ids)
    return moved
