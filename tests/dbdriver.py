"""Plays scheduler and executor against a real database, for tests.

:func:`drive` runs scheduling passes (:func:`schedule_run`), queues what became scheduled,
runs each try with the real task runner (XCom through the DB-backed worker services) and
feeds the outcomes back, until the run ends.
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tradewind.dag_processing.loader import load_dag_file
from tradewind.db.models import DagModel, DagRun, TaskInstance
from tradewind.db.queries import dagruns
from tradewind.db.queries import taskinstances as ti_queries
from tradewind.execution.client import ServicesClient
from tradewind.execution.in_process_waits import run_waiting_in_process
from tradewind.execution.runner import run_task_try
from tradewind.execution.runtime import DagRunInfo
from tradewind.executors.workload import ExecuteTask, TaskOutcomeEvent, TaskStartedEvent
from tradewind.scheduler.run_sync import schedule_run
from tradewind.scheduler.worker_services import DatabaseWorkerServices
from tradewind.states import DagRunState


def drive(engine: Engine, dag: Any) -> tuple[str, dict[str, str | None]]:
    """Run ``dag`` once through the DB path; return the run state and task states."""
    now = datetime.now(UTC)
    services = DatabaseWorkerServices(engine)
    with Session(engine) as session, session.begin():
        if session.get(DagModel, dag.dag_id) is None:
            session.add(DagModel(dag_id=dag.dag_id))
            session.flush()
        run = dagruns.create_dag_run(
            session,
            dag,
            run_id=f"manual__{now.isoformat()}",
            run_type="manual",
            run_after=now,
            logical_date=now,
            data_interval=(now, now),
            state=DagRunState.RUNNING,
        )
        run_pk, run_id = run.id, run.run_id
    info = DagRunInfo(dag.dag_id, run_id, now, now, now, now)
    mapped = frozenset(t for t, op in dag.task_dict.items() if op.is_mapped)
    outcomes: list = []
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while datetime.now(UTC) < deadline:
        with Session(engine) as session, session.begin():
            run = session.get(DagRun, run_pk)
            assert run is not None
            passed = schedule_run(session, run, dag, outcomes)
            outcomes = []
            if passed.run_state is not DagRunState.RUNNING:
                break
            todo = session.execute(
                select(TaskInstance.id, TaskInstance.task_id, TaskInstance.map_index).where(
                    TaskInstance.dag_id == dag.dag_id,
                    TaskInstance.run_id == run.run_id,
                    TaskInstance.state == "scheduled",
                )
            ).all()
            queued = [
                (ti_id, tid, mi, ti_queries.mark_queued(session, ti_id)) for ti_id, tid, mi in todo
            ]
        for ti_id, tid, mi, try_number in queued:
            # Reschedules and deferrals resolve in process here, as under dags test (the
            # service's own path through the triggerer has its tests).
            outcome = run_waiting_in_process(
                functools.partial(
                    run_task_try,
                    dag.task_dict[tid],
                    info,
                    client=ServicesClient(services),
                    map_index=mi,
                    try_number=try_number,
                    mapped_upstreams=mapped,
                )
            )
            outcomes.append((ti_id, outcome))
        if not queued and not outcomes:
            time.sleep(0.05)  # a retry is waiting for its time
    with Session(engine) as session:
        run = session.get(DagRun, run_pk)
        assert run is not None
        states = {
            (t.task_id if t.map_index < 0 else f"{t.task_id}[{t.map_index}]"): t.state
            for t in dagruns.task_instances_of(session, dag.dag_id, run.run_id)
        }
        return run.state, states


def trigger_manual_run(
    engine: Engine, dag_id: str, *, run_id: str | None = None, conf: dict[str, Any] | None = None
) -> str:
    """Create a manual run of the latest stored version of ``dag_id`` now, as ``dags
    trigger`` does; its run id (``manual__<now>`` unless given)."""
    from sqlalchemy.orm import Session

    from tradewind.db.queries.dags import SerializedDagCache

    with Session(engine) as session, session.begin():
        version, dag = SerializedDagCache().latest(session, dag_id)  # type: ignore[misc]
        now = datetime.now(UTC)
        run = dagruns.create_dag_run(
            session,
            dag,
            run_id=run_id or f"manual__{now.isoformat()}",
            run_type="manual",
            run_after=now,
            logical_date=now,
            data_interval=(now, now),
            conf=conf,
            dag_version_id=version,
        )
        return run.run_id


class SyncExecutor:
    """Runs each workload at once, in this process, with the real runner."""

    def __init__(self, engine: Engine, slots: int = 8) -> None:
        self.services = DatabaseWorkerServices(engine)
        self.slots = slots
        self.events: list[TaskStartedEvent | TaskOutcomeEvent] = []
        self.ran: list[str] = []

    def start(self) -> None: ...

    @property
    def open_slots(self) -> int:
        return self.slots

    def queue_workload(self, w: ExecuteTask) -> bool:
        dag = load_dag_file(Path(w.dag_file))[0]
        task = dag.task_dict[w.task_id]
        now = datetime.now(UTC)
        self.events.append(
            TaskStartedEvent(
                ti_id=w.ti_id, try_number=w.try_number, start_date=now, pid=1, hostname="test"
            )
        )
        r = w.run
        info = DagRunInfo(
            w.dag_id,
            w.run_id,
            r.logical_date,
            r.data_interval_start,
            r.data_interval_end,
            r.run_after,
            conf=dict(r.conf),
        )
        out = run_waiting_in_process(
            functools.partial(
                run_task_try,
                task,
                info,
                client=ServicesClient(self.services),
                map_index=w.map_index,
                try_number=w.try_number,
                mapped_upstreams=frozenset(t for t, op in dag.task_dict.items() if op.is_mapped),
                clear_xcom=not w.xcom_cleared,
            )
        )
        self.ran.append(f"{w.task_id}#{w.try_number}")
        self.events.append(
            TaskOutcomeEvent(
                ti_id=w.ti_id,
                try_number=w.try_number,
                dag_id=w.dag_id,
                run_id=w.run_id,
                task_id=w.task_id,
                map_index=w.map_index,
                state=out.state,
                start_date=out.start_date,
                end_date=out.end_date,
                error=out.error,
                next_retry_at=out.next_retry_at,
                skip_downstream=out.skip_downstream,
                xcom_lengths=out.xcom_lengths,
                pushed_keys=out.pushed_keys,
            )
        )
        return True

    def get_events(self) -> list[TaskStartedEvent | TaskOutcomeEvent]:
        events, self.events = self.events, []
        return events

    def wait_for_event(self, timeout: float | None = None) -> bool:
        return bool(self.events)

    def running(self) -> list[Any]:
        return []  # every try has ended by the time queue_workload returns

    def heartbeat(self) -> None: ...

    def end(self, timeout: float | None = None) -> None: ...
