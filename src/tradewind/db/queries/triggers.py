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

from sqlalchemy import delete, exists, func, insert, or_, select, update
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


def create(session: Session, classpath: str, kwargs: str, now: datetime) -> int:
    """A new trigger (nobody runs it yet); its id."""
    result = session.execute(
        insert(Trigger)
        .values(classpath=classpath, kwargs=kwargs, created_date=now)
        .returning(Trigger.id)
    )
    return int(result.scalar_one())


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


def assigned(session: Session, triggerer_id: int) -> list[tuple[int, str, str]]:
    """``(id, classpath, kwargs)`` of every trigger this triggerer runs."""
    rows = session.execute(
        select(Trigger.id, Trigger.classpath, Trigger.kwargs).where(
            Trigger.triggerer_id == triggerer_id
        )
    )
    return [(int(i), str(c), str(k)) for i, c, k in rows]


def release(session: Session, triggerer_id: int) -> None:
    """Give back this triggerer's triggers (it is stopping): another takes them at once."""
    session.execute(
        update(Trigger).where(Trigger.triggerer_id == triggerer_id).values(triggerer_id=None)
    )


def fire(
    session: Session, trigger_id: int, *, payload: Any = None, error: str | None = None
) -> list[RunKey]:
    """The trigger fired (``payload``) or failed (``error``): its deferred task instances
    go back to ``scheduled``, to resume at their method with ``event=payload`` or to fail
    with the error; the trigger is deleted. The runs whose instances moved."""
    now = datetime.now(UTC)
    waiting = session.execute(
        select(
            TaskInstance.id, TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.next_kwargs
        ).where(TaskInstance.trigger_id == trigger_id, TaskInstance.state == _DEFERRED)
    ).all()
    moved: list[RunKey] = []
    for ti_id, dag_id, run_id, next_kwargs in waiting:
        values: dict[str, Any] = {
            "state": _SCHEDULED,
            "trigger_id": None,
            "trigger_timeout": None,
            "scheduled_dttm": now,
            "updated_at": now,
        }
        if error is None:
            kwargs = dict(codec.decode(next_kwargs) or {}) if next_kwargs else {}
            kwargs["event"] = payload
            values["next_kwargs"] = codec.encode(kwargs)
        else:
            values["next_method"] = FAIL_METHOD
            values["next_kwargs"] = codec.encode({"error": f"Trigger failure:\n{error}"})
        result = session.execute(
            update(TaskInstance)
            .where(TaskInstance.id == ti_id, TaskInstance.state == _DEFERRED)
            .values(values)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            moved.append((dag_id, run_id))
    session.execute(delete(Trigger).where(Trigger.id == trigger_id))
    return moved


def end_tasks(session: Session, trigger_id: int, state: str, xcoms: dict[str, Any]) -> list[RunKey]:
    """The trigger ended its deferred task instances itself (``end_from_trigger``): they
    go to ``state`` (success, failed or skipped) with ``xcoms`` pushed for each, and the
    trigger is deleted, all without a worker. The runs whose instances moved."""
    from tradewind.db.queries import xcom as xcom_queries
    from tradewind.xcom.backend import get_backend, serialize_under
    from tradewind.xcom.base import XComKey

    if state not in ("success", "failed", "skipped"):
        state = TaskInstanceState.FAILED.value
    now = datetime.now(UTC)
    waiting = session.execute(
        select(
            TaskInstance.id,
            TaskInstance.dag_id,
            TaskInstance.run_id,
            TaskInstance.task_id,
            TaskInstance.map_index,
            TaskInstance.start_date,
        ).where(TaskInstance.trigger_id == trigger_id, TaskInstance.state == _DEFERRED)
    ).all()
    moved: list[RunKey] = []
    for ti_id, dag_id, run_id, task_id, map_index, start in waiting:
        result = session.execute(
            update(TaskInstance)
            .where(TaskInstance.id == ti_id, TaskInstance.state == _DEFERRED)
            .values(
                state=str(state),
                end_date=now,
                duration=(now - start).total_seconds() if start else None,
                trigger_id=None,
                trigger_timeout=None,
                next_method=None,
                next_kwargs=None,
                updated_at=now,
            )
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            continue
        moved.append((dag_id, run_id))
        for key, value in xcoms.items():
            xcom_key = XComKey(dag_id, run_id, task_id, map_index, key)
            stored = serialize_under(get_backend(), xcom_key, value)
            xcom_queries.set_encoded(session.connection(), xcom_key, stored.value)
    session.execute(delete(Trigger).where(Trigger.id == trigger_id))
    return moved


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
