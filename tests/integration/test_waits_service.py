"""Sensors in reschedule mode and deferred tasks in the service: a reschedule gives the
worker slot back and pokes again in the same try (recorded in ``task_reschedule``); a
deferred task leaves its worker, waits in the triggerer, and resumes in the same try."""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from dbdriver import trigger_manual_run
from tradewind.db import migrate
from tradewind.db.models import TaskInstance, TaskReschedule, Trigger
from tradewind.db.queries import dagruns
from tradewind.db.session import get_engine
from tradewind.scheduler.loop import Scheduler
from tradewind.triggerer.service import TriggererService

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
    # As in Airflow, a task that resumed after a deferral keeps the start of its try: its
    # duration covers the wait (the 0.05 s trigger at least).
    deferred = tis["deferred"]
    assert deferred.start_date is not None and deferred.end_date is not None
    assert deferred.duration >= 0.05
    assert deferred.end_date - deferred.start_date >= timedelta(seconds=0.05)
    # Deleting the DAG leaves no reschedule record and no trigger behind.
    from tradewind.db.queries.delete_dag import delete_dag
    from tradewind.db.queries.triggers import create

    with Session(engine) as session, session.begin():
        waiting = session.get(TaskInstance, tis["deferred"].id)
        assert waiting is not None
        waiting.trigger_id = create(session, "x.Y", "{}", datetime.now(UTC))
    with Session(engine) as session, session.begin():
        delete_dag(session, "waits_service")
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(TaskReschedule)) == 0
        assert session.scalar(select(func.count()).select_from(Trigger)) == 0


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
    engine: Engine, folder: Path, source: str, dag_id: str, workers: int, inline: bool = False
) -> tuple[str, dict[str, Any]]:
    from tradewind.dag_processing.manager import DagProcessor
    from tradewind.executors.inline import InlineExecutor
    from tradewind.executors.local import LocalExecutor
    from tradewind.scheduler.worker_services import DatabaseWorkerServices

    (folder / "dag_file.py").write_text(textwrap.dedent(source))
    DagProcessor(folder, sessionmaker(bind=engine), paused_by_default=False).process_once()
    services = DatabaseWorkerServices(engine)
    executor: Any = InlineExecutor(services) if inline else LocalExecutor(services, workers=workers)
    scheduler = Scheduler(engine, executor, dags_folder=str(folder))
    scheduler.start()
    stop_triggerer = threading.Event()
    triggerer = TriggererService(engine)
    thread = threading.Thread(target=triggerer.run, args=(stop_triggerer,), daemon=True)
    thread.start()
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
        stop_triggerer.set()
        thread.join(10)
        executor.terminate()
        scheduler._close_connection()
        services.close_connection()
    return state, tis


FAILURES_DAG = """
from datetime import UTC, datetime, timedelta
from tradewind.sdk import BaseOperator, dag
from tradewind.triggers.callable import CallableTrigger
from tradewind.triggers.temporal import DateTimeTrigger


class Defer(BaseOperator):
    def __init__(self, trigger_kind, **kwargs):
        super().__init__(**kwargs)
        self.trigger_kind = trigger_kind

    def execute(self, context):
        if self.trigger_kind == "raises":
            trigger = CallableTrigger("json.loads", {"s": "not json"}, poke_interval=0.01)
            self.defer(trigger=trigger, method_name="done")
        far = datetime.now(UTC) + timedelta(days=1)
        self.defer(
            trigger=DateTimeTrigger(far), method_name="done", timeout=timedelta(seconds=0.3)
        )

    def done(self, context, event=None):
        return event


@dag(schedule=None)
def waits_failures():
    Defer(task_id="raises", trigger_kind="raises")
    Defer(task_id="times_out", trigger_kind="times_out")

waits_failures()
"""


def test_a_trigger_that_raises_or_times_out_fails_its_task_with_the_reason(
    engine: Engine, tmp_path: Path
) -> None:
    from tradewind.task_logs.paths import logs_folder

    state, tis = run_in_service(engine, tmp_path, FAILURES_DAG, "waits_failures", workers=2)
    assert state == "failed"
    assert {k: (t.state, t.try_number) for k, t in tis.items()} == {
        "raises": ("failed", 1),
        "times_out": ("failed", 1),
    }
    logs = {
        task: "\n".join(p.read_text() for p in logs_folder().rglob(f"task_id={task}/*.log"))
        for task in tis
    }
    assert "Trigger failure" in logs["raises"] and "JSONDecodeError" in logs["raises"]
    assert "Trigger/execution timeout" in logs["times_out"]
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Trigger)) == 0


