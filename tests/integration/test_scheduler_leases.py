"""Leases: a scheduler heartbeats the tries its executor runs, and a running scheduler
settles, every ``scheduler.orphaned_tasks_check_interval``, what a dead one left queued or
running (not only when it starts), on SQLite and PostgreSQL."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from dbdriver import SyncExecutor, trigger_manual_run
from tradewind.dag_processing.manager import DagProcessor
from tradewind.db import migrate
from tradewind.db.models import DagRun, Job, TaskInstance
from tradewind.db.queries import dagruns
from tradewind.db.session import get_engine
from tradewind.executors.base import Event, RunningTry
from tradewind.executors.workload import ExecuteTask, TaskStartedEvent
from tradewind.scheduler.loop import Scheduler
from tradewind.scheduler.recovery import recover_orphans, refresh_heartbeats
from tradewind.states import DagRunState

SOURCE = """
from datetime import timedelta
from tradewind.sdk import dag, task

@dag(schedule=None, is_paused_upon_creation=False)
def leased():
    @task(retries=0, priority_weight=30)
    def fragile():
        return 1

    @task(retries=1, retry_delay=timedelta(seconds=0), priority_weight=20)
    def slow():
        return 2

    @task(retries=0, priority_weight=10)
    def late():
        return 3

    fragile()
    slow()
    late()

