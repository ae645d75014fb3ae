"""``TriggerDagRunOperator`` against the service: the scheduler side creates the run in the
metadata DB (Airflow 3.3's fields and rules) and the scheduler runs it; over real worker
processes the parent waits for the run it triggered."""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from dbdriver import SyncExecutor
from tradewind.dag_processing.manager import DagProcessor
from tradewind.db import migrate
from tradewind.db.models import DagModel, DagRun, TaskInstance, TaskInstanceHistory
from tradewind.db.queries import dagruns
from tradewind.db.queries import xcom as xcom_queries
from tradewind.db.queries.dags import latest_version
from tradewind.db.session import get_engine
from tradewind.exceptions import DagRunAlreadyExists, ParamValidationError
from tradewind.scheduler.loop import Scheduler
from tradewind.scheduler.worker_services import DatabaseWorkerServices
from tradewind.xcom.base import XComKey

LOGICAL = datetime(2024, 3, 5, tzinfo=UTC)

TARGET = """
from tradewind.sdk import Param, dag, task

@dag(schedule=None, params={"n": Param(1, type="integer")})
def target():
    @task
    def times_ten(params=None):
        return params["n"] * 10

    times_ten()

target()
"""

BROKEN_TARGET = """
from tradewind.sdk import dag, task

@dag(schedule=None)
def broken_target():
    @task
    def boom():
        raise RuntimeError("the target fails")

    boom()

broken_target()
"""

PARENT = """
from tradewind.operators import TriggerDagRunOperator
from tradewind.sdk import dag

@dag(schedule=None)
def parent():
    TriggerDagRunOperator(
        task_id="kick",
        trigger_dag_id="target",
        trigger_run_id="child_of_{{ run_id }}",
        conf={"n": 3, "day": "{{ ds }}"},
        note="started by parent",
    )

parent()
"""

WAITING_PARENT = """
from tradewind.operators import TriggerDagRunOperator
from tradewind.sdk import dag

@dag(schedule=None)
def waiting_parent():
    TriggerDagRunOperator(
        task_id="good",
        trigger_dag_id="target",
        conf={"n": 4},
        wait_for_completion=True,
        poke_interval=0.2,
    )
    TriggerDagRunOperator(
        task_id="bad",
        trigger_dag_id="broken_target",
        wait_for_completion=True,
        poke_interval=0.2,
    )

waiting_parent()
"""


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    yield engine


def register(engine: Engine, folder: Path, **sources: str) -> None:
    """Write one file per DAG and process the folder, as the DAG processor does."""
    folder.mkdir(exist_ok=True)
    for name, source in sources.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
    DagProcessor(folder, sessionmaker(bind=engine), paused_by_default=False).process_once()


def get_run(engine: Engine, dag_id: str, run_id: str) -> DagRun:
    with Session(engine) as session:
        run = dagruns.get_run(session, dag_id, run_id)
        assert run is not None
        session.expunge(run)
        return run


def runs_of(engine: Engine, dag_id: str) -> list[DagRun]:
    with Session(engine) as session:
        runs = dagruns.list_runs(session, dag_id)
        session.expunge_all()
        return runs


def ti_states(engine: Engine, dag_id: str, run_id: str) -> dict[str, str | None]:
    with Session(engine) as session:
        return {t.task_id: t.state for t in dagruns.task_instances_of(session, dag_id, run_id)}


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


# -- the service ---------------------------------------------------------------------------------
def test_a_trigger_creates_a_queued_operator_triggered_run(engine: Engine, tmp_path: Path) -> None:
    register(engine, tmp_path / "dags", target=TARGET)
    services = DatabaseWorkerServices(engine)
    before = datetime.now(UTC)
    assert services.trigger_dag_run("target", "r1", {"n": 2}, LOGICAL, False, "hi") == "r1"
    run = get_run(engine, "target", "r1")
    assert (run.run_type, run.triggered_by, run.state) == (
        "operator_triggered",
        "operator",
        "queued",
    )
    assert (run.conf, run.note, run.logical_date) == ({"n": 2}, "hi", LOGICAL)
    # As Airflow's trigger: run_after is now, and so is the manual data interval.
    assert before <= run.run_after <= datetime.now(UTC)
    assert run.data_interval_start == run.data_interval_end == run.run_after
    with Session(engine) as session:
        version = latest_version(session, "target")
        assert version is not None and run.dag_version_id == version.id
    assert ti_states(engine, "target", "r1") == {"times_ten": None}
    assert services.get_dag_run_state("target", "r1") == "queued"
    assert services.get_dag_run_state("target", "nope") is None


def test_a_run_without_a_logical_date_has_no_data_interval(engine: Engine, tmp_path: Path) -> None:
    register(engine, tmp_path / "dags", target=TARGET)
    DatabaseWorkerServices(engine).trigger_dag_run("target", "r0", None, None, False, None)
    run = get_run(engine, "target", "r0")
    assert (run.logical_date, run.data_interval_start, run.conf) == (None, None, {})


