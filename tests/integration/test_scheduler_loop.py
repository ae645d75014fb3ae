"""The scheduler loop drives runs to the end: schedules, queueing, events, retries.

A small in-test executor runs each workload synchronously with the real task runner, so
these tests exercise the loop's own logic; the real executors have their own tests.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, update
from sqlalchemy.orm import Session

from dbdriver import SyncExecutor, trigger_manual_run
from tradewind.dag_processing.loader import load_dag_file
from tradewind.db import migrate
from tradewind.db.models import DagModel, DagRun, Job, TaskInstance
from tradewind.db.queries import dagruns
from tradewind.db.queries import xcom as xcom_queries
from tradewind.db.session import get_engine
from tradewind.exceptions import SchedulerDeclaredDead
from tradewind.executors.base import Event
from tradewind.executors.workload import ExecuteTask, TaskOutcomeEvent, TaskStartedEvent
from tradewind.scheduler.loop import HOLD_SECONDS, Scheduler
from tradewind.states import DagRunState, TaskInstanceState
from tradewind.xcom.base import XComKey


@pytest.fixture(autouse=True)
def _close_schedulers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Give back the connections each scheduler of a test and its executor's services keep
    (most tests never stop theirs), so none is left open for the garbage collector to warn
    about."""
    started: list[Scheduler] = []
    start = Scheduler.start

    def recording_start(self: Scheduler) -> None:
        started.append(self)
        start(self)

    monkeypatch.setattr(Scheduler, "start", recording_start)
    yield
    for scheduler in started:
        scheduler._close_connection()
        services = getattr(scheduler.executor, "services", None)
        if services is not None:
            services.close_connection()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    yield engine


def register(engine: Engine, folder: Path, source: str, paused: bool = False) -> str:
    """Process a one-file DAGs folder into the DB, as the DAG processor does."""
    from sqlalchemy.orm import sessionmaker

    from tradewind.dag_processing.manager import DagProcessor

    path = folder / "dag_file.py"
    path.write_text(textwrap.dedent(source))
    DagProcessor(folder, sessionmaker(bind=engine), paused_by_default=paused).process_once()
    [dag] = load_dag_file(path)
    return dag.dag_id


def trigger(engine: Engine, scheduler: Scheduler, dag_id: str, conf: dict | None = None) -> str:
    return trigger_manual_run(engine, dag_id, conf=conf)


def run_until_done(engine: Engine, scheduler: Scheduler, dag_id: str, run_id: str) -> DagRun:
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while datetime.now(UTC) < deadline:
        scheduler.run_once()
        with Session(engine) as session:
            run = dagruns.get_run(session, dag_id, run_id)
            assert run is not None
            if run.state in ("success", "failed"):
                return run
    raise AssertionError("run did not finish")


def states(engine: Engine, dag_id: str, run_id: str) -> dict[str, str | None]:
    with Session(engine) as session:
        return {
            (t.task_id if t.map_index < 0 else f"{t.task_id}[{t.map_index}]"): t.state
            for t in dagruns.task_instances_of(session, dag_id, run_id)
        }


CHAIN = """
from datetime import timedelta
from tradewind.sdk import dag, task

@dag(schedule=None)
def loop_chain():
    @task
    def numbers():
        return [1, 2, 3]

    @task
    def double(x):
        return 2 * x

    @task(retries=1, retry_delay=timedelta(seconds=0))
    def total(xs, ti=None):
        if ti.try_number == 1:
            raise RuntimeError("first try fails")
        assert sum(xs) == 12
        return sum(xs)

    total(double.expand(x=numbers()))

loop_chain()
"""


def test_a_triggered_run_goes_to_success_with_mapping_and_a_retry(
    engine: Engine, tmp_path: Path
) -> None:
    dag_id = register(engine, tmp_path, CHAIN)
    executor = SyncExecutor(engine)
    scheduler = Scheduler(engine, executor)  # type: ignore[arg-type]
    scheduler.start()
    run_id = trigger(engine, scheduler, dag_id)
    run = run_until_done(engine, scheduler, dag_id, run_id)
    assert run.state == "success"
    assert states(engine, dag_id, run_id) == {
        "numbers": "success",
        "double[0]": "success",
        "double[1]": "success",
        "double[2]": "success",
        "total": "success",
    }
    assert executor.ran.count("total#1") == 1 and executor.ran.count("total#2") == 1


RETRY_PUSHES_LESS = """
from datetime import timedelta
from tradewind.sdk import dag, task

@dag(schedule=None)
def loop_retry_xcom():
    @task(retries=1, retry_delay=timedelta(seconds=0))
    def flaky(ti=None):
        if ti.try_number == 1:
            ti.xcom_push(key="note", value="from the failed try")
            raise RuntimeError("first try fails")

    @task
    def check(ti=None):
        assert ti.xcom_pull(task_ids="flaky", key="note") is None

    flaky() >> check()

loop_retry_xcom()
"""


