"""Sensors' reschedules (``task_reschedule``): when a try first poked, and how often it was
rescheduled, which its timeout and ``task_reschedule_count`` need."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from tradewind.db.models import TaskReschedule


def first_and_count(
    session: Session, tries: Sequence[tuple[str, int]]
) -> dict[str, tuple[datetime, int]]:
    """For each ``(ti_id, try_number)`` that was rescheduled: the first poke's start and
    the number of reschedules so far, by ``ti_id``; one query."""
    if not tries:
        return {}
    rows = session.execute(
        select(TaskReschedule.ti_id, func.min(TaskReschedule.start_date), func.count())
        .where(tuple_(TaskReschedule.ti_id, TaskReschedule.try_number).in_(list(tries)))
        .group_by(TaskReschedule.ti_id)
    ).all()
    return {ti_id: (first, int(n)) for ti_id, first, n in rows}
