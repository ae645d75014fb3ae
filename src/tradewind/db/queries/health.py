"""Service heartbeats, for ``monitor/health``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tradewind.db.models import Job


def latest_heartbeats(session: Session) -> dict[str, datetime]:
    """The newest heartbeat of each running kind of service job (``SchedulerJob``...)."""
    rows = session.execute(
        select(Job.job_type, func.max(Job.latest_heartbeat))
        .where(Job.state == "running")
        .group_by(Job.job_type)
    ).all()
    return {job_type: beat for job_type, beat in rows if beat is not None}
