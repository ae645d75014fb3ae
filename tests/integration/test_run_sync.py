"""The database path decides exactly like ``dags test``.

A small driver plays scheduler and executor against a real database: it runs scheduling
passes (:func:`schedule_run`), queues what became scheduled, runs each try with the real
task runner (XCom through the DB-backed worker services), and feeds the outcomes back.
Every example DAG and a set of tricky ones must end with the same task states as the
in-memory ``run_dag``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dbdriver import drive
from tradewind.dag_processing.loader import DagBag
from tradewind.db import migrate
from tradewind.db.models import TaskInstance
from tradewind.db.session import get_engine
from tradewind.inprocess import run_dag
from tradewind.sdk import DAG, task

EXAMPLES = Path(__file__).parents[2] / "examples" / "dags"


@pytest.fixture
def engine(db_url: str):  # type: ignore[no-untyped-def]
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    return engine


@pytest.mark.parametrize(
    "dag_id",
    sorted(DagBag.from_folder(EXAMPLES).dags),
)
def test_every_example_ends_like_dags_test(engine, dag_id: str) -> None:  # type: ignore[no-untyped-def]
    dag = DagBag.from_folder(EXAMPLES).get_dag(dag_id)
    expected = run_dag(dag)
    state, states = drive(engine, dag)
    assert state == expected.state.value
    assert states == expected.task_states()


def test_retries_archive_each_try(engine) -> None:  # type: ignore[no-untyped-def]
    from tradewind.db.models import TaskInstanceHistory

    with DAG("db_retry") as dag:

        @task(retries=2, retry_delay=timedelta(seconds=0.05))
        def flaky(ti=None):  # type: ignore[no-untyped-def]
            if ti.try_number < 3:
                raise RuntimeError(f"try {ti.try_number} fails")
            return ti.try_number

        flaky()
    state, states = drive(engine, dag)
    assert (state, states) == ("success", {"flaky": "success"})
    with Session(engine) as session:
        history = session.execute(
            select(TaskInstanceHistory.try_number, TaskInstanceHistory.state).order_by(
                TaskInstanceHistory.try_number
            )
        ).all()
        ti = session.execute(select(TaskInstance)).scalar_one()
    assert [tuple(h) for h in history] == [(1, "up_for_retry"), (2, "up_for_retry")]
    assert ti.try_number == 3


def test_mapping_over_a_run_time_list_expands_rows(engine) -> None:  # type: ignore[no-untyped-def]
    with DAG("db_map") as dag:

        @task
        def items() -> list[int]:
            return [1, 2, 3]

        @task
        def double(x: int) -> int:
            return 2 * x

        @task
        def total(xs) -> int:  # type: ignore[no-untyped-def]
            assert list(xs) == [2, 4, 6]
            return sum(xs)

        total(double.expand(x=items()))
    state, states = drive(engine, dag)
    assert state == "success"
    assert states == {
        "items": "success",
        "double[0]": "success",
        "double[1]": "success",
        "double[2]": "success",
        "total": "success",
    }
