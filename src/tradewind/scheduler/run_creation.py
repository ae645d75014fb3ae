"""Making runs: the scheduler loop's part that creates the runs schedules make due and
starts queued runs within ``max_active_runs`` (backfill runs within their backfill's).

A mixin of :class:`~tradewind.scheduler.loop.Scheduler`: every method runs inside one of
its passes, on the pass's session.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tradewind.db.dialects import for_update_skip_locked
from tradewind.db.models import Backfill, BackfillDagRun, DagModel, DagRun, SerializedDagModel
from tradewind.db.queries import dagruns
from tradewind.db.queries.dags import SerializedDagCache
from tradewind.serialization.serialized_dag import SerializedDAG
from tradewind.states import DagRunState
from tradewind.timetables.base import DataInterval, TimeRestriction

log = logging.getLogger("tradewind.scheduler")


class RunCreation:
    """Creates due scheduled runs and starts queued ones (see the module docstring)."""

    dags: SerializedDagCache
    _next_computed: set[tuple[str, int]]

    if TYPE_CHECKING:

        def _dag(
            self, session: Session, version_id: int | None, dag_id: str
        ) -> SerializedDAG | None: ...

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
        """Start queued runs within ``max_active_runs``, as Airflow: a backfill's runs within
        the backfill's own limit (they do not count against the DAG's), none while the
        backfill is paused, after other runs and in their ``sort_ordinal`` order."""
        queued = session.execute(
            select(DagRun, DagModel.max_active_runs, Backfill.max_active_runs)
            .join(DagModel, DagModel.dag_id == DagRun.dag_id)
            .outerjoin(Backfill, Backfill.id == DagRun.backfill_id)
            .outerjoin(
                BackfillDagRun,
                (BackfillDagRun.dag_run_id == DagRun.id)
                & (BackfillDagRun.backfill_id == DagRun.backfill_id),
            )
            .where(
                DagRun.state == DagRunState.QUEUED.value,
                DagModel.is_paused.is_(False),
                Backfill.is_paused.is_not(True),
            )
            .order_by(BackfillDagRun.sort_ordinal.nulls_first(), DagRun.run_after, DagRun.id)
        ).all()
        if not queued:
            return
        running = Counter(
            {
                (dag_id, backfill_id): n
                for dag_id, backfill_id, n in session.execute(
                    select(DagRun.dag_id, DagRun.backfill_id, func.count())
                    .where(DagRun.state == DagRunState.RUNNING.value)
                    .group_by(DagRun.dag_id, DagRun.backfill_id)
                ).all()
            }
        )
        for run, max_active, backfill_max in queued:
            key = (run.dag_id, run.backfill_id)
            if running[key] >= (max_active if backfill_max is None else backfill_max):
                continue
            moved = session.execute(
                update(DagRun)
                .where(DagRun.id == run.id, DagRun.state == DagRunState.QUEUED.value)
                .values(state=DagRunState.RUNNING.value, start_date=now, updated_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            if moved:
                running[key] += 1
