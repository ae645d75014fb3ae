"""Triggers in the metadata DB: made when a task defers, run by a triggerer, gone when they
fire.

The scheduler creates a trigger in the transaction that records the deferral and fails
deferrals whose timeout passed. A triggerer claims triggers nobody runs (or whose triggerer
died) up to its capacity, with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so two triggerers
never claim the same one, and when one fires moves its task instance back to ``scheduled``
with the event in ``next_kwargs``, in one transaction that also deletes the trigger.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from tradewind.db.dialects import for_update_skip_locked
from tradewind.db.models import Job, TaskInstance, Trigger
from tradewind.serialization import codec
from tradewind.states import TaskInstanceState

JOB_TYPE = "TriggererJob"
#: ``next_method`` that fails the resumed try (Airflow's name for it).
FAIL_METHOD = "__fail__"
_DEFERRED = TaskInstanceState.DEFERRED.value
_SCHEDULED = TaskInstanceState.SCHEDULED.value

RunKey = tuple[str, str]
_TRIGGERS: Table = Trigger.__table__  # type: ignore[assignment]


def create(session: Session, classpath: str, kwargs: str, now: datetime) -> int:
    """A new trigger (nobody runs it yet); its id."""
    [trigger_id] = create_many(session, [(classpath, kwargs)], now)
    return trigger_id


def create_many(session: Session, definitions: list[tuple[str, str]], now: datetime) -> list[int]:
    """New triggers from ``(classpath, kwargs)`` pairs, in one statement; their ids, in
    order. (A scheduling pass that saw many tries defer makes all their triggers at once.)"""
    if not definitions:
        return []
    rows = [{"classpath": c, "kwargs": k, "created_date": now} for c, k in definitions]
    statement = insert(_TRIGGERS).returning(_TRIGGERS.c.id, sort_by_parameter_order=True)
    return [int(i) for i in session.connection().execute(statement, rows).scalars()]


def claim(session: Session, triggerer_id: int, capacity: int, alive_since: datetime) -> int:
    """Take triggers that no live triggerer runs, oldest first, until this one runs
    ``capacity``; how many it runs now."""
    mine = int(
        session.execute(
            select(func.count()).select_from(Trigger).where(Trigger.triggerer_id == triggerer_id)
        ).scalar_one()
    )
    free = capacity - mine
    if free <= 0:
        return mine
    alive = select(Job.id).where(
        Job.job_type == JOB_TYPE, Job.state == "running", Job.latest_heartbeat >= alive_since
    )
    candidates = (
        select(Trigger.id)
        .where(or_(Trigger.triggerer_id.is_(None), Trigger.triggerer_id.not_in(alive)))
        .order_by(Trigger.id)
        .limit(free)
    )
    ids = list(session.execute(for_update_skip_locked(candidates, session)).scalars())
    if ids:
        session.execute(
            update(Trigger).where(Trigger.id.in_(ids)).values(triggerer_id=triggerer_id)
        )
    return mine + len(ids)


def assigned(session: Session, triggerer_id: int) -> set[int]:
    """The ids of the triggers this triggerer runs."""
    rows = session.execute(select(Trigger.id).where(Trigger.triggerer_id == triggerer_id))
    return {int(i) for i in rows.scalars()}


def definitions(session: Session, ids: set[int]) -> list[tuple[int, str, str]]:
    """``(id, classpath, kwargs)`` of these triggers (the ones a triggerer starts)."""
    if not ids:
        return []
    rows = session.execute(
        select(Trigger.id, Trigger.classpath, Trigger.kwargs).where(Trigger.id.in_(sorted(ids)))
    )
    return [(int(i), str(c), str(k)) for i, c, k in rows]


def release(session: Session, triggerer_id: int) -> None:
    """Give back this triggerer's triggers (it is stopping): another takes them at once."""
    session.execute(
        update(Trigger).where(Trigger.triggerer_id == triggerer_id).values(triggerer_id=None)
    )


_TI = TaskInstance.__table__.c
_RESUME = (
    update(TaskInstance.__table__)  # type: ignore[arg-type]
    .where(_TI.id == bindparam("w_id"), _TI.state == _DEFERRED)
    .values(
        state=_SCHEDULED,
        trigger_id=None,
        trigger_timeout=None,
        next_method=bindparam("v_method"),
        next_kwargs=bindparam("v_kwargs"),
        scheduled_dttm=bindparam("v_now"),
        updated_at=bindparam("v_now"),
    )
)


