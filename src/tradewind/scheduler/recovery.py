"""Recovering what a dead scheduler left behind, so nothing is lost when one dies.

A scheduler's local workers die with it, so when a scheduler job stops heartbeating its
task instances are orphans. The rule, for a task instance owned by (``queued_by_job_id``) a
scheduler job that is not live (not ``running``, or silent longer than
``scheduler.scheduler_health_check_threshold``), or by no job:

- ``queued``: it never started; it goes back to ``scheduled`` and its try number is given
  back, so the try runs again under the same number;
- ``running``: only once its own lease is stale too (``last_heartbeat_at`` older than the
  same threshold, or never set) it died mid-try, and is failed or, with tries left,
  retried, as for any crashed try. A try whose lease is still fresh is left for a later
  look: it started after its scheduler's last heartbeat, or its worker outlived its
  scheduler and renews the lease itself.

Tries of a live scheduler are never touched, however stale their lease: its executor sees
its own workers die and reports those tries crashed. Each scheduler refreshes the lease of
the tries its executor runs (:func:`refresh_heartbeats`) with its own heartbeat, so a dead
scheduler's leases go stale when its job does.

Recovery runs when a scheduler starts and then every ``scheduler.orphaned_tasks_check_interval``
seconds, so a surviving scheduler notices a dead one within about the threshold plus that
interval. It also fails every scheduler job on this database that is not heartbeating.
Every change is a compare-and-set, and on PostgreSQL the orphans are taken with
``FOR UPDATE SKIP LOCKED``, so two schedulers recovering at once never both act on a row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select, tuple_, update
from sqlalchemy.orm import Session

from tradewind.db.dialects import for_update_skip_locked
from tradewind.db.models import Job, TaskInstance
from tradewind.db.queries import taskinstances as ti_queries
from tradewind.db.queries.dagruns import get_run
from tradewind.db.queries.dags import SerializedDagCache
from tradewind.retries import retry_delay_for
from tradewind.states import TaskInstanceState as TI

log = logging.getLogger("tradewind.scheduler")

SCHEDULER_JOB = "SchedulerJob"

#: Most tries whose lease one statement refreshes (bound parameters stay well under
#: SQLite's and PostgreSQL's limits).
_HEARTBEAT_BATCH = 5000


def orphan_check_interval() -> float:
    """``scheduler.orphaned_tasks_check_interval``: seconds between two looks for what dead
    schedulers left behind (Airflow's name; 30 s here, not Airflow's 300, so a survivor
    takes over within about a minute: the look is one indexed query)."""
    from tradewind import config

    return float(config.get("scheduler", "orphaned_tasks_check_interval", 30))


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
    query = select(Job.id).where(
        Job.job_type == SCHEDULER_JOB,
        Job.state == "running",
        Job.latest_heartbeat < now - timeout,
        Job.id != (my_job_id if my_job_id is not None else -1),
    )
    # A job another scheduler is failing right now is skipped: its tries are that one's.
    stale = list(session.execute(for_update_skip_locked(query.order_by(Job.id), session)).scalars())
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
    """Fail dead scheduler jobs and settle the task instances they left queued, or running
    with a stale lease (the rule is in the module docstring)."""
    now = now or datetime.now(UTC)
    dags = dags or SerializedDagCache()
    result = Recovery()
    result.dead_jobs = _dead_scheduler_jobs(session, my_job_id, now, heartbeat_timeout)
    live = select(Job.id).where(Job.job_type == SCHEDULER_JOB, Job.state == "running")
    query = select(TaskInstance).where(
        or_(
            TaskInstance.state == TI.QUEUED.value,
            and_(
                TaskInstance.state == TI.RUNNING.value,
                or_(
                    TaskInstance.last_heartbeat_at.is_(None),
                    TaskInstance.last_heartbeat_at < now - heartbeat_timeout,
                ),
            ),
        ),
        or_(
            TaskInstance.queued_by_job_id.is_(None),
            TaskInstance.queued_by_job_id.not_in(live),
        ),
    )
    # In one order, and skipping rows another scheduler is changing right now: two
    # schedulers recovering at once neither wait on nor deadlock with each other.
    query = for_update_skip_locked(query.order_by(TaskInstance.id), session)
    for ti in list(session.execute(query).scalars()):
        if ti.state == TI.QUEUED.value:
            if ti_queries.transition(
                session,
                ti.id,
                expected=TI.QUEUED,
                new=TI.SCHEDULED,
                try_number=ti.try_number,
                # Queueing gave it a new try number, unless it continues its try (a
                # resumed deferral or a sensor's next poke): give back only what it took.
                values={
                    "try_number": ti.try_number if ti.next_method else max(ti.try_number - 1, 0),
                    "queued_by_job_id": None,
                },
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
    # The try is over: a retry starts from ``execute``, not from where a deferral left off.
    values: dict[str, object] = {"end_date": now, "next_method": None, "next_kwargs": None}
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


def refresh_heartbeats(session: Session, running: Iterable[tuple[str, int]], now: datetime) -> int:
    """Renew the lease of these ``(ti_id, try_number)`` tries: ``last_heartbeat_at = now``
    for those still ``running`` at that try number (a try that has ended or been superseded
    is left alone), in one statement per :data:`_HEARTBEAT_BATCH` tries, not one per try.
    Returns how many were renewed."""
    tries = list(running)
    renewed = 0
    for start in range(0, len(tries), _HEARTBEAT_BATCH):
        result = session.execute(
            update(TaskInstance)
            .where(
                tuple_(TaskInstance.id, TaskInstance.try_number).in_(
                    tries[start : start + _HEARTBEAT_BATCH]
                ),
                TaskInstance.state == TI.RUNNING.value,
            )
            .values(last_heartbeat_at=now)
            .execution_options(synchronize_session=False)
        )
        renewed += int(result.rowcount)  # type: ignore[attr-defined]
    return renewed
