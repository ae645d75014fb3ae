"""Sensors in reschedule mode and deferred tasks in the service: a reschedule gives the
worker slot back and pokes again in the same try (recorded in ``task_reschedule``); a
deferred task waits in its task process until the triggerer lands."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from dbdriver import trigger_manual_run
from tradewind.db import migrate
from tradewind.db.models import TaskReschedule
from tradewind.db.queries import dagruns
from tradewind.db.session import get_engine
from tradewind.scheduler.loop import Scheduler

DAG_FILE = """
from datetime import timedelta
from tradewind.sdk import BaseOperator, dag, task
from tradewind.sensors.python import PythonSensor
from tradewind.triggers.temporal import TimeDeltaTrigger

POKES = []


class WaitThenFinish(BaseOperator):
    def execute(self, context):
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=0.05)), method_name="done")

    def done(self, context, event=None):
        return "resumed"


def third_poke(**context):
    POKES.append(1)
    return context["task_reschedule_count"] >= 2


@dag(schedule=None)
def waits_service():
    sensor = PythonSensor(
        task_id="sensor", python_callable=third_poke, mode="reschedule", poke_interval=0.02
    )
    sensor >> WaitThenFinish(task_id="deferred")

waits_service()
"""


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    yield engine


def test_a_reschedule_sensor_and_a_deferred_task_finish_in_the_service(
    engine: Engine, tmp_path: Path
) -> None:
    state, tis = run_in_service(engine, tmp_path, DAG_FILE, "waits_service", workers=2)
    assert state == "success"
    assert {k: (t.state, t.try_number) for k, t in tis.items()} == {
        "sensor": ("success", 1),
        "deferred": ("success", 1),
    }
    with Session(engine) as session:
        pokes = session.scalars(
            select(TaskReschedule).where(TaskReschedule.ti_id == tis["sensor"].id)
        ).all()
    assert [p.try_number for p in pokes] == [1, 1]  # two reschedules, then the third poke


SLOTS_DAG = """
from tradewind.sdk import dag, task
from tradewind.sensors.python import PythonSensor


@dag(schedule=None, max_active_tasks=16)
def waits_slots():
    for i in range(4):
        PythonSensor(
            task_id=f"sensor_{i}",
            python_callable=lambda: False,
            mode="reschedule",
            poke_interval=0.2,
            timeout=1.0,
        )

    @task
    def work(i):
        return i

    work.expand(i=list(range(6)))

waits_slots()
"""


def test_reschedule_sensors_give_their_slots_back_and_time_out_from_their_first_poke(
    engine: Engine, tmp_path: Path
) -> None:
    state, tis = run_in_service(engine, tmp_path, SLOTS_DAG, "waits_slots", workers=2)
    assert state == "failed"
    sensors = {k: t for k, t in tis.items() if k.startswith("sensor_")}
    work = [t for k, t in tis.items() if k.startswith("work")]
    assert {(t.state, t.try_number) for t in sensors.values()} == {("failed", 1)}
    assert all(t.state == "success" for t in work) and len(work) == 6
    # The mapped work ran while the four sensors (on two worker slots) waited.
    assert max(t.end_date for t in work) < min(t.end_date for t in sensors.values())


def run_in_service(
    engine: Engine, folder: Path, source: str, dag_id: str, workers: int
) -> tuple[str, dict[str, Any]]:
    from tradewind.dag_processing.manager import DagProcessor
    from tradewind.executors.local import LocalExecutor
    from tradewind.scheduler.worker_services import DatabaseWorkerServices

    (folder / "dag_file.py").write_text(textwrap.dedent(source))
    DagProcessor(folder, sessionmaker(bind=engine), paused_by_default=False).process_once()
    services = DatabaseWorkerServices(engine)
    executor = LocalExecutor(services, workers=workers)
    scheduler = Scheduler(engine, executor, dags_folder=str(folder))
    scheduler.start()
    run_id = trigger_manual_run(engine, dag_id)
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    state = "running"
    try:
        while datetime.now(UTC) < deadline and state not in ("success", "failed"):
            scheduler.run_once()
            with Session(engine) as session:
                run = dagruns.get_run(session, dag_id, run_id)
                assert run is not None
                state = str(run.state)
        with Session(engine) as session:
            tis = {
                (t.task_id if t.map_index < 0 else f"{t.task_id}[{t.map_index}]"): t
                for t in dagruns.task_instances_of(session, dag_id, run_id)
            }
    finally:
        executor.terminate()
        scheduler._close_connection()
        services.close_connection()
    return state, tis
