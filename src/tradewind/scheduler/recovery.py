"""Recovering what a dead scheduler left behind, so a restart loses nothing.

A scheduler's local workers die with it, so when a scheduler job stops heartbeating its
task instances are orphans: the ``queued`` ones never started and go back to ``scheduled``
(their try number is given back), and the ``running`` ones died mid-try and are failed or,
with tries left, retried, as for any crashed try. A starting scheduler also fails every
earlier scheduler job on this database that is not heartbeating. Every change is a
compare-and-set, so two schedulers recovering at once cannot both act on a row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from tradewind.db.models import Job, TaskInstance
from tradewind.db.queries import taskinstances as ti_queries
from tradewind.db.queries.dagruns import get_run
from tradewind.db.queries.dags import SerializedDagCache
from tradewind.retries import retry_delay_for
from tradewind.states import TaskInstanceState as TI

log = logging.getLogger("tradewind.scheduler")

SCHEDULER_JOB = "SchedulerJob"


@dataclass
class Recovery:
    """What one recovery pass did; ``touched_runs`` need a scheduling pass."""

    dead_jobs: list[int] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    touched_runs: set[tuple[str, str]] = field(default_factory=set)


def _dead_scheduler_jobs(
    session: Session, my_job_id: int | None, now: datetime, timeout: timedelta
) -> list[int]:
    stale = list(
        session.execute(
            select(Job.id).where(
                Job.job_type == SCHEDULER_JOB,
                Job.state == "running",
                Job.latest_heartbeat < now - timeout,
                Job.id != (my_job_id if my_job_id is not None else -1),
            )
        ).scalars()
    )
    if stale:
        session.execute(
            update(Job)
            .where(Job.id.in_(stale), Job.state == "running")
            .values(state="failed", end_date=now)
            .execution_options(synchronize_session=False)
        )
    return stale


def recover_orphans(
    session: Session,
    *,
    my_job_id: int | None,
    now: datetime | None = None,
    heartbeat_timeout: timedelta = timedelta(seconds=30),
    dags: SerializedDagCache | None = None,
) -> Recovery:
    """Fail dead scheduler jobs and settle the task instances they left queued or running."""
    now = now or datetime.now(UTC)
    dags = dags or SerializedDagCache()
    result = Recovery()
    result.dead_jobs = _dead_scheduler_jobs(session, my_job_id, now, heartbeat_timeout)
    live = select(Job.id).where(Job.job_type == SCHEDULER_JOB, Job.state == "running")
    orphans = session.execute(
        select(TaskInstance).where(
            TaskInstance.state.in_([TI.QUEUED.value, TI.RUNNING.value]),
            or_(
                TaskInstance.queued_by_job_id.is_(None),
                TaskInstance.queued_by_job_id.not_in(live),
            ),
        )
    ).scalars()
    for ti in list(orphans):
        if ti.state == TI.QUEUED.value:
            if ti_queries.transition(
                session,
                ti.id,
                expected=TI.QUEUED,
                new=TI.SCHEDULED,
                try_number=ti.try_number,
                values={"try_number": max(ti.try_number - 1, 0), "queued_by_job_id": None},
            ):
                result.requeued.append(ti.id)
                result.touched_runs.add((ti.dag_id, ti.run_id))
            continue
        _settle_dead_try(session, ti, now, dags, result)
    if result.dead_jobs or result.requeued or result.retried or result.failed:
        log.warning(
            "recovered orphans: %d dead scheduler(s), %d requeued, %d retried, %d failed",
            len(result.dead_jobs),
            len(result.requeued),
            len(result.retried),
            len(result.failed),
        )
    return result


def _settle_dead_try(
    session: Session, ti: TaskInstance, now: datetime, dags: SerializedDagCache, result: Recovery
) -> None:
    run = get_run(session, ti.dag_id, ti.run_id)
    dag = None
    if run is not None and run.dag_version_id is not None:
        dag = dags.get(session, run.dag_version_id)
    task = dag.task_dict.get(ti.task_id) if dag is not None else None
    values: dict[str, object] = {"end_date": now}
    if ti.start_date is not None:
        values["duration"] = (now - ti.start_date).total_seconds()
    if task is not None and ti.try_number <= ti.max_tries:
        delay = retry_delay_for(
            retry_delay=task.retry_delay,
            exponential_backoff=task.retry_exponential_backoff,
            max_retry_delay=task.max_retry_delay,
            try_number=ti.try_number,
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            logical_date=run.logical_date if run else None,
        )
        if ti_queries.transition(
            session,
            ti.id,
            expected=TI.RUNNING,
            new=TI.UP_FOR_RETRY,
            try_number=ti.try_number,
            values={**values, "next_retry_at": now + delay},
        ):
            ti_queries.archive_try(session, ti.id)
            result.retried.append(ti.id)
            result.touched_runs.add((ti.dag_id, ti.run_id))
        return
    if ti_queries.transition(
        session,
        ti.id,
        expected=TI.RUNNING,
        new=TI.FAILED,
        try_number=ti.try_number,
        values=values,
    ):
        result.failed.append(ti.id)
        result.touched_runs.add((ti.dag_id, ti.run_id))


def refresh_heartbeats(session: Session, running: Iterable[tuple[str, int]], now: datetime) -> None:
    """Record that these ``(ti_id, try_number)`` tries are alive (their lease)."""
    for ti_id, try_number in running:
        session.execute(
            update(TaskInstance)
            .where(
                TaskInstance.id == ti_id,
                TaskInstance.try_number == try_number,
                TaskInstance.state == TI.RUNNING.value,
            )
            .values(last_heartbeat_at=now)
            .execution_options(synchronize_session=False)
        )
