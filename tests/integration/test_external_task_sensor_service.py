"""``ExternalTaskSensor`` against the metadata DB: another DAG's runs and task instances, read
by the scheduler side's worker services in two indexed queries a poke, drive the sensor (run
by the real task runner through its execution client) as they would in Airflow."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, event, update
from sqlalchemy.orm import Session, sessionmaker

from tradewind.dag_processing.manager import DagProcessor
from tradewind.db import migrate
from tradewind.db.models import DagModel, DagRun, TaskInstance
from tradewind.db.queries import dagruns
from tradewind.db.queries.dags import SerializedDagCache
from tradewind.db.session import get_engine
from tradewind.execution.client import ServicesClient
from tradewind.execution.runner import TryOutcome, run_task_try
from tradewind.execution.runtime import DagRunInfo
from tradewind.executors.base import NO_STATE, ExternalStates
from tradewind.scheduler.worker_services import DatabaseWorkerServices
from tradewind.sdk import DAG
from tradewind.sensors import ExternalTaskSensor
from tradewind.states import TaskInstanceState as TI

LOGICAL = datetime(2024, 3, 5, tzinfo=UTC)
DAY = timedelta(days=1)

UPSTREAM = """
from tradewind.operators import EmptyOperator
from tradewind.sdk import TaskGroup, dag

@dag(schedule=None)
def upstream():
    extract = EmptyOperator(task_id="extract")
    with TaskGroup("grp") as grp:
        EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
    extract >> grp >> EmptyOperator(task_id="load")

upstream()
"""


@pytest.fixture
def engine(db_url: str, tmp_path: Path) -> Iterator[Engine]:
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "upstream.py").write_text(textwrap.dedent(UPSTREAM))
    DagProcessor(folder, sessionmaker(bind=engine), paused_by_default=False).process_once()
    yield engine


class Services(DatabaseWorkerServices):
    """The DB-backed services, with a hook that changes the DB before an ask is answered."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.asks = 0
        self.before: Callable[[int], None] = lambda n: None

    def get_external_states(self, *args: Any) -> ExternalStates:
        self.asks += 1
        self.before(self.asks)
        return super().get_external_states(*args)


@pytest.fixture
def new_services(engine: Engine) -> Iterator[Callable[[], Services]]:
    """Makes services on ``engine``; their kept connections are closed after the test."""
    made: list[Services] = []

    def new() -> Services:
        made.append(Services(engine))
        return made[-1]

    yield new
    for services in made:
        services.close_connection()


def add_run(engine: Engine, when: datetime, state: str = "running", **tasks: Any) -> str:
    """A run of ``upstream`` at ``when``; ``tasks`` sets task instance states (a list makes
    that many map indexes, as a mapped task has)."""
    run_id = f"scheduled__{when.isoformat()}"
    with Session(engine) as session, session.begin():
        latest = SerializedDagCache().latest(session, "upstream")
        assert latest is not None
        version, dag = latest
        dagruns.create_dag_run(
            session,
            dag,
            run_id=run_id,
            run_type="scheduled",
            run_after=when,
            logical_date=when,
            data_interval=(when, when),
            dag_version_id=version,
        )
    set_states(engine, run_id, state, **tasks)
    return run_id


def set_states(engine: Engine, run_id: str, run_state: str | None = None, **tasks: Any) -> None:
    """Set the run's state and its tasks' (``grp__a`` is task ``grp.a``)."""
    with Session(engine) as session, session.begin():
        if run_state is not None:
            session.execute(update(DagRun).where(DagRun.run_id == run_id).values(state=run_state))
        for key, state in tasks.items():
            task_id = key.replace("__", ".")
            if isinstance(state, list):
                session.execute(
                    delete(TaskInstance).where(
                        TaskInstance.run_id == run_id, TaskInstance.task_id == task_id
                    )
                )
                session.add_all(
                    TaskInstance(
                        dag_id="upstream", run_id=run_id, task_id=task_id, map_index=i, state=s
                    )
                    for i, s in enumerate(state)
                )
                continue
            session.execute(
                update(TaskInstance)
                .where(TaskInstance.run_id == run_id, TaskInstance.task_id == task_id)
                .values(state=state)
            )


