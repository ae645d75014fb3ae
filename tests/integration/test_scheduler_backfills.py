"""The scheduler and backfills, as in Airflow 3: a backfill's runs count against the
backfill's own ``max_active_runs``, never the DAG's (so they hold back no scheduled run),
and a backfill is marked complete by the scheduler once none of its runs is queued or
running, on SQLite and PostgreSQL."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from dbdriver import SyncExecutor
from tradewind.dag_processing.manager import DagProcessor
from tradewind.db import migrate
from tradewind.db.models import Backfill, DagRun
from tradewind.db.queries import backfills
from tradewind.db.session import get_engine
from tradewind.executors.base import Event, RunningTry
from tradewind.executors.workload import ExecuteTask
from tradewind.scheduler.loop import Scheduler

DAILY = """
from datetime import datetime, timezone
from tradewind.sdk import DAG
from tradewind.operators import EmptyOperator
with DAG(
    "daily",
    schedule="@daily",
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
"""


class IdleExecutor:
    """Takes workloads and never starts them: every run stays active."""

    def start(self) -> None: ...

    @property
    def open_slots(self) -> int:
        return 8

    def queue_workload(self, w: ExecuteTask) -> bool:
        return True

    def get_events(self) -> list[Event]:
        return []

    def wait_for_event(self, timeout: float | None = None) -> bool:
        return False

    def running(self) -> list[RunningTry]:
        return []

    def heartbeat(self) -> None: ...

    def end(self, timeout: float | None = None) -> None: ...


@pytest.fixture
def engine(db_url: str, tmp_path: Path) -> Iterator[Engine]:
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "daily.py").write_text(textwrap.dedent(DAILY))
    DagProcessor(folder, sessionmaker(bind=engine), paused_by_default=False).process_once()
    yield engine


def backfill(engine: Engine, first: int, last: int, max_active_runs: int = 10) -> int:
    with Session(engine) as session, session.begin():
        created, _ = backfills.create_backfill(
            session,
            "daily",
            from_date=datetime(2024, 1, first, tzinfo=UTC),
            to_date=datetime(2024, 1, last, tzinfo=UTC),
            max_active_runs=max_active_runs,
        )
        return created.id


def runs(engine: Engine) -> dict[str, list[str]]:
    """Run states by run type."""
    found: dict[str, list[str]] = {}
    with Session(engine) as session:
        for run_type, state in session.execute(select(DagRun.run_type, DagRun.state)):
            found.setdefault(run_type, []).append(state)
    return {run_type: sorted(states) for run_type, states in found.items()}


def test_backfill_runs_do_not_hold_back_scheduled_runs_under_max_active_runs(
    engine: Engine,
) -> None:
    backfill(engine, 1, 3, max_active_runs=2)
    scheduler = Scheduler(engine, IdleExecutor())  # type: ignore[arg-type]
    scheduler.start()
    scheduler.run_once()
    # The DAG allows one active run: its scheduled run is made and starts beside the
    # backfill's, which keep to the backfill's own limit of two.
    assert runs(engine) == {
        "backfill": ["queued", "running", "running"],
        "scheduled": ["running"],
    }


def test_a_manual_run_still_holds_back_scheduled_runs_under_max_active_runs(
    engine: Engine,
) -> None:
    scheduler = Scheduler(engine, IdleExecutor())  # type: ignore[arg-type]
    scheduler.start()
    with Session(engine) as session, session.begin():
        from tradewind.db.queries import dagruns

        version, dag = scheduler.dags.latest(session, "daily")  # type: ignore[misc]
        now = datetime.now(UTC)
        dagruns.create_dag_run(
            session, dag, run_id="m1", run_type="manual", run_after=now, dag_version_id=version
        )
    scheduler.run_once()
    assert runs(engine) == {"manual": ["running"]}


def test_the_scheduler_marks_a_backfill_complete_in_the_pass_its_last_run_ends(
    engine: Engine,
) -> None:
    backfill_id = backfill(engine, 1, 2)
    scheduler = Scheduler(engine, SyncExecutor(engine))  # type: ignore[arg-type]
    scheduler.start()

    def completed_at() -> datetime | None:
        with Session(engine) as session:
            row = session.get(Backfill, backfill_id)
            assert row is not None
            return row.completed_at

    deadline = time.monotonic() + 20
    while runs(engine).get("backfill") != ["success", "success"]:
        assert time.monotonic() < deadline, runs(engine)
        assert completed_at() is None
        scheduler.run_once()
    assert completed_at() is not None
