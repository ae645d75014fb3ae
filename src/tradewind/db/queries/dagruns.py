"""Creating and reading DAG runs (and the task instances a new run starts with).

A run is created in one transaction with all its task instances: from a schedule, a
backfill, an API or CLI trigger. ``dag`` is any DAG-like object with the SDK's names (the
serialized DAG in the service); its params check ``conf`` first, and a bad conf, a bad or
duplicate run id changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from tradewind.db.models import DagRun, TaskInstance
from tradewind.exceptions import TradewindException
from tradewind.scheduler.priority import priority_weights
from tradewind.sdk.abstractoperator import validate_run_id
from tradewind.sdk.map_indexes import initial_map_indexes
from tradewind.states import DagRunState


class DuplicateRunError(TradewindException):
    """A run with that run id (or logical date) already exists for the DAG."""


def _now() -> datetime:
    return datetime.now(UTC)


def initial_task_instances(dag: Any, run_id: str, dag_version_id: int | None) -> list[TaskInstance]:
    """The task instances a new run starts with: one per task, or one per element for a
    task (or a task in a mapped group) mapped over literals only (as in Airflow);
    effective priorities included."""
    tasks = dag.task_dict
    weights = priority_weights(
        {tid: t.downstream_task_ids for tid, t in tasks.items()},
        {tid: t.priority_weight for tid, t in tasks.items()},
        {tid: t.weight_rule for tid, t in tasks.items()},
    )
    rows: list[TaskInstance] = []
    for tid, task in tasks.items():
        for map_index in initial_map_indexes(task):
            rows.append(
                TaskInstance(
                    dag_id=dag.dag_id,
                    run_id=run_id,
                    task_id=tid,
                    map_index=map_index,
                    try_number=0,
                    max_tries=task.retries,
                    state=None,
                    pool=task.pool,
                    pool_slots=task.pool_slots,
                    queue=task.queue,
                    priority_weight=weights[tid],
                    operator=getattr(task, "operator_name", type(task).__name__),
                    custom_operator_name=getattr(task, "custom_operator_name", None),
                    task_display_name=getattr(task, "task_display_name", None),
                    dag_version_id=dag_version_id,
                )
            )
    return rows


def create_dag_run(
    session: Session,
    dag: Any,
    *,
    run_id: str,
    run_type: str,
    run_after: datetime,
    logical_date: datetime | None = None,
    data_interval: tuple[datetime, datetime] | None = None,
    conf: Mapping[str, Any] | None = None,
    triggered_by: str | None = None,
    triggering_user_name: str | None = None,
    note: str | None = None,
    dag_version_id: int | None = None,
    backfill_id: int | None = None,
    state: DagRunState = DagRunState.QUEUED,
) -> DagRun:
    """Insert a run and its task instances; raise on a bad run id, conf or duplicate."""
    validate_run_id(run_id)
    conf = dict(conf or {})
    dag.params.resolve(conf)
    clash = select(DagRun.run_id).where(DagRun.dag_id == dag.dag_id)
    if logical_date is not None:
        clash = clash.where((DagRun.run_id == run_id) | (DagRun.logical_date == logical_date))
    else:
        clash = clash.where(DagRun.run_id == run_id)
    existing = session.execute(clash.limit(1)).scalar()
    if existing is not None:
        what = (
            f"run id {run_id!r}"
            if existing == run_id
            else f"logical date {logical_date.isoformat() if logical_date else None}"
        )
        raise DuplicateRunError(f"DAG {dag.dag_id!r} already has a run with {what} ({existing})")
    run = DagRun(
        dag_id=dag.dag_id,
        run_id=run_id,
        run_type=run_type,
        run_after=run_after,
        logical_date=logical_date,
        data_interval_start=data_interval[0] if data_interval else None,
        data_interval_end=data_interval[1] if data_interval else None,
        conf=conf,
        triggered_by=triggered_by,
        triggering_user_name=triggering_user_name,
        note=note,
        dag_version_id=dag_version_id,
        backfill_id=backfill_id,
        state=state.value,
        queued_at=_now() if state is DagRunState.QUEUED else None,
        start_date=_now() if state is DagRunState.RUNNING else None,
        updated_at=_now(),
    )
    session.add(run)
    session.add_all(initial_task_instances(dag, run_id, dag_version_id))
    session.flush()
    return run


def trigger_manual_run(
    session: Session,
    dag: Any,
    *,
    dag_version_id: int | None,
    logical_date: datetime | None,
    run_id: str | None = None,
    data_interval: tuple[datetime, datetime] | None = None,
    run_after: datetime | None = None,
    conf: Mapping[str, Any] | None = None,
    note: str | None = None,
    triggered_by: str = "rest_api",
    triggering_user_name: str | None = None,
) -> DagRun:
    """Create a manual run as Airflow 3's trigger endpoint lays it out.

    With a logical date, the data interval is the one given, else the timetable's for a
    manual run at that date (and then the run may start at the interval's end); without
    one the run has no data interval. The run id defaults to ``manual__<run_after>``
    (see :func:`tradewind.timetables.run_id.generate_run_id`). Aware datetimes only.
    Raises as :func:`create_dag_run` does, and ``ValueError`` for a timetable that cannot
    give a manual interval.
    """
    from tradewind.timetables.run_id import generate_run_id

    run_after = run_after or _now()
    interval = None
    if logical_date is not None:
        if data_interval is not None:
            interval = data_interval
        else:
            inferred = dag.timetable.infer_manual_data_interval(logical_date)
            interval = (inferred.start, inferred.end)
            run_after = inferred.end
    return create_dag_run(
        session,
        dag,
        run_id=run_id or generate_run_id("manual", logical_date, run_after),
        run_type="manual",
        run_after=run_after,
        logical_date=logical_date,
        data_interval=interval,
        conf=conf,
        triggered_by=triggered_by,
        triggering_user_name=triggering_user_name,
        note=note,
        dag_version_id=dag_version_id,
    )


def get_run(session: Session, dag_id: str, run_id: str) -> DagRun | None:
    return session.execute(
        select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
    ).scalar_one_or_none()


def list_runs(
    session: Session,
    dag_id: str | None = None,
    *,
    states: list[str] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[DagRun]:
    """Runs newest first (by ``run_after``), optionally of one DAG and in some states."""
    query = select(DagRun)
    if dag_id is not None:
        query = query.where(DagRun.dag_id == dag_id)
    if states:
        query = query.where(DagRun.state.in_(states))
    query = query.order_by(DagRun.run_after.desc(), DagRun.id.desc()).limit(limit).offset(offset)
    return list(session.execute(query).scalars())


def count_active_runs(session: Session, dag_id: str, *, exclude_backfill: bool = True) -> int:
    """How many of the DAG's runs are queued or running: by default the ones that count
    against the DAG's ``max_active_runs``, so without backfill runs, which have their own
    limit on the backfill (as Airflow 3's ``DagRun.active_runs_of_dags``)."""
    query = (
        select(func.count())
        .select_from(DagRun)
        .where(
            DagRun.dag_id == dag_id,
            DagRun.state.in_([DagRunState.QUEUED.value, DagRunState.RUNNING.value]),
        )
    )
    if exclude_backfill:
        query = query.where(DagRun.run_type != "backfill")
    return int(session.execute(query).scalar_one())


def task_instances_of(session: Session, dag_id: str, run_id: str) -> list[TaskInstance]:
    return list(
        session.execute(
            select(TaskInstance)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
            .order_by(TaskInstance.task_id, TaskInstance.map_index)
        ).scalars()
    )


_ACTIVE_RUNS = select(DagRun.id, DagRun.dag_id, DagRun.run_id, DagRun.state).where(
    or_(DagRun.state == DagRunState.QUEUED.value, DagRun.state == DagRunState.RUNNING.value)
)


def active_runs(session: Session) -> tuple[set[int], set[tuple[str, str]]]:
    """Ids of the queued runs, and ``(dag_id, run_id)`` of the running ones (the scheduler
    asks every pass: one query on the ``state`` index)."""
    queued: set[int] = set()
    running: set[tuple[str, str]] = set()
    for pk, dag_id, run_id, state in session.connection().execute(_ACTIVE_RUNS):
        if state == DagRunState.QUEUED.value:
            queued.add(pk)
        else:
            running.add((dag_id, run_id))
    return queued, running


_DECIDED = (
    update(DagRun.__table__)  # type: ignore[arg-type]
    .where(DagRun.id == bindparam("run_pk"))
    .values(last_scheduling_decision=bindparam("at"))
)


def mark_decided(session: Session, run_pk: int, at: datetime) -> None:
    """Record when the scheduler last made a decision in a run."""
    session.connection().execute(_DECIDED, {"run_pk": run_pk, "at": at})
