"""Clearing task instances so they run again (``tasks clear``, the API's clear).

Each cleared instance keeps its finished try in the history, goes back to "no status", and
its run goes back to ``queued`` so the scheduler picks it up again (as in Airflow).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tradewind.db.models import DagRun, TaskInstance
from tradewind.db.queries.taskinstances import archive_try
from tradewind.states import FINISHED_STATES, DagRunState, TaskInstanceState


def clearable_task_instances(
    session: Session,
    dag_id: str,
    task_ids: Iterable[str],
    *,
    run_id: str | None = None,
    only_failed: bool = False,
) -> list[TaskInstance]:
    """The task instances :func:`clear_task_instances` would clear (its dry run), in task
    and map index order: finished ones and those waiting to retry, or with ``only_failed``
    the failed and upstream-failed ones."""
    wanted = {TaskInstanceState.FAILED.value, TaskInstanceState.UPSTREAM_FAILED.value}
    if not only_failed:
        wanted = {s.value for s in FINISHED_STATES} | {TaskInstanceState.UP_FOR_RETRY.value}
    query = select(TaskInstance).where(
        TaskInstance.dag_id == dag_id,
        TaskInstance.task_id.in_(list(task_ids)),
        TaskInstance.state.in_(sorted(wanted)),
    )
    if run_id is not None:
        query = query.where(TaskInstance.run_id == run_id)
    query = query.order_by(TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index)
    return list(session.execute(query).scalars().all())


def clear_task_instances(
    session: Session,
    dag_id: str,
    task_ids: Iterable[str],
    *,
    run_id: str | None = None,
    only_failed: bool = False,
    retries: Mapping[str, int] | None = None,
    reset_runs: bool = True,
) -> int:
    """Clear the finished task instances of ``task_ids``; returns how many were cleared.

    Instances still running are left alone (clearing them would run a try twice). With
    ``retries`` (task id -> the task's retries), each cleared instance gets that many tries
    again on top of those it used, as in Airflow. Their finished runs go back to queued,
    so the scheduler runs them again; with ``reset_runs=False`` (Airflow's
    ``reset_dag_runs``) runs keep their state, and a finished run's cleared instances wait
    until the run is cleared or marked queued.
    """
    now = datetime.now(UTC)
    runs: set[str] = set()
    cleared = 0
    for ti in clearable_task_instances(
        session, dag_id, task_ids, run_id=run_id, only_failed=only_failed
    ):
        archive_try(session, ti.id)
        moved = session.execute(
            update(TaskInstance)
            .where(TaskInstance.id == ti.id, TaskInstance.state == ti.state)
            .values(
                state=None,
                end_date=None,
                next_retry_at=None,
                # A cleared instance starts a new try from the start: nothing to resume.
                next_method=None,
                next_kwargs=None,
                trigger_id=None,
                trigger_timeout=None,
                updated_at=now,
                max_tries=ti.try_number + retries[ti.task_id]
                if retries and ti.task_id in retries
                else ti.max_tries,
            )
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if moved:
            cleared += 1
            runs.add(ti.run_id)
    if runs and reset_runs:
        session.execute(
            update(DagRun)
            .where(DagRun.dag_id == dag_id, DagRun.run_id.in_(sorted(runs)))
            .where(DagRun.state.in_([DagRunState.SUCCESS.value, DagRunState.FAILED.value]))
            .values(state=DagRunState.QUEUED.value, end_date=None, queued_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return cleared
