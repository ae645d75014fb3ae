"""Task instance state changes, as compare-and-set updates.

Every change says which state (and, for a running try, which try number) it expects; the
``UPDATE ... WHERE state = :expected AND try_number = :n`` either changes exactly one row or
none. So a late or duplicate report is a no-op and a report from a stale try is refused:
nothing runs twice and nothing is lost when messages are repeated.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from tradewind.db.models import TaskInstance, TaskInstanceHistory
from tradewind.states import TaskInstanceState, check_transition


def _now() -> datetime:
    return datetime.now(UTC)


def transition(
    session: Session,
    ti_id: str,
    *,
    expected: TaskInstanceState | None,
    new: TaskInstanceState,
    try_number: int | None = None,
    values: dict[str, Any] | None = None,
) -> bool:
    """Move one task instance from ``expected`` to ``new``; False if it was not in
    ``expected`` (or not at ``try_number``). Raises if the move itself is illegal."""
    check_transition(expected, new)
    stmt = update(TaskInstance).where(TaskInstance.id == ti_id)
    if expected is None:
        stmt = stmt.where(TaskInstance.state.is_(None))
    else:
        stmt = stmt.where(TaskInstance.state == expected.value)
    if try_number is not None:
        stmt = stmt.where(TaskInstance.try_number == try_number)
    stmt = stmt.values(state=new.value, updated_at=_now(), **(values or {}))
    result = session.execute(stmt.execution_options(synchronize_session=False))
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


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
    stmt = update(TaskInstance).where(TaskInstance.id.in_(ids))
    if expected is None:
        stmt = stmt.where(TaskInstance.state.is_(None))
    else:
        stmt = stmt.where(TaskInstance.state == expected.value)
    stmt = stmt.values(state=new.value, updated_at=_now(), **(values or {}))
    result = session.execute(stmt.execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


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


def mark_queued(session: Session, ti_id: str, *, job_id: int | None = None) -> int | None:
    """``scheduled -> queued`` starting a new try: the try number goes up by one. Returns
    the new try number, or None if the task instance was not scheduled any more. (A try
    that ends ``up_for_retry`` is archived when it ends.)"""
    ti = session.get(TaskInstance, ti_id)
    if ti is None or ti.state != TaskInstanceState.SCHEDULED.value:
        return None
    new_try = ti.try_number + 1
    moved = transition(
        session,
        ti_id,
        expected=TaskInstanceState.SCHEDULED,
        new=TaskInstanceState.QUEUED,
        try_number=ti.try_number,
        values={
            "try_number": new_try,
            "queued_dttm": _now(),
            "queued_by_job_id": job_id,
            "start_date": None,
            "end_date": None,
            "duration": None,
            "next_retry_at": None,
        },
    )
    session.expire(ti)
    return new_try if moved else None