def test_a_retry_starts_without_what_the_failed_try_pushed(engine: Engine, tmp_path: Path) -> None:
    dag_id = register(engine, tmp_path, RETRY_PUSHES_LESS)
    executor = SyncExecutor(engine)
    scheduler = Scheduler(engine, executor)  # type: ignore[arg-type]
    scheduler.start()
    run_id = trigger(engine, scheduler, dag_id)
    assert run_until_done(engine, scheduler, dag_id, run_id).state == "success"
    assert executor.ran == ["flaky#1", "flaky#2", "check#1"]


def test_paused_dags_do_not_run_and_max_active_runs_holds_runs_queued(
    engine: Engine, tmp_path: Path
) -> None:
    dag_id = register(
        engine,
        tmp_path,
        CHAIN.replace("schedule=None", "schedule=None, max_active_runs=1"),
        paused=True,
    )
    executor = SyncExecutor(engine)
    scheduler = Scheduler(engine, executor)  # type: ignore[arg-type]
    scheduler.start()
    first = trigger(engine, scheduler, dag_id)
    scheduler.run_once()
    assert executor.ran == []
    with Session(engine) as session, session.begin():
        session.get(DagModel, dag_id).is_paused = False  # type: ignore[union-attr]
    second = trigger(engine, scheduler, dag_id)
    scheduler.run_once()
    with Session(engine) as session:
        got = {r.run_id: r.state for r in session.execute(select(DagRun)).scalars()}
    assert got == {first: "running", second: "queued"}
    run_until_done(engine, scheduler, dag_id, first)
    assert run_until_done(engine, scheduler, dag_id, second).state == "success"


def test_a_cron_schedule_creates_scheduled_runs(engine: Engine, tmp_path: Path) -> None:
    source = """
    from datetime import datetime, timedelta, timezone
    from tradewind.operators import EmptyOperator
    from tradewind.sdk import DAG
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=3)
    with DAG("every_hour", schedule="0 * * * *", start_date=start, catchup=False):
        EmptyOperator(task_id="tick")
    """
    dag_id = register(engine, tmp_path, source)
    scheduler = Scheduler(engine, SyncExecutor(engine))  # type: ignore[arg-type]
    scheduler.start()
    for _ in range(5):
        scheduler.run_once()
    with Session(engine) as session:
        runs = session.execute(select(DagRun)).scalars().all()
        dag_model = session.get(DagModel, dag_id)
    assert len(runs) == 1
    assert runs[0].run_type == "scheduled" and runs[0].run_id.startswith("scheduled__")
    assert runs[0].state == DagRunState.SUCCESS.value
    assert dag_model is not None and dag_model.next_dagrun_create_after is not None
    assert dag_model.next_dagrun_create_after > datetime.now(UTC)


class ManualExecutor:
    """Hands workloads to the test, which reports their start and outcome when it likes."""

    def __init__(self) -> None:
        self.handed: list[ExecuteTask] = []
        self.events: list[Event] = []

    def start(self) -> None: ...

    @property
    def open_slots(self) -> int:
        return 4

    def queue_workload(self, w: ExecuteTask) -> bool:
        self.handed.append(w)
        return True

    def get_events(self) -> list[Event]:
        events, self.events = self.events, []
        return events

    def wait_for_event(self, timeout: float | None = None) -> bool:
        return bool(self.events)

    def running(self) -> list[Any]:
        return []

    def heartbeat(self) -> None: ...

    def end(self, timeout: float | None = None) -> None: ...

    def started(self, w: ExecuteTask) -> None:
        self.events.append(
            TaskStartedEvent(
                ti_id=w.ti_id,
                try_number=w.try_number,
                start_date=datetime.now(UTC),
                pid=42,
                hostname="h",
            )
        )


def finish(executor: ManualExecutor, w: ExecuteTask, **fields: Any) -> None:
    now = datetime.now(UTC)
    executor.events.append(
        TaskOutcomeEvent(
            ti_id=w.ti_id,
            try_number=w.try_number,
            dag_id=w.dag_id,
            run_id=w.run_id,
            task_id=w.task_id,
            map_index=w.map_index,
            state=TaskInstanceState.SUCCESS,
            start_date=now,
            end_date=now,
            **fields,
        )
    )


ONE_TASK = """
from tradewind.sdk import dag, task

@dag(schedule=None)
def loop_one_task():
    @task
    def work():
        return 1

    work()

loop_one_task()
"""


def ti_state(engine: Engine, ti_id: str) -> str | None:
    with Session(engine) as session:
        return session.get(TaskInstance, ti_id).state  # type: ignore[union-attr]


def test_a_start_is_written_within_the_hold_and_joins_an_outcome_that_comes_first(
    engine: Engine, tmp_path: Path
) -> None:
    dag_id = register(engine, tmp_path, ONE_TASK)
    executor = ManualExecutor()
    scheduler = Scheduler(engine, executor)  # type: ignore[arg-type]
    scheduler.start()
    trigger(engine, scheduler, dag_id)
    scheduler.run_once()
    (w,) = executor.handed
    executor.started(w)
    # A start this young waits one pass: a short try's outcome usually comes with it.
    assert scheduler.run_once() == pytest.approx(HOLD_SECONDS)
    assert ti_state(engine, w.ti_id) == "queued"
    time.sleep(HOLD_SECONDS)
    scheduler.run_once()  # a long try: now it shows as running
    assert ti_state(engine, w.ti_id) == "running"


