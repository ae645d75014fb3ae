"""Shared setup for the task instance and task log API tests (no tests here).

``ETL`` is a DAG with a chain (``extract >> transform >> load``), a task mapped over a
literal list (``square``, three instances from the start) and a second DAG readable by a
custom role only. Runs are made the way ``dags trigger`` makes them; states and past tries
are then written straight into the database, so each test sets exactly what it needs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api_server import ApiTestEnv

ETL = """
from datetime import datetime
from tradewind.sdk import DAG, task

with DAG("etl", start_date=datetime(2024, 1, 1), schedule=None, dag_display_name="ETL jobs"):
    @task
    def extract() -> int:
        return 1

    @task(retries=2)
    def transform(x: int) -> int:
        return x

    @task
    def load(x: int) -> None:
        pass

    @task(pool="slow_pool", queue="cpu")
    def square(n: int) -> int:
        return n * n

    load(transform(extract()))
    square.expand(n=[1, 2, 3])
"""

TEAM = """
from tradewind.sdk import DAG
from tradewind.operators import EmptyOperator

with DAG("team_dag", schedule=None, access_control={"team": {"can_read"}}):
    EmptyOperator(task_id="only")
"""

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def add_dags(api: ApiTestEnv, *, team: bool = False) -> None:
    api.add_dag_file("etl.py", ETL)
    if team:
        api.add_dag_file("team.py", TEAM)


def make_run(
    api: ApiTestEnv,
    dag_id: str = "etl",
    run_id: str = "r1",
    logical_date: datetime | None = T0,
    state: str = "running",
) -> str:
    """A run of the latest version of ``dag_id`` with its task instances."""
    from tradewind.db.models import DagRun
    from tradewind.db.queries import dagruns
    from tradewind.db.queries.dags import SerializedDagCache

    with Session(api.engine) as session, session.begin():
        found = SerializedDagCache().latest(session, dag_id)
        assert found is not None
        version, dag = found
        when = logical_date or T0
        dagruns.create_dag_run(
            session,
            dag,
            run_id=run_id,
            run_type="manual",
            run_after=when,
            logical_date=logical_date,
            data_interval=(when, when) if logical_date else None,
            dag_version_id=version,
        )
        session.execute(update(DagRun).where(DagRun.run_id == run_id).values(state=state))
    return run_id


def set_ti(
    api: ApiTestEnv,
    task_id: str,
    *,
    dag_id: str = "etl",
    run_id: str = "r1",
    map_index: int = -1,
    **values: Any,
) -> None:
    """Write columns of one task instance directly (a state the scheduler would have set)."""
    from tradewind.db.models import TaskInstance as TI

    with Session(api.engine) as session, session.begin():
        moved = session.execute(
            update(TI)
            .where(
                TI.dag_id == dag_id,
                TI.run_id == run_id,
                TI.task_id == task_id,
                TI.map_index == map_index,
            )
            .values(**values)
        ).rowcount  # type: ignore[attr-defined]
        assert moved == 1, (task_id, map_index)


def finish(
    api: ApiTestEnv, task_id: str, state: str, *, try_number: int = 1, **kwargs: Any
) -> None:
    """A task instance that ran ``try_number`` tries and ended in ``state``."""
    start = T0 + timedelta(minutes=try_number)
    values = {
        "state": state,
        "try_number": try_number,
        "start_date": start,
        "end_date": start + timedelta(seconds=30),
        "duration": 30.0,
        "hostname": "worker-1",
        **kwargs.pop("values", {}),
    }
    set_ti(api, task_id, **kwargs, **values)


def archive(api: ApiTestEnv, task_id: str, *, run_id: str = "r1", map_index: int = -1) -> None:
    """Copy the instance's current try into the history, as a retry or clear does."""
    from tradewind.db.models import TaskInstance as TI
    from tradewind.db.queries.taskinstances import archive_try

    with Session(api.engine) as session, session.begin():
        ti_id = session.scalar(
            select(TI.id).where(
                TI.run_id == run_id, TI.task_id == task_id, TI.map_index == map_index
            )
        )
        assert ti_id is not None
        archive_try(session, ti_id)


def states(api: ApiTestEnv, run_id: str = "r1", dag_id: str = "etl") -> dict[str, str | None]:
    from tradewind.db.queries.dagruns import task_instances_of

    with Session(api.engine) as session:
        return {
            (t.task_id if t.map_index < 0 else f"{t.task_id}[{t.map_index}]"): t.state
            for t in task_instances_of(session, dag_id, run_id)
        }


def run_state(api: ApiTestEnv, run_id: str = "r1") -> str:
    from tradewind.db.models import DagRun

    with Session(api.engine) as session:
        state = session.scalar(select(DagRun.state).where(DagRun.run_id == run_id))
        assert state is not None
        return state


def audit_events(api: ApiTestEnv) -> list[tuple[str, str | None]]:
    from tradewind.db.models import Log

    with Session(api.engine) as session:
        return [tuple(r) for r in session.execute(select(Log.event, Log.owner).order_by(Log.id))]  # type: ignore[misc]


def tis_url(run_id: str = "r1", dag_id: str = "etl", version: str = "v2") -> str:
    dag, run = quote(dag_id, safe="~"), quote(run_id, safe="~")
    return f"/api/{version}/dags/{dag}/dagRuns/{run}/taskInstances"