def run_sensor(services: Services, **kwargs: Any) -> tuple[TryOutcome, str]:
    kwargs.setdefault("poke_interval", 0.01)
    kwargs.setdefault("timeout", 10)
    with DAG("waiter") as dag:
        sensor = ExternalTaskSensor(task_id="wait", external_dag_id="upstream", **kwargs)
    lines: list[str] = []
    info = DagRunInfo(dag.dag_id, "r", LOGICAL, LOGICAL, LOGICAL, LOGICAL)
    outcome = run_task_try(sensor, info, client=ServicesClient(services), log_sink=lines.append)
    return outcome, "\n".join(lines)


# -- the service ---------------------------------------------------------------------------------
def test_the_states_come_back_per_date_task_and_state(
    engine: Engine, new_services: Callable[[], Services]
) -> None:
    add_run(engine, LOGICAL, "running", extract="success", grp__a="failed", load=["success"] * 2)
    services = new_services()
    found = services.get_external_states(
        "upstream", [LOGICAL, LOGICAL - DAY], ["extract", "load", "nope"], None
    )
    assert found == ExternalStates(
        dag="active",
        run_states=["running", None],
        task_states=[{"extract": {"success": 1}, "load": {"success": 2}}, {}],
        missing_task_ids=["nope"],
    )
    group = services.get_external_states("upstream", [LOGICAL], None, "grp")
    assert group.task_states == [{"grp.a": {"failed": 1}, "grp.b": {NO_STATE: 1}}]
    assert group.task_group_found is True
    assert services.get_external_states("upstream", [LOGICAL], None, "nope").task_states == [{}]
    # A logical date in another time zone is the same instant.
    other_zone = LOGICAL.astimezone(datetime.now().astimezone().tzinfo)
    assert services.get_external_states("upstream", [other_zone], None, None).run_states == [
        "running"
    ]
    missing = services.get_external_states("ghost", [LOGICAL], ["a"], "g")
    assert (missing.dag, missing.missing_task_ids, missing.task_group_found) == (
        "missing",
        [],
        False,
    )


@pytest.mark.parametrize(
    ("task_ids", "group"), [(None, None), (["extract", "load"], None), (None, "grp")]
)
def test_a_poke_is_two_queries(
    engine: Engine,
    new_services: Callable[[], Services],
    task_ids: list[str] | None,
    group: str | None,
) -> None:
    add_run(engine, LOGICAL, extract="success")
    services = new_services()
    services.get_external_states("upstream", [LOGICAL], task_ids, group)  # connects, caches
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        services.get_external_states("upstream", [LOGICAL, LOGICAL - DAY], task_ids, group)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(statements) == 2, statements


# -- the sensor ------------------------------------------------------------------------------------
def test_the_sensor_waits_for_a_task_then_succeeds(
    engine: Engine, new_services: Callable[[], Services]
) -> None:
    run_id = add_run(engine, LOGICAL, extract="running")
    services = new_services()
    services.before = lambda ask: (
        set_states(engine, run_id, extract="success") if ask == 3 else None
    )
    outcome, log = run_sensor(services, external_task_id="extract")
    assert outcome.state is TI.SUCCESS
    assert services.asks == 3
    assert "Poking for tasks ['extract'] in dag upstream on 2024-03-05T00:00:00+00:00" in log


def test_the_sensor_waits_for_the_whole_run(
    engine: Engine, new_services: Callable[[], Services]
) -> None:
    run_id = add_run(engine, LOGICAL, "running", extract="success")
    services = new_services()
    services.before = lambda ask: set_states(engine, run_id, "success") if ask == 2 else None
    assert run_sensor(services)[0].state is TI.SUCCESS
    assert services.asks == 2


def test_failed_states_fail_and_soft_fail_skips(
    engine: Engine, new_services: Callable[[], Services]
) -> None:
    add_run(engine, LOGICAL, "failed", extract="success", load="upstream_failed")
    outcome, _ = run_sensor(new_services(), failed_states=["failed"])
    assert outcome.state is TI.FAILED
    assert "The external DAG upstream failed." in (outcome.error or "")
    failed = ["failed", "upstream_failed"]
    outcome, _ = run_sensor(new_services(), external_task_ids=["load"], failed_states=failed)
    assert outcome.state is TI.FAILED
    assert "Some of the external tasks ['load'] in DAG upstream failed." in (outcome.error or "")
    outcome, log = run_sensor(new_services(), failed_states=["failed"], soft_fail=True)
    assert outcome.state is TI.SKIPPED
    assert "Skipping due to soft_fail" in log


