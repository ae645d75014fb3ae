"""Creating runs: task instances come with them; bad input changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tradewind.db import migrate
from tradewind.db.models import DagModel, DagRun, TaskInstance
from tradewind.db.queries import dagruns
from tradewind.db.session import get_engine
from tradewind.exceptions import DagDefinitionError, ParamValidationError
from tradewind.operators import EmptyOperator
from tradewind.sdk import DAG, Param, task

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_dag() -> DAG:
    with DAG("runs_dag", params={"n": Param(1, type="integer", minimum=1)}) as dag:

        @task
        def double(x: int) -> int:
            return 2 * x

        start = EmptyOperator(task_id="start", priority_weight=5)
        start >> double.expand(x=[1, 2, 3])
    return dag


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    with Session(engine) as s:
        s.add(DagModel(dag_id="runs_dag"))
        s.commit()
        yield s


def count(session: Session, model: type) -> int:
    return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_a_run_starts_with_its_task_instances(session: Session) -> None:
    run = dagruns.create_dag_run(
        session, make_dag(), run_id="manual__1", run_type="manual", run_after=T0, logical_date=T0
    )
    session.commit()
    assert run.state == "queued"
    tis = dagruns.task_instances_of(session, "runs_dag", "manual__1")
    assert [(t.task_id, t.map_index) for t in tis] == [
        ("double", 0),
        ("double", 1),
        ("double", 2),
        ("start", -1),
    ]
    start = next(t for t in tis if t.task_id == "start")
    assert start.priority_weight == 5 + 1  # its own plus the mapped task downstream
    assert start.operator == "EmptyOperator" and start.pool == "default_pool"


def test_duplicate_run_id_or_logical_date_is_refused_and_changes_nothing(session: Session) -> None:
    dag = make_dag()
    dagruns.create_dag_run(
        session, dag, run_id="manual__1", run_type="manual", run_after=T0, logical_date=T0
    )
    session.commit()
    with pytest.raises(dagruns.DuplicateRunError, match="run id 'manual__1'"):
        dagruns.create_dag_run(session, dag, run_id="manual__1", run_type="manual", run_after=T0)
    session.rollback()
    with pytest.raises(dagruns.DuplicateRunError, match="logical date"):
        dagruns.create_dag_run(
            session, dag, run_id="other", run_type="manual", run_after=T0, logical_date=T0
        )
    session.rollback()
    assert count(session, DagRun) == 1
    assert count(session, TaskInstance) == 4


def test_conf_failing_params_and_bad_run_ids_are_refused(session: Session) -> None:
    dag = make_dag()
    with pytest.raises(ParamValidationError, match="Invalid input for param n"):
        dagruns.create_dag_run(
            session, dag, run_id="r", run_type="manual", run_after=T0, conf={"n": 0}
        )
    with pytest.raises(DagDefinitionError, match="invalid run_id"):
        dagruns.create_dag_run(session, dag, run_id="../etc", run_type="manual", run_after=T0)
    session.rollback()
    assert count(session, DagRun) == 0


def test_list_runs_newest_first_and_by_state(session: Session) -> None:
    dag = make_dag()
    for i in range(3):
        dagruns.create_dag_run(
            session,
            dag,
            run_id=f"r{i}",
            run_type="manual",
            run_after=T0.replace(day=i + 1),
        )
    session.commit()
    assert [r.run_id for r in dagruns.list_runs(session, "runs_dag")] == ["r2", "r1", "r0"]
    assert dagruns.count_active_runs(session, "runs_dag") == 3
    assert dagruns.list_runs(session, "runs_dag", states=["success"]) == []
