"""Marking a DAG run success, failed or queued by hand (the API's ``PATCH`` of a run).

The rules are Airflow's (``api/common/mark_tasks.py``):

- **success**: every task instance not yet successful becomes ``success`` (running ones
  too; a failed one as well: marking is an override), except teardown tasks that have not
  finished, which must still do their work; the run becomes ``success`` unless such a
  teardown is left.
- **failed**: running, deferred and up-for-reschedule instances become ``failed``; every
  other unfinished one becomes ``skipped``; teardowns are left alone, and the run becomes
  ``failed`` unless a teardown is still to run or running.
- **queued**: only the run changes (the scheduler takes it up again).

A mark is a user's override, like a clear: it is not one of the scheduler's transitions, so
it does not go through :func:`tradewind.states.check_transition`. Each update is still a
compare-and-set on the states just read, so a try that ends meanwhile is not overwritten; if
anything moved under us, :class:`RunChanged` is raised and the caller's transaction rolls back.
A running try marked so keeps running until it ends; its late report changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from tradewind.db.models import DagRun, TaskInstance
from tradewind.db.queries import dagruns
from tradewind.exceptions import TradewindException
from tradewind.states import FINISHED_STATES, DagRunState, TaskInstanceState

TI = TaskInstanceState
_RUNNING = frozenset({TI.RUNNING, TI.DEFERRED, TI.UP_FOR_RESCHEDULE})
_FINISHED = frozenset(s.value for s in FINISHED_STATES)


class RunChanged(TradewindException):
    """The run or its task instances changed while being marked; nothing was changed."""


def _now() -> datetime:
    return datetime.now(UTC)


def _teardowns(dag: Any) -> set[str]:
    return {tid for tid, task in dag.task_dict.items() if getattr(task, "is_teardown", False)}


def _move(session: Session, ti: TaskInstance, state: TaskInstanceState, now: datetime) -> None:
    values: dict[str, Any] = {
        "state": state.value,
        "start_date": ti.start_date or now,
        "end_date": now,
        "duration": (now - ti.start_date).total_seconds() if ti.start_date else 0.0,
        "next_retry_at": None,
        "updated_at": now,
    }
    if ti.state == TI.DEFERRED.value:
        # The trigger is no longer waited for: the triggerer's sweep removes it.
        values.update(trigger_id=None, trigger_timeout=None, next_method=None, next_kwargs=None)
    state_now = TaskInstance.state.is_(None) if ti.state is None else TaskInstance.state == ti.state
    moved = session.execute(
        update(TaskInstance)
        .where(TaskInstance.id == ti.id, state_now)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not moved:
        raise RunChanged(f"task {ti.task_id!r} changed state while being marked; try again")


def _set_run_state(session: Session, run: DagRun, state: DagRunState, now: datetime) -> None:
    values: dict[str, Any] = {"state": state.value, "updated_at": now}
    if state is DagRunState.QUEUED:
        values.update(queued_at=now, end_date=None)
    else:
        values["end_date"] = now
    moved = session.execute(
        update(DagRun)
        .where(DagRun.id == run.id, DagRun.state == run.state)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not moved:
        raise RunChanged(f"run {run.run_id!r} changed state while being marked; try again")
    for key, value in values.items():
        setattr(run, key, value)


def mark_success(
    session: Session, dag: Any, run: DagRun, now: datetime | None = None
) -> list[TaskInstance]:
    """Mark ``run`` (of the serialized ``dag``) success; the task instances changed."""
    now = now or _now()
    teardowns = _teardowns(dag)
    instances = dagruns.task_instances_of(session, run.dag_id, run.run_id)
    waiting_teardown = any(
        ti.task_id in teardowns and ti.state not in _FINISHED for ti in instances
    )
    changed = [
        ti
        for ti in instances
        if ti.state != TI.SUCCESS.value
        and not (ti.task_id in teardowns and ti.state not in _FINISHED)
    ]
    for ti in changed:
        _move(session, ti, TI.SUCCESS, now)
    if not waiting_teardown and run.state != DagRunState.SUCCESS.value:
        _set_run_state(session, run, DagRunState.SUCCESS, now)
    return changed


def mark_failed(
    session: Session, dag: Any, run: DagRun, now: datetime | None = None
) -> list[TaskInstance]:
    """Mark ``run`` (of the serialized ``dag``) failed; the task instances changed."""
    now = now or _now()
    teardowns = _teardowns(dag)
    running_values = {s.value for s in _RUNNING}
    changed: list[TaskInstance] = []
    teardown_left = False
    for ti in dagruns.task_instances_of(session, run.dag_id, run.run_id):
        if ti.state in _FINISHED:
            continue
        if ti.task_id in teardowns:
            teardown_left = True
            continue
        _move(session, ti, TI.FAILED if ti.state in running_values else TI.SKIPPED, now)
        changed.append(ti)
    if not teardown_left and run.state != DagRunState.FAILED.value:
        _set_run_state(session, run, DagRunState.FAILED, now)
    return changed


def mark_queued(session: Session, run: DagRun, now: datetime | None = None) -> None:
    """Put ``run`` back in the queue (its task instances are left as they are)."""
    if run.state != DagRunState.QUEUED.value:
        _set_run_state(session, run, DagRunState.QUEUED, now or _now())


def set_note(session: Session, run: DagRun, note: str | None, now: datetime | None = None) -> None:
    """Replace the run's note (``None`` removes it)."""
    now = now or _now()
    session.execute(
        update(DagRun)
        .where(DagRun.id == run.id)
        .values(note=note, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    run.note = note
    run.updated_at = now


def states_of(instances: Iterable[TaskInstance]) -> dict[str, int]:
    """``{state: count}`` of some task instances (for an audit row)."""
    counts: dict[str, int] = {}
    for ti in instances:
        key = ti.state or "none"
        counts[key] = counts.get(key, 0) + 1
    return counts
