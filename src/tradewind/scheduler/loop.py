"""The scheduler loop: the only I/O in the scheduler.

Each pass, in short transactions: create the runs that are due (schedules), start queued
runs within ``max_active_runs``, record what the executor reported (a try started, a try
ended), make every decision now due in the running runs (:mod:`~tradewind.scheduler.run_sync`),
and queue what became ready (:mod:`~tradewind.scheduler.queueing`). Then it sleeps until the
executor reports something or the next deadline (a retry coming due, a schedule) arrives:
event-driven, not a fixed sleep. It never imports DAG files; it reads serialized DAGs.

Several schedulers may run against PostgreSQL: runs and DAGs are taken with
``FOR UPDATE SKIP LOCKED`` and every task instance change is a compare-and-set.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from tradewind.db.dialects import for_update_skip_locked
from tradewind.db.models import DagCode, DagModel, DagRun, Job, Pool, SerializedDagModel
from tradewind.db.models import TaskInstance as TIRow
from tradewind.db.queries import dagruns
from tradewind.db.queries import taskinstances as ti_queries
from tradewind.db.queries.dags import SerializedDagCache
from tradewind.executors.base import Executor
from tradewind.executors.workload import ExecuteTask, RunData, TaskOutcomeEvent, TaskStartedEvent
from tradewind.retries import retry_delay_for
from tradewind.scheduler.queueing import ActiveCounts, Candidate, PoolSlots, select_for_queueing
from tradewind.scheduler.run_sync import schedule_run
from tradewind.serialization.serialized_dag import SerializedDAG
from tradewind.states import DagRunState
from tradewind.states import TaskInstanceState as TI
from tradewind.timetables.base import DataInterval, TimeRestriction

log = logging.getLogger("tradewind.scheduler")

#: Longest the loop sleeps without an event, so schedules and heartbeats stay on time.
MAX_IDLE_SECONDS = 1.0


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Outcome:
    """A try's outcome as the run machine reads it (a crashed try may become a retry)."""

    state: TI
    start_date: datetime
    end_date: datetime
    error: str | None
    next_retry_at: datetime | None
    rendered_map_index: str | None
    pushed_keys: list[str] = field(default_factory=list)
    xcom_lengths: dict[str, int] = field(default_factory=dict)
    skip_downstream: list[str] = field(default_factory=list)