def test_a_short_tries_start_and_outcome_are_written_together(
    engine: Engine, tmp_path: Path
) -> None:
    dag_id = register(engine, tmp_path, ONE_TASK)
    executor = ManualExecutor()
    scheduler = Scheduler(engine, executor)  # type: ignore[arg-type]
    scheduler.start()
    run_id = trigger(engine, scheduler, dag_id)
    scheduler.run_once()
    (w,) = executor.handed
    writes: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("UPDATE task_instance"):
            writes.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    executor.started(w)
    scheduler.run_once()  # the start waits
    finish(executor, w, pid=42, hostname="h")
    try:
        run_until_done(engine, scheduler, dag_id, run_id)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert ti_state(engine, w.ti_id) == "success"
    assert len(writes) == 1  # queued -> running -> success in one compare-and-set


def test_a_scheduler_declared_dead_stops_and_writes_nothing_more(
    engine: Engine, tmp_path: Path
) -> None:
    dag_id = register(engine, tmp_path, ONE_TASK)
    executor = ManualExecutor()
    scheduler = Scheduler(engine, executor)  # type: ignore[arg-type]
    scheduler.start()
    trigger(engine, scheduler, dag_id)
    with Session(engine) as session, session.begin():  # another scheduler's recovery
        session.execute(update(Job).where(Job.id == scheduler.job_id).values(state="failed"))
    with pytest.raises(SchedulerDeclaredDead, match="marked failed"):
        scheduler.run_once()
    assert executor.handed == []  # the pass that found out queued nothing


def test_stopping_records_how_the_last_tries_ended(engine: Engine, tmp_path: Path) -> None:
    dag_id = register(engine, tmp_path, ONE_TASK)
    executor = ManualExecutor()
    scheduler = Scheduler(engine, executor)  # type: ignore[arg-type]
    scheduler.start()
    run_id = trigger(engine, scheduler, dag_id)
    scheduler.run_once()
    (w,) = executor.handed
    executor.started(w)
    finish(executor, w)
    scheduler.stop()  # the try ended while the executor was finishing
    assert ti_state(engine, w.ti_id) == "success"
    with Session(engine) as session:
        run = dagruns.get_run(session, dag_id, run_id)
        job = session.get(Job, scheduler.job_id)
        assert run is not None and run.state == "success"
        assert job is not None and job.state == "success"


FAN_OUT = """
from tradewind.sdk import dag, task

@dag(schedule=None)
def loop_fan_out():
    @task
    def numbers():
        return [1, 2, 3]

    @task
    def show(x):
        return x

    show.expand(x=numbers())

loop_fan_out()
"""


def test_mapped_tries_get_the_value_they_expand_over_with_their_workload(
    engine: Engine, tmp_path: Path
) -> None:
    dag_id = register(engine, tmp_path, FAN_OUT)
    executor = ManualExecutor()
    scheduler = Scheduler(engine, executor)  # type: ignore[arg-type]
    scheduler.start()
    run_id = trigger(engine, scheduler, dag_id)
    scheduler.run_once()
    (numbers,) = executor.handed
    with Session(engine) as session, session.begin():
        xcom_queries.set_value(
            session, XComKey(dag_id, run_id, "numbers", -1, "return_value"), [1, 2, 3]
        )
    executor.started(numbers)
    finish(executor, numbers, xcom_lengths={"return_value": 3}, pushed_keys=["return_value"])
    for _ in range(3):
        scheduler.run_once()
    copies = [w for w in executor.handed if w.task_id == "show"]
    assert sorted(w.map_index for w in copies) == [0, 1, 2]
    for w in copies:
        (sent,) = w.xcom_prefetch
        assert (sent.task_id, sent.map_index, sent.key) == ("numbers", -1, "return_value")
        assert bytes(sent.value) == b"[1,2,3]"
    assert executor.handed[0].xcom_prefetch == []  # an unmapped task gets none


def test_a_start_left_for_the_next_pass_is_not_lost_when_that_pass_comes_early(
    engine: Engine, tmp_path: Path
) -> None:
    dag_id = register(engine, tmp_path, ONE_TASK)
    executor = ManualExecutor()
    scheduler = Scheduler(engine, executor)  # type: ignore[arg-type]
    scheduler.start()
    trigger(engine, scheduler, dag_id)
    scheduler.run_once()
    (w,) = executor.handed
    executor.started(w)
    schedule_runs = scheduler._schedule_running_runs

    def held_elsewhere(*args: Any) -> None:  # a run another scheduler holds: come back soon
        schedule_runs(*args)
        scheduler._dirty.add((dag_id, "held-by-another-scheduler"))

    scheduler._schedule_running_runs = held_elsewhere  # type: ignore[method-assign]
    assert scheduler.run_once() == pytest.approx(0.01)  # the young start waits
    scheduler._schedule_running_runs = schedule_runs  # type: ignore[method-assign]
    scheduler._dirty.clear()
    time.sleep(HOLD_SECONDS)
    scheduler.run_once()
    assert ti_state(engine, w.ti_id) == "running"