MANY_DAG = """
from datetime import timedelta
from tradewind.sdk import BaseOperator, dag, task
from tradewind.triggers.temporal import TimeDeltaTrigger


class Wait(BaseOperator):
    def __init__(self, seconds, **kwargs):
        super().__init__(**kwargs)
        self.seconds = seconds

    def execute(self, context):
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=self.seconds)), method_name="done")

    def done(self, context, event=None):
        return self.seconds


@dag(schedule=None, max_active_tasks=64)
def waits_many():
    for i in range(20):
        Wait(task_id=f"wait_{i}", seconds=1.0)

waits_many()
"""


def test_two_triggerers_share_the_triggers_and_a_stopped_one_hands_them_over(
    engine: Engine, tmp_path: Path
) -> None:
    from tradewind.dag_processing.manager import DagProcessor
    from tradewind.executors.local import LocalExecutor
    from tradewind.scheduler.worker_services import DatabaseWorkerServices

    (tmp_path / "dag_file.py").write_text(textwrap.dedent(MANY_DAG))
    DagProcessor(tmp_path, sessionmaker(bind=engine), paused_by_default=False).process_once()
    services = DatabaseWorkerServices(engine)
    executor = LocalExecutor(services, workers=2)
    scheduler = Scheduler(engine, executor, dags_folder=str(tmp_path))
    scheduler.start()
    first, second = TriggererService(engine, capacity=12), TriggererService(engine, capacity=12)
    first.start()
    second.start()
    run_id = trigger_manual_run(engine, "waits_many")
    try:
        deadline = time.monotonic() + 30
        deferred = 0
        while deferred < 20 and time.monotonic() < deadline:
            scheduler.run_once()
            deferred = _count_in(engine, "waits_many", "deferred")
        first.run_once()
        second.run_once()
        # Neither can run all twenty: each took its share, none twice.
        assert 8 <= len(first.runner.running_ids()) <= 12
        assert len(first.runner.running_ids()) + len(second.runner.running_ids()) == 20
        assert not first.runner.running_ids() & second.runner.running_ids()
        first.stop()  # gives its triggers back: the other takes what it has room for
        second.capacity = 20
        state = "running"
        while state not in ("success", "failed") and time.monotonic() < deadline:
            second.run_once()
            scheduler.run_once()
            with Session(engine) as session:
                run = dagruns.get_run(session, "waits_many", run_id)
                state = str(run.state) if run else "missing"
            time.sleep(0.02)
    finally:
        second.stop()
        executor.terminate()
        scheduler._close_connection()
        services.close_connection()
    assert state == "success"
    assert _count_in(engine, "waits_many", "success") == 20


def _count_in(engine: Engine, dag_id: str, state: str) -> int:
    with Session(engine) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(TaskInstance)
                .where(TaskInstance.dag_id == dag_id, TaskInstance.state == state)
            )
            or 0
        )


END_DAG = """
from datetime import timedelta
from tradewind.sdk import BaseOperator, dag, task
from tradewind.sensors.time import TimeDeltaSensor
from tradewind.triggers.callable import CallableTrigger
from tradewind.triggers.temporal import TimeDeltaTrigger


class EndsInTriggerer(BaseOperator):
    def execute(self, context):
        trigger = TimeDeltaTrigger(timedelta(seconds=0.05), end_from_trigger=True)
        self.defer(trigger=trigger, method_name="never_called")

    def never_called(self, context, event=None):
        raise RuntimeError("a task its trigger ended must not resume in a worker")


@dag(schedule=None)
def waits_end_from_trigger():
    @task
    def after():
        return "downstream ran"

    EndsInTriggerer(task_id="ends") >> after()

waits_end_from_trigger()
"""


def test_a_trigger_can_end_its_task_without_a_worker(engine: Engine, tmp_path: Path) -> None:
    from tradewind.task_logs.paths import logs_folder

    state, tis = run_in_service(engine, tmp_path, END_DAG, "waits_end_from_trigger", workers=1)
    assert state == "success"
    assert {k: (t.state, t.try_number) for k, t in tis.items()} == {
        "ends": ("success", 1),
        "after": ("success", 1),
    }
    log = "\n".join(p.read_text() for p in logs_folder().rglob("task_id=ends/*.log"))
    assert log.count("Starting ends") == 1  # it deferred, and never ran again
    # Its try started in the worker: the start and the whole duration are recorded.
    ends = tis["ends"]
    assert ends.start_date is not None and ends.duration is not None
    assert ends.end_date - ends.start_date >= timedelta(seconds=0.05)