class Scheduler:
    """Drives runs to completion. ``run(stop)`` loops; ``run_once()`` is one pass (tests)."""

    def __init__(
        self, engine: Engine, executor: Executor, *, dags_folder: str | None = None
    ) -> None:
        self.engine = engine
        self.executor = executor
        self.dags_folder = dags_folder
        self.dags = SerializedDagCache()
        self.job_id: int | None = None
        self._next_computed: set[tuple[str, int]] = set()
        self._pending: dict[tuple[str, str], list[tuple[str, _Outcome]]] = defaultdict(list)

    def _dag(self, session: Session, version_id: int | None, dag_id: str) -> SerializedDAG | None:
        """The DAG version a run follows (the latest when the run has none recorded)."""
        if version_id is not None:
            return self.dags.get(session, version_id)
        latest = self.dags.latest(session, dag_id)
        return latest[1] if latest else None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        now = _now()
        with Session(self.engine) as session, session.begin():
            job = Job(
                job_type="SchedulerJob",
                state="running",
                hostname=socket.gethostname(),
                pid=os.getpid(),
                executor_class=type(self.executor).__name__,
                start_date=now,
                latest_heartbeat=now,
            )
            session.add(job)
            session.flush()
            self.job_id = job.id
        self.executor.start()

    def stop(self, timeout: float | None = 30) -> None:
        self.executor.end(timeout)
        self._drain_events()
        if self.job_id is not None:
            with Session(self.engine) as session, session.begin():
                session.execute(
                    update(Job)
                    .where(Job.id == self.job_id)
                    .values(state="success", end_date=_now())
                )

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set: one pass, then wait for an event or the next deadline."""
        self.start()
        try:
            while not stop.is_set():
                wait = self.run_once()
                self.executor.wait_for_event(timeout=wait)
        finally:
            self.stop()

    def run_once(self) -> float:
        """One scheduling pass; returns how long the loop may sleep at most."""
        now = _now()
        self._drain_events()
        with Session(self.engine) as session, session.begin():
            self._create_scheduled_runs(session, now)
            self._start_queued_runs(session, now)
        with Session(self.engine) as session, session.begin():
            next_retry = self._schedule_running_runs(session, now)
        with Session(self.engine) as session, session.begin():
            workloads = self._queue_ready(session, now)
        for workload in workloads:
            self.executor.queue_workload(workload)
        self._heartbeat(now)
        self.executor.heartbeat()
        wait = MAX_IDLE_SECONDS
        if next_retry is not None:
            wait = min(wait, max(0.0, (next_retry - _now()).total_seconds()))
        return 0.0 if workloads else wait

    def _heartbeat(self, now: datetime) -> None:
        if self.job_id is None:
            return
        with Session(self.engine) as session, session.begin():
            session.execute(update(Job).where(Job.id == self.job_id).values(latest_heartbeat=now))

    # -- events ------------------------------------------------------------------------
    def _drain_events(self) -> None:
        events = self.executor.get_events()
        if not events:
            return
        with Session(self.engine) as session, session.begin():
            for event in events:
                if isinstance(event, TaskStartedEvent):
                    ti_queries.transition(
                        session,
                        event.ti_id,
                        expected=TI.QUEUED,
                        new=TI.RUNNING,
                        try_number=event.try_number,
                        values={
                            "start_date": event.start_date,
                            "pid": event.pid,
                            "hostname": event.hostname,
                            "last_heartbeat_at": event.start_date,
                        },
                    )
                elif isinstance(event, TaskOutcomeEvent):
                    self._pending[(event.dag_id, event.run_id)].append(
                        (event.ti_id, self._as_outcome(session, event))
                    )

    def _as_outcome(self, session: Session, event: TaskOutcomeEvent) -> _Outcome:
        state, next_retry = event.state, event.next_retry_at
        if event.crashed and state is TI.FAILED:
            # The runner did not decide (the process died): apply the task's retries here,
            # counting the task instance's own max_tries (it grows when a run is cleared).
            run = dagruns.get_run(session, event.dag_id, event.run_id)
            dag = self._dag(session, run.dag_version_id if run else None, event.dag_id)
            task = dag.task_dict.get(event.task_id) if dag else None
            row = session.get(TIRow, event.ti_id)
            max_tries = row.max_tries if row is not None else (task.retries if task else 0)
            if task is not None and event.try_number <= max_tries:
                state = TI.UP_FOR_RETRY
                next_retry = event.end_date + retry_delay_for(
                    retry_delay=task.retry_delay,
                    exponential_backoff=task.retry_exponential_backoff,
                    max_retry_delay=task.max_retry_delay,
                    try_number=event.try_number,
                    dag_id=event.dag_id,
                    task_id=event.task_id,
                    logical_date=run.logical_date if run else None,
                )
            log.warning("try %s of %s crashed: %s", event.try_number, event.task_id, event.error)
        return _Outcome(
            state=state,
            start_date=event.start_date or event.end_date,
            end_date=event.end_date,
            error=event.error,
            next_retry_at=next_retry,
            rendered_map_index=event.rendered_map_index,
            pushed_keys=list(event.pushed_keys),
            xcom_lengths=dict(event.xcom_lengths),
            skip_downstream=list(event.skip_downstream),
        )

    # -- runs --------------------------------------------------------------------------
    def _create_scheduled_runs(self, session: Session, now: datetime) -> None:
        self._compute_missing_next_runs(session)
        due = select(DagModel).where(
            DagModel.is_paused.is_(False),
            DagModel.is_stale.is_(False),
            DagModel.next_dagrun_create_after <= now,
        )
        for dag_model in session.execute(for_update_skip_locked(due, session)).scalars():
            latest = self.dags.latest(session, dag_model.dag_id)
            if latest is None:
                continue
            version, dag = latest
            if dagruns.count_active_runs(session, dag.dag_id) >= dag.max_active_runs:
                continue
            assert dag_model.next_dagrun_data_interval_start is not None
            assert dag_model.next_dagrun_data_interval_end is not None
            interval = DataInterval(
                dag_model.next_dagrun_data_interval_start, dag_model.next_dagrun_data_interval_end
            )
            run_after = dag_model.next_dagrun_create_after or now
            run_id = dag.timetable.generate_run_id(
                run_type="scheduled", run_after=run_after, data_interval=interval
            )
            try:
                dagruns.create_dag_run(
                    session,
                    dag,
                    run_id=run_id,
                    run_type="scheduled",
                    run_after=run_after,
                    logical_date=dag_model.next_dagrun,
                    data_interval=(interval.start, interval.end),
                    triggered_by="timetable",
                    dag_version_id=version,
                )
            except dagruns.DuplicateRunError:
                log.info("run %s of %s already exists", run_id, dag.dag_id)
            self._set_next_run(dag_model, dag, interval)

    def _compute_missing_next_runs(self, session: Session) -> None:
        """Work out the first scheduled run of DAGs whose next run is not known yet."""
        rows = session.execute(
            select(DagModel.dag_id, func.max(SerializedDagModel.id))
            .join(SerializedDagModel, SerializedDagModel.dag_id == DagModel.dag_id)
            .where(DagModel.is_stale.is_(False), DagModel.next_dagrun_create_after.is_(None))
            .group_by(DagModel.dag_id)
        ).all()
        for dag_id, version in rows:
            if (dag_id, version) in self._next_computed:
                continue
            self._next_computed.add((dag_id, version))
            dag = self.dags.get(session, version)
            dag_model = session.get(DagModel, dag_id)
            if dag is None or dag_model is None:
                continue
            last = session.execute(
                select(DagRun.data_interval_start, DagRun.data_interval_end)
                .where(
                    DagRun.dag_id == dag_id,
                    DagRun.run_type.in_(["scheduled", "backfill"]),
                    DagRun.data_interval_start.is_not(None),
                )
                .order_by(DagRun.data_interval_end.desc())
                .limit(1)
            ).first()
            previous = DataInterval(last[0], last[1]) if last and last[0] and last[1] else None
            self._set_next_run(dag_model, dag, previous)

    def _set_next_run(
        self, dag_model: DagModel, dag: SerializedDAG, last: DataInterval | None
    ) -> None:
        nxt = None
        if dag.timetable.can_be_scheduled:
            nxt = dag.timetable.next_dagrun_info(
                last_automated_data_interval=last,
                restriction=TimeRestriction(dag.start_date, dag.end_date, dag.catchup),
            )
        dag_model.next_dagrun = nxt.logical_date if nxt else None
        dag_model.next_dagrun_data_interval_start = nxt.data_interval.start if nxt else None
        dag_model.next_dagrun_data_interval_end = nxt.data_interval.end if nxt else None
        dag_model.next_dagrun_create_after = nxt.run_after if nxt else None

    def _start_queued_runs(self, session: Session, now: datetime) -> None:
        queued = session.execute(
            select(DagRun, DagModel.max_active_runs)
            .join(DagModel, DagModel.dag_id == DagRun.dag_id)
            .where(DagRun.state == DagRunState.QUEUED.value, DagModel.is_paused.is_(False))
            .order_by(DagRun.run_after, DagRun.id)
        ).all()
        if not queued:
            return
        running = Counter(
            dict(
                session.execute(
                    select(DagRun.dag_id, func.count())
                    .where(DagRun.state == DagRunState.RUNNING.value)
                    .group_by(DagRun.dag_id)
                ).all()
            )
        )
        for run, max_active in queued:
            if running[run.dag_id] >= max_active:
                continue
            moved = session.execute(
                update(DagRun)
                .where(DagRun.id == run.id, DagRun.state == DagRunState.QUEUED.value)
                .values(state=DagRunState.RUNNING.value, start_date=now, updated_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            if moved:
                running[run.dag_id] += 1

    def _schedule_running_runs(self, session: Session, now: datetime) -> datetime | None:
        query = select(DagRun).where(DagRun.state == DagRunState.RUNNING.value).order_by(DagRun.id)
        runs = list(session.execute(for_update_skip_locked(query, session)).scalars())
        next_retry: datetime | None = None
        for run in runs:
            outcomes = self._pending.pop((run.dag_id, run.run_id), [])
            dag = self._dag(session, run.dag_version_id, run.dag_id)
            if dag is None:
                log.error("run %s of %s: its serialized DAG is missing", run.run_id, run.dag_id)
                continue
            if dag.dagrun_timeout and run.start_date and now - run.start_date > dag.dagrun_timeout:
                self._time_out(session, run, now)
                continue
            schedule_run(session, run, dag, outcomes, now)
            run.last_scheduling_decision = now
            due = session.execute(
                select(func.min(TIRow.next_retry_at)).where(
                    TIRow.dag_id == run.dag_id,
                    TIRow.run_id == run.run_id,
                    TIRow.state == TI.UP_FOR_RETRY.value,
                )
            ).scalar()
            if due is not None and (next_retry is None or due < next_retry):
                next_retry = due
        return next_retry

    def _time_out(self, session: Session, run: DagRun, now: datetime) -> None:
        """``dagrun_timeout``: the run fails and what has not finished is skipped."""
        for state in (None, TI.SCHEDULED, TI.UP_FOR_RETRY, TI.QUEUED):
            ids = session.execute(
                select(TIRow.id).where(
                    TIRow.dag_id == run.dag_id,
                    TIRow.run_id == run.run_id,
                    TIRow.state.is_(None) if state is None else TIRow.state == state.value,
                )
            ).scalars()
            ti_queries.transition_many(session, ids, expected=state, new=TI.SKIPPED)
        run.state = DagRunState.FAILED.value
        run.end_date = now

    # -- queueing ----------------------------------------------------------------------
    def _queue_ready(self, session: Session, now: datetime) -> list[ExecuteTask]:
        slots = self.executor.open_slots
        if slots <= 0:
            return []
        rows = session.execute(
            select(TIRow, DagRun, DagModel)
            .join(DagRun, (DagRun.dag_id == TIRow.dag_id) & (DagRun.run_id == TIRow.run_id))
            .join(DagModel, DagModel.dag_id == TIRow.dag_id)
            .where(
                TIRow.state == TI.SCHEDULED.value,
                DagRun.state == DagRunState.RUNNING.value,
                DagModel.is_paused.is_(False),
            )
            .order_by(TIRow.priority_weight.desc(), DagRun.run_after, TIRow.map_index)
            .limit(max(slots * 4, 64))
        ).all()
        if not rows:
            return []
        candidates: list[Candidate] = []
        context: dict[str, tuple[TIRow, DagRun, DagModel]] = {}
        for ti, run, dag_model in rows:
            dag = self._dag(session, run.dag_version_id, run.dag_id)
            task = dag.task_dict.get(ti.task_id) if dag else None
            candidates.append(
                Candidate(
                    ti_id=ti.id,
                    dag_id=ti.dag_id,
                    run_id=ti.run_id,
                    task_id=ti.task_id,
                    map_index=ti.map_index,
                    priority_weight=ti.priority_weight or 1,
                    pool=ti.pool,
                    pool_slots=ti.pool_slots,
                    run_after=run.run_after,
                    max_active_tasks=dag_model.max_active_tasks,
                    max_active_tis_per_dag=task.max_active_tis_per_dag if task else None,
                    max_active_tis_per_dagrun=task.max_active_tis_per_dagrun if task else None,
                )
            )
            context[ti.id] = (ti, run, dag_model)
        decision = select_for_queueing(
            candidates, self._pool_slots(session), self._active_counts(session), slots
        )
        workloads: list[ExecuteTask] = []
        for chosen in decision.queued:
            ti, run, dag_model = context[chosen.ti_id]
            try_number = ti_queries.mark_queued(session, ti.id, job_id=self.job_id)
            if try_number is None:
                continue
            workloads.append(self._workload(session, ti, run, dag_model, try_number))
        return workloads

    def _workload(
        self, session: Session, ti: TIRow, run: DagRun, dag_model: DagModel, try_number: int
    ) -> ExecuteTask:
        source_hash = session.execute(
            select(DagCode.source_code_hash).where(DagCode.dag_id == ti.dag_id)
        ).scalar()
        return ExecuteTask.make(
            ti_id=ti.id,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index,
            try_number=try_number,
            max_tries=ti.max_tries,
            dag_file=dag_model.fileloc or "",
            dag_file_hash=source_hash or "",
            dags_folder=self.dags_folder,
            run=RunData(
                logical_date=run.logical_date,
                data_interval_start=run.data_interval_start,
                data_interval_end=run.data_interval_end,
                run_after=run.run_after,
                start_date=run.start_date,
                run_type=run.run_type,
                conf=dict(run.conf or {}),
            ),
            queue=ti.queue or "default",
            pool=ti.pool,
            priority_weight=ti.priority_weight or 1,
        )

    def _pool_slots(self, session: Session) -> dict[str, PoolSlots]:
        used = dict(
            session.execute(
                select(TIRow.pool, func.sum(TIRow.pool_slots))
                .where(TIRow.state.in_([TI.QUEUED.value, TI.RUNNING.value]))
                .group_by(TIRow.pool)
            ).all()
        )
        pools: dict[str, PoolSlots] = {}
        for pool in session.execute(select(Pool)).scalars():
            if pool.slots < 0:
                pools[pool.pool] = PoolSlots(-1, -1)
            else:
                pools[pool.pool] = PoolSlots(pool.slots, pool.slots - int(used.get(pool.pool) or 0))
        if "default_pool" not in pools:
            from tradewind.db.models.pool import DEFAULT_POOL_SLOTS

            taken = int(used.get("default_pool") or 0)
            pools["default_pool"] = PoolSlots(DEFAULT_POOL_SLOTS, DEFAULT_POOL_SLOTS - taken)
        return pools

    def _active_counts(self, session: Session) -> ActiveCounts:
        counts = ActiveCounts()
        for dag_id, run_id, task_id, n in session.execute(
            select(TIRow.dag_id, TIRow.run_id, TIRow.task_id, func.count())
            .where(TIRow.state.in_([TI.QUEUED.value, TI.RUNNING.value]))
            .group_by(TIRow.dag_id, TIRow.run_id, TIRow.task_id)
        ).all():
            counts.add(dag_id, run_id, task_id, int(n))
        return counts


__all__ = ["MAX_IDLE_SECONDS", "Scheduler"]