def fire_many(session: Session, fired: list[tuple[int, Any, str | None]]) -> list[RunKey]:
    """Triggers that fired or failed, as ``(trigger_id, payload, error)``: their deferred
    task instances go back to ``scheduled``, to resume at their method with
    ``event=payload`` or (``error`` set) to fail with it; the triggers are deleted. A few
    statements for all of them (a triggerer may see hundreds fire at once). The runs whose
    instances moved."""
    if not fired:
        return []
    now = datetime.now(UTC)
    by_trigger = {trigger_id: (payload, error) for trigger_id, payload, error in fired}
    waiting = session.execute(
        select(
            TaskInstance.id,
            TaskInstance.dag_id,
            TaskInstance.run_id,
            TaskInstance.trigger_id,
            TaskInstance.next_method,
            TaskInstance.next_kwargs,
        ).where(TaskInstance.trigger_id.in_(list(by_trigger)), TaskInstance.state == _DEFERRED)
    ).all()
    rows: list[dict[str, Any]] = []
    runs: list[RunKey] = []
    for ti_id, dag_id, run_id, trigger_id, method, next_kwargs in waiting:
        payload, error = by_trigger[trigger_id or 0]
        if error is None:
            kwargs = dict(codec.decode(next_kwargs) or {}) if next_kwargs else {}
            kwargs["event"] = payload
            values = (method, codec.encode(kwargs))
        else:
            values = (FAIL_METHOD, codec.encode({"error": f"Trigger failure:\n{error}"}))
        rows.append({"w_id": ti_id, "v_method": values[0], "v_kwargs": values[1], "v_now": now})
        runs.append((dag_id, run_id))
    if rows:
        session.connection().execute(_RESUME, rows)
    session.execute(delete(Trigger).where(Trigger.id.in_(list(by_trigger))))
    return runs


_END = (
    update(TaskInstance.__table__)  # type: ignore[arg-type]
    .where(_TI.id == bindparam("w_id"), _TI.state == _DEFERRED)
    .values(
        state=bindparam("v_state"),
        end_date=bindparam("v_now"),
        duration=bindparam("v_duration"),
        trigger_id=None,
        trigger_timeout=None,
        next_method=None,
        next_kwargs=None,
        updated_at=bindparam("v_now"),
    )
)


def end_tasks_many(session: Session, ended: list[tuple[int, str, dict[str, Any]]]) -> list[RunKey]:
    """Triggers that ended their deferred task instances themselves (``end_from_trigger``),
    as ``(trigger_id, state, xcoms)``: the instances go to ``state`` (success, failed or
    skipped; anything else is failed) with ``xcoms`` pushed for each, and the triggers are
    deleted, all without a worker. The runs whose instances moved."""
    from tradewind.db.queries import xcom as xcom_queries
    from tradewind.xcom.backend import get_backend, serialize_under
    from tradewind.xcom.base import XComKey

    if not ended:
        return []
    now = datetime.now(UTC)
    by_trigger = {trigger_id: (state, xcoms) for trigger_id, state, xcoms in ended}
    waiting = session.execute(
        select(
            TaskInstance.id,
            TaskInstance.dag_id,
            TaskInstance.run_id,
            TaskInstance.task_id,
            TaskInstance.map_index,
            TaskInstance.start_date,
            TaskInstance.trigger_id,
        ).where(TaskInstance.trigger_id.in_(list(by_trigger)), TaskInstance.state == _DEFERRED)
    ).all()
    rows: list[dict[str, Any]] = []
    runs: list[RunKey] = []
    for ti_id, dag_id, run_id, task_id, map_index, start, trigger_id in waiting:
        state, xcoms = by_trigger[trigger_id or 0]
        if state not in ("success", "failed", "skipped"):
            state = TaskInstanceState.FAILED.value
        duration = (now - start).total_seconds() if start else None
        rows.append({"w_id": ti_id, "v_state": state, "v_now": now, "v_duration": duration})
        runs.append((dag_id, run_id))
        for key, value in xcoms.items():
            xcom_key = XComKey(dag_id, run_id, task_id, map_index, key)
            stored = serialize_under(get_backend(), xcom_key, value)
            xcom_queries.set_encoded(session.connection(), xcom_key, stored.value)
    if rows:
        session.connection().execute(_END, rows)
    session.execute(delete(Trigger).where(Trigger.id.in_(list(by_trigger))))
    return runs


def fail_overdue(session: Session, now: datetime) -> list[RunKey]:
    """Deferrals whose timeout passed go back to ``scheduled`` to fail (Airflow's
    "Trigger/execution timeout"); their triggers, and triggers no task waits for any more,
    are deleted. The runs whose instances moved."""
    overdue = session.execute(
        select(TaskInstance.id, TaskInstance.dag_id, TaskInstance.run_id).where(
            TaskInstance.state == _DEFERRED,
            TaskInstance.trigger_timeout.is_not(None),
            TaskInstance.trigger_timeout < now,
        )
    ).all()
    moved: list[RunKey] = []
    error = codec.encode({"error": "Trigger/execution timeout", "timeout": True})
    for ti_id, dag_id, run_id in overdue:
        result = session.execute(
            update(TaskInstance)
            .where(TaskInstance.id == ti_id, TaskInstance.state == _DEFERRED)
            .values(
                state=_SCHEDULED,
                trigger_id=None,
                trigger_timeout=None,
                next_method=FAIL_METHOD,
                next_kwargs=error,
                scheduled_dttm=now,
                updated_at=now,
            )
        )
        if result.rowcount:  # type: ignore[attr-defined]
            moved.append((dag_id, run_id))
    waited_for = exists().where(TaskInstance.trigger_id == Trigger.id)
    session.execute(delete(Trigger).where(~waited_for))
    return moved