def test_a_dead_triggerers_triggers_are_claimed_by_another(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradewind.db.queries import triggers as trigger_queries

    monkeypatch.setenv("TRADEWIND__TRIGGERER__HEALTH_CHECK_THRESHOLD", "0.3")
    with Session(engine) as session, session.begin():
        for _ in range(3):
            trigger_queries.create(
                session,
                "tradewind.triggers.temporal.DateTimeTrigger",
                '{"moment":{"__tw__":"datetime","v":"2099-01-01T00:00:00+00:00"}}',
                datetime.now(UTC),
            )
    crashed, survivor = TriggererService(engine), TriggererService(engine)
    crashed.start()
    crashed.run_once()
    assert len(crashed.runner.running_ids()) == 3
    crashed.runner.stop()  # the process dies: no release, its heartbeat goes stale
    survivor.start()
    try:
        survivor.run_once()
        assert survivor.runner.running_ids() == set()  # not yet: the other may be alive
        time.sleep(0.4)
        survivor.run_once()
        assert len(survivor.runner.running_ids()) == 3
    finally:
        survivor.stop()


def test_the_inline_executor_resumes_deferred_tasks_and_pokes_sensors_too(
    engine: Engine, tmp_path: Path
) -> None:
    state, tis = run_in_service(engine, tmp_path, DAG_FILE, "waits_service", 1, inline=True)
    assert state == "success"
    assert {k: (t.state, t.try_number) for k, t in tis.items()} == {
        "sensor": ("success", 1),
        "deferred": ("success", 1),
    }


START_DAG = """
from datetime import UTC, datetime, timedelta
from tradewind.sdk import BaseOperator, dag, task
from tradewind.sensors.time import DateTimeSensorAsync
from tradewind.triggers.base import StartTriggerArgs


class StartsInTriggerer(BaseOperator):
    start_from_trigger = True
    start_trigger_args = StartTriggerArgs(
        trigger_cls="tradewind.triggers.temporal.TimeDeltaTrigger",
        trigger_kwargs={"delta": timedelta(seconds=0.05)},
        next_method="resume",
        next_kwargs={"note": "from the start trigger"},
    )

    def execute(self, context):
        raise RuntimeError("a task that starts from its trigger must not run execute")

    def resume(self, context, event=None, note=None):
        return note


class FailsOnceAfterItsTrigger(StartsInTriggerer):
    def resume(self, context, event=None, note=None):
        if context["ti"].try_number == 1:
            raise RuntimeError("the first try fails after its trigger")
        return "second try"


@dag(schedule=None)
def waits_start_from_trigger():
    @task
    def after(value):
        assert value == "from the start trigger"

    after(StartsInTriggerer(task_id="starts").output)
    StartsInTriggerer.partial(task_id="mapped").expand(retries=[0, 0, 0])
    DateTimeSensorAsync(
        task_id="past_moment", target_time=datetime(2020, 1, 1, tzinfo=UTC),
        start_from_trigger=True, end_from_trigger=True,
    )
    # Retried at once: the failed try and its retry are written in one pass.
    FailsOnceAfterItsTrigger(task_id="retried", retries=1, retry_delay=timedelta(0))

waits_start_from_trigger()
"""


def test_a_task_can_start_waiting_in_the_triggerer_without_a_first_worker_try(
    engine: Engine, tmp_path: Path
) -> None:
    from tradewind.task_logs.paths import logs_folder

    state, tis = run_in_service(engine, tmp_path, START_DAG, "waits_start_from_trigger", workers=1)
    assert state == "success"
    assert {k: (t.state, t.try_number) for k, t in tis.items()} == {
        "starts": ("success", 1),
        "after": ("success", 1),
        "mapped[0]": ("success", 1),
        "mapped[1]": ("success", 1),
        "mapped[2]": ("success", 1),
        "past_moment": ("success", 1),
        "retried": ("success", 2),
    }
    # One worker try each for those that resume, none at all for the one ended by its trigger.
    logs = {p.parent.name: p.read_text() for p in logs_folder().rglob("task_id=starts/*.log")}
    assert sum(text.count("Starting starts") for text in logs.values()) == 1
    assert not list(logs_folder().rglob("task_id=past_moment/*.log"))
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Trigger)) == 0


def test_start_trigger_args_that_cannot_be_built_fail_at_parse_time() -> None:
    from tradewind.exceptions import DagDefinitionError
    from tradewind.sdk import DAG, BaseOperator
    from tradewind.serialization.dag_json import serialize_dag
    from tradewind.triggers.base import StartTriggerArgs

    class Broken(BaseOperator):
        start_from_trigger = True
        start_trigger_args = StartTriggerArgs(
            trigger_cls="tradewind.triggers.temporal.TimeDeltaTrigger",
            trigger_kwargs={"no_such_argument": 1},
            next_method="resume",
        )

    with DAG("broken_start", schedule=None) as dag:
        Broken(task_id="t")
    with pytest.raises(DagDefinitionError, match="start_trigger_args"):
        serialize_dag(dag)


def test_dags_test_starts_such_tasks_from_their_trigger_in_process(tmp_path: Path) -> None:
    from tradewind.cli.main import main

    (tmp_path / "start.py").write_text(textwrap.dedent(START_DAG))
    assert main(["dags", "test", "waits_start_from_trigger", "--dags-folder", str(tmp_path)]) == 0