def test_bad_requests_change_nothing(engine: Engine, tmp_path: Path) -> None:
    register(engine, tmp_path / "dags", target=TARGET)
    services = DatabaseWorkerServices(engine)
    with pytest.raises(ParamValidationError):
        services.trigger_dag_run("target", "r1", {"n": "three"}, LOGICAL, False, None)
    with pytest.raises(KeyError, match="not found"):
        services.trigger_dag_run("missing", "r1", None, LOGICAL, False, None)
    with pytest.raises(ValueError):
        services.trigger_dag_run("target", "bad id with spaces", None, LOGICAL, False, None)
    with Session(engine) as session, session.begin():
        session.execute(update(DagModel).values(is_stale=True))
    with pytest.raises(KeyError, match="not found"):
        services.trigger_dag_run("target", "r1", None, LOGICAL, False, None)
    assert runs_of(engine, "target") == []


def test_a_run_id_or_logical_date_already_taken_is_refused(engine: Engine, tmp_path: Path) -> None:
    register(engine, tmp_path / "dags", target=TARGET)
    services = DatabaseWorkerServices(engine)
    services.trigger_dag_run("target", "r1", None, LOGICAL, False, None)
    with pytest.raises(DagRunAlreadyExists, match="'r1'"):
        services.trigger_dag_run("target", "r1", None, None, False, None)
    with pytest.raises(DagRunAlreadyExists, match="logical date"):
        services.trigger_dag_run("target", "r2", None, LOGICAL, False, None)
    assert [r.run_id for r in runs_of(engine, "target")] == ["r1"]


def test_reset_dag_run_clears_the_existing_run_and_keeps_its_conf(
    engine: Engine, tmp_path: Path
) -> None:
    register(engine, tmp_path / "dags", target=TARGET)
    services = DatabaseWorkerServices(engine)
    services.trigger_dag_run("target", "r1", {"n": 5}, LOGICAL, False, None)
    with Session(engine) as session, session.begin():
        session.execute(update(DagRun).values(state="failed"))
        session.execute(update(TaskInstance).values(state="failed", try_number=1))
    assert services.trigger_dag_run("target", "r1", {"n": 6}, None, True, None) == "r1"
    run = get_run(engine, "target", "r1")
    assert (run.state, run.conf, run.logical_date) == ("queued", {"n": 5}, LOGICAL)
    assert ti_states(engine, "target", "r1") == {"times_ten": None}
    with Session(engine) as session:
        history = session.execute(select(TaskInstanceHistory.state)).scalars().all()
    assert history == ["failed"]


# -- through the scheduler -----------------------------------------------------------------------
def test_the_scheduler_runs_the_triggered_dag_with_its_conf(engine: Engine, tmp_path: Path) -> None:
    register(engine, tmp_path / "dags", target=TARGET, parent=PARENT)
    scheduler = Scheduler(engine, SyncExecutor(engine))  # type: ignore[arg-type]
    scheduler.start()
    with Session(engine) as session, session.begin():
        version, dag = scheduler.dags.latest(session, "parent")  # type: ignore[misc]
        dagruns.create_dag_run(
            session,
            dag,
            run_id="p1",
            run_type="manual",
            run_after=LOGICAL,
            logical_date=LOGICAL,
            data_interval=(LOGICAL, LOGICAL),
            dag_version_id=version,
        )

    def finished() -> bool:
        scheduler.run_once()
        runs = runs_of(engine, "target")
        return bool(runs) and runs[0].state in ("success", "failed")

    wait_for(finished)
    assert get_run(engine, "parent", "p1").state == "success"
    child = get_run(engine, "target", "child_of_p1")
    assert (child.state, child.run_type, child.triggered_by) == (
        "success",
        "operator_triggered",
        "operator",
    )
    assert (child.conf, child.note) == ({"n": 3, "day": "2024-03-05"}, "started by parent")
    with Session(engine) as session:
        pushed = xcom_queries.get_value(
            session, XComKey("parent", "p1", "kick", -1, "trigger_run_id")
        )
        result = xcom_queries.get_value(
            session, XComKey("target", "child_of_p1", "times_ten", -1, "return_value")
        )
    assert (pushed, result) == ("child_of_p1", 30)


def test_a_parent_waits_over_the_worker_pipe_for_the_runs_it_triggered(
    engine: Engine, tmp_path: Path
) -> None:
    from tradewind.executors.local import LocalExecutor

    register(
        engine,
        tmp_path / "dags",
        target=TARGET,
        broken_target=BROKEN_TARGET,
        waiting_parent=WAITING_PARENT,
    )
    executor = LocalExecutor(DatabaseWorkerServices(engine), workers=3)
    scheduler = Scheduler(engine, executor)
    with Session(engine) as session, session.begin():
        version, dag = scheduler.dags.latest(session, "waiting_parent")  # type: ignore[misc]
        now = datetime.now(UTC)
        dagruns.create_dag_run(
            session,
            dag,
            run_id="w1",
            run_type="manual",
            run_after=now,
            logical_date=now,
            data_interval=(now, now),
            dag_version_id=version,
        )
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: get_run(engine, "waiting_parent", "w1").state in ("success", "failed"))
    finally:
        stop.set()
        executor.wake()
        thread.join(timeout=30)
    assert get_run(engine, "waiting_parent", "w1").state == "failed"
    assert ti_states(engine, "waiting_parent", "w1") == {"good": "success", "bad": "failed"}
    [good] = runs_of(engine, "target")
    [bad] = runs_of(engine, "broken_target")
    assert (good.state, good.conf, good.run_type) == ("success", {"n": 4}, "operator_triggered")
    assert bad.state == "failed"
