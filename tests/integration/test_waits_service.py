"""Sensors in reschedule mode and deferred tasks run to the end in the service (for now
they wait inside their try's task process, holding the worker slot)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dbdriver import trigger_manual_run
from tradewind.db import migrate
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
    from tradewind.dag_processing.manager import DagProcessor
    from tradewind.executors.local import LocalExecutor
    from tradewind.scheduler.worker_services import DatabaseWorkerServices

    (tmp_path / "waits.py").write_text(textwrap.dedent(DAG_FILE))
    DagProcessor(tmp_path, sessionmaker(bind=engine), paused_by_default=False).process_once()
    services = DatabaseWorkerServices(engine)
    executor = LocalExecutor(services, workers=2)
    scheduler = Scheduler(engine, executor, dags_folder=str(tmp_path))
    scheduler.start()
    run_id = trigger_manual_run(engine, "waits_service")
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    try:
        while datetime.now(UTC) < deadline:
            scheduler.run_once()
            with Session(engine) as session:
                run = dagruns.get_run(session, "waits_service", run_id)
                assert run is not None
                if run.state in ("success", "failed"):
                    break
        with Session(engine) as session:
            tis = {
                t.task_id: t for t in dagruns.task_instances_of(session, "waits_service", run_id)
            }
    finally:
        executor.terminate()
        scheduler._close_connection()
        services.close_connection()
    assert run.state == "success"
    assert {k: (t.state, t.try_number) for k, t in tis.items()} == {
        "sensor": ("success", 1),
        "deferred": ("success", 1),
    }