leased()
"""


class HangingExecutor:
    """Starts the first ``starts`` workloads it is handed and never finishes them; the
    others never leave the queue (a scheduler whose workers hang, or die with it)."""

    def __init__(self, starts: int) -> None:
        self.starts = starts
        self.handed: list[ExecuteTask] = []
        self.events: list[Event] = []
        self.tries: list[RunningTry] = []

    def start(self) -> None: ...

    @property
    def open_slots(self) -> int:
        return 8

    def queue_workload(self, w: ExecuteTask) -> bool:
        self.handed.append(w)
        if len(self.handed) <= self.starts:
            now = datetime.now(UTC)
            self.events.append(
                TaskStartedEvent(
                    ti_id=w.ti_id, try_number=w.try_number, start_date=now, pid=1, hostname="h"
                )
            )
            self.tries.append(RunningTry(w.ti_id, w.try_number, 1, 1, now, now))
        return True

    def get_events(self) -> list[Event]:
        events, self.events = self.events, []
        return events

    def wait_for_event(self, timeout: float | None = None) -> bool:
        return bool(self.events)

    def running(self) -> list[RunningTry]:
        return list(self.tries)

    def heartbeat(self) -> None: ...

    def end(self, timeout: float | None = None) -> None: ...


@pytest.fixture
def engine(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("TRADEWIND__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD", "1")
    monkeypatch.setenv("TRADEWIND__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL", "0.2")
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "leased.py").write_text(textwrap.dedent(SOURCE))
    DagProcessor(folder, sessionmaker(bind=engine)).process_once()
    yield engine


def trigger(engine: Engine, scheduler: Scheduler) -> str:
    return trigger_manual_run(engine, "leased", run_id="r1")


def tis(engine: Engine) -> dict[str, TaskInstance]:
    with Session(engine, expire_on_commit=False) as session:
        return {t.task_id: t for t in session.execute(select(TaskInstance)).scalars()}


def states(engine: Engine) -> dict[str, tuple[str | None, int]]:
    return {task_id: (t.state, t.try_number) for task_id, t in tis(engine).items()}


def until(condition: Callable[[], bool], step: Callable[[], object], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        step()
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def take_the_run(engine: Engine, scheduler: Scheduler) -> None:
    """``scheduler`` queues the three tasks: two start (fragile, slow), late stays queued."""
    want = {"fragile": ("running", 1), "slow": ("running", 1), "late": ("queued", 1)}
    until(lambda: states(engine) == want, scheduler.run_once, 10)


def test_a_running_scheduler_settles_what_a_dead_one_left_queued_and_running(
    engine: Engine,
) -> None:
    survivor = Scheduler(engine, SyncExecutor(engine))  # type: ignore[arg-type]
    survivor.start()
    survivor.run_once()  # running, and its start-up recovery is long done
    doomed = Scheduler(engine, HangingExecutor(starts=2))  # type: ignore[arg-type]
    doomed.start()
    trigger(engine, doomed)
    take_the_run(engine, doomed)
    # The doomed scheduler dies here: no more passes, no more heartbeats.

    def ended() -> bool:
        with Session(engine) as session:
            run = dagruns.get_run(session, "leased", "r1")
            return run is not None and run.state in ("success", "failed")

    until(ended, survivor.run_once, 15)
    # fragile died mid-try without retries; slow is retried; late never started and
    # runs as try 1 (its try number was given back).
    assert states(engine) == {
        "fragile": ("failed", 1),
        "slow": ("success", 2),
        "late": ("success", 1),
    }
    with Session(engine) as session:
        assert session.get(Job, doomed.job_id).state == "failed"  # type: ignore[union-attr]
        assert session.get(Job, survivor.job_id).state == "running"  # type: ignore[union-attr]
        run = dagruns.get_run(session, "leased", "r1")
        assert run is not None and run.state == DagRunState.FAILED.value


def test_orphans_are_looked_for_at_most_every_orphaned_tasks_check_interval(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWIND__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL", "3600")
    survivor = Scheduler(engine, HangingExecutor(starts=0))  # type: ignore[arg-type]
    survivor.start()
    survivor.run_once()
    doomed = Scheduler(engine, HangingExecutor(starts=2))  # type: ignore[arg-type]
    doomed.start()
    trigger(engine, doomed)
    take_the_run(engine, doomed)
    left = states(engine)
    deadline = time.monotonic() + 1.5  # past the threshold: the doomed one is dead
    while time.monotonic() < deadline:
        survivor.run_once()
        time.sleep(0.05)
    assert states(engine) == left
    Scheduler(engine, HangingExecutor(starts=0)).start()  # type: ignore[arg-type]
    assert states(engine)["late"] == ("scheduled", 0)


def test_the_scheduler_heartbeats_the_tries_its_executor_runs(engine: Engine) -> None:
    scheduler = Scheduler(engine, HangingExecutor(starts=2))  # type: ignore[arg-type]
    scheduler.start()
    trigger(engine, scheduler)
    take_the_run(engine, scheduler)
    before = {task_id: t.last_heartbeat_at for task_id, t in tis(engine).items()}
    assert before["late"] is None  # queued tries have no lease
    time.sleep(1.1)  # one heartbeat interval
    scheduler.run_once()
    after = {task_id: t.last_heartbeat_at for task_id, t in tis(engine).items()}
    for task_id in ("fragile", "slow"):
        assert before[task_id] is not None and after[task_id] is not None
        assert after[task_id] - before[task_id] >= timedelta(seconds=1)  # type: ignore[operator]
    assert after["late"] is None
    # Alive and heartbeating: nothing to recover, even though its job heartbeat is old.
    with Session(engine) as session, session.begin():
        result = recover_orphans(session, my_job_id=None, heartbeat_timeout=timedelta(hours=1))
    assert not (result.requeued or result.retried or result.failed)


def test_heartbeats_of_many_tries_are_one_statement(engine: Engine) -> None:
    scheduler = Scheduler(engine, HangingExecutor(starts=2))  # type: ignore[arg-type]
    scheduler.start()
    trigger(engine, scheduler)
    take_the_run(engine, scheduler)
    running = [(t.id, t.try_number) for t in tis(engine).values() if t.state == "running"]
    updates: list[str] = []

    def count(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE"):
            updates.append(statement)

    later = datetime.now(UTC) + timedelta(minutes=1)
    event.listen(engine, "before_cursor_execute", count)
    try:
        with Session(engine) as session, session.begin():
            # A stale try (try 1 of an instance now at try 2) is not refreshed.
            stale = [(running[0][0], running[0][1] + 1)]
            refresh_heartbeats(session, running + stale, later)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(updates) == 1
    assert {t.last_heartbeat_at for t in tis(engine).values() if t.state == "running"} == {later}


def test_a_dead_schedulers_try_is_settled_only_once_its_own_heartbeat_is_stale(
    engine: Engine,
) -> None:
    """A try still heartbeating (its worker outlived its scheduler) is left to finish; a
    live scheduler's stale try is left to that scheduler, whose executor sees its workers."""
    scheduler = Scheduler(engine, HangingExecutor(starts=0))  # type: ignore[arg-type]
    trigger(engine, scheduler)
    now = datetime.now(UTC)
    old = now - timedelta(minutes=5)
    with Session(engine) as session, session.begin():
        dead = Job(job_type="SchedulerJob", state="running", start_date=old, latest_heartbeat=old)
        live = Job(job_type="SchedulerJob", state="running", start_date=old, latest_heartbeat=now)
        session.add_all([dead, live])
        session.flush()
        beats = {"fragile": (dead, now), "slow": (dead, old), "late": (live, old)}
        for ti in session.execute(select(TaskInstance)).scalars():
            owner, beat = beats[ti.task_id]
            ti.state, ti.try_number, ti.queued_by_job_id = "running", 1, owner.id
            ti.start_date, ti.last_heartbeat_at = old, beat
        session.execute(select(DagRun)).scalar_one().state = DagRunState.RUNNING.value
        live_id = live.id
    with Session(engine) as session, session.begin():
        result = recover_orphans(
            session, my_job_id=live_id, now=now, heartbeat_timeout=timedelta(seconds=30)
        )
    assert states(engine) == {
        "fragile": ("running", 1),
        "slow": ("up_for_retry", 1),
        "late": ("running", 1),
    }
    assert result.touched_runs == {("leased", "r1")}
    # Once fragile's heartbeat is stale too, it is settled like any try of a dead scheduler.
    with Session(engine) as session, session.begin():
        recover_orphans(
            session,
            my_job_id=live_id,
            now=now + timedelta(seconds=31),
            heartbeat_timeout=timedelta(seconds=30),
        )
    assert states(engine)["fragile"] == ("failed", 1)