def test_skipped_states_skip(engine: Engine, new_services: Callable[[], Services]) -> None:
    add_run(engine, LOGICAL, extract="skipped")
    outcome, log = run_sensor(
        new_services(), external_task_id="extract", skipped_states=["skipped"]
    )
    assert outcome.state is TI.SKIPPED
    assert "reached a state in our states-to-skip-on list" in log


def test_a_failed_task_is_waited_on_without_failed_states(
    engine: Engine, new_services: Callable[[], Services]
) -> None:
    add_run(engine, LOGICAL, extract="failed")
    outcome, _ = run_sensor(new_services(), external_task_id="extract", timeout=0.1)
    assert outcome.state is TI.FAILED
    assert "Sensor has timed out" in (outcome.error or "")


def test_a_task_group_is_done_when_all_its_task_instances_are(
    engine: Engine, new_services: Callable[[], Services]
) -> None:
    run_id = add_run(engine, LOGICAL, grp__a="success")  # grp.b has no state yet
    services = new_services()
    services.before = lambda ask: set_states(engine, run_id, grp__b="success") if ask == 3 else None
    outcome, log = run_sensor(services, external_task_group_id="grp")
    assert outcome.state is TI.SUCCESS
    assert services.asks == 3
    assert "Poking for task_group 'grp' in dag 'upstream'" in log
    set_states(engine, run_id, grp__b="failed")
    outcome, _ = run_sensor(new_services(), external_task_group_id="grp", failed_states=["failed"])
    assert outcome.state is TI.FAILED
    assert "The external task_group 'grp' in DAG 'upstream' failed." in (outcome.error or "")


def test_a_mapped_task_needs_every_map_index(
    engine: Engine, new_services: Callable[[], Services]
) -> None:
    run_id = add_run(engine, LOGICAL, load=["success", "running", "success"])
    services = new_services()
    services.before = lambda ask: (
        set_states(engine, run_id, load=["success"] * 3) if ask == 2 else None
    )
    assert run_sensor(services, external_task_id="load")[0].state is TI.SUCCESS
    assert services.asks == 2


def test_execution_delta_and_execution_date_fn_pick_the_runs(
    engine: Engine, new_services: Callable[[], Services]
) -> None:
    add_run(engine, LOGICAL - DAY, "success", extract="success")
    add_run(engine, LOGICAL, "running", extract="running")
    delta, _ = run_sensor(new_services(), external_task_id="extract", execution_delta=DAY)
    assert delta.state is TI.SUCCESS
    both, _ = run_sensor(
        new_services(),
        external_task_id="extract",
        execution_date_fn=lambda dt: [dt - DAY, dt],
        timeout=0.1,
    )
    assert both.state is TI.FAILED  # today's extract is still running
    assert "Sensor has timed out" in (both.error or "")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"external_dag_id": "ghost"}, "The external DAG ghost does not exist."),
        (
            {"external_task_ids": ["extract", "publish"]},
            "The external task publish in DAG upstream does not exist.",
        ),
        (
            {"external_task_group_id": "nope"},
            "The external task group 'nope' in DAG 'upstream' does not exist.",
        ),
    ],
)
def test_check_existence_fails_with_a_clear_message(
    engine: Engine, new_services: Callable[[], Services], kwargs: dict[str, Any], message: str
) -> None:
    add_run(engine, LOGICAL, "success", extract="success")
    with DAG("waiter") as dag:
        sensor = ExternalTaskSensor(
            task_id="wait",
            **{"external_dag_id": "upstream", **kwargs},
            check_existence=True,
            poke_interval=0.01,
        )
    info = DagRunInfo(dag.dag_id, "r", LOGICAL, LOGICAL, LOGICAL, LOGICAL)
    outcome = run_task_try(sensor, info, client=ServicesClient(new_services()))
    assert outcome.state is TI.FAILED
    assert message in (outcome.error or "")


def test_check_existence_refuses_a_dag_whose_file_no_longer_defines_it(
    engine: Engine, new_services: Callable[[], Services]
) -> None:
    add_run(engine, LOGICAL, "success")
    with Session(engine) as session, session.begin():
        session.execute(update(DagModel).values(is_stale=True))
    outcome, _ = run_sensor(new_services(), check_existence=True)
    assert outcome.state is TI.FAILED
    assert "The external DAG upstream was deleted." in (outcome.error or "")
    # Without check_existence, its runs still count, as in Airflow.
    assert run_sensor(new_services())[0].state is TI.SUCCESS
