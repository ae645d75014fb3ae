"""A scheduler killed with SIGKILL loses nothing: a restart settles what it left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from dbdriver import trigger_manual_run
from tradewind.dag_processing.manager import DagProcessor
from tradewind.db import migrate
from tradewind.db.models import DagRun, Job, TaskInstance
from tradewind.db.session import get_engine
from tradewind.scheduler.recovery import recover_orphans
from tradewind.states import DagRunState

SOURCE = """
from datetime import timedelta
import time
from tradewind.sdk import dag, task

@dag(schedule=None, is_paused_upon_creation=False)
def crashy():
    @task(retries=1, retry_delay=timedelta(seconds=0))
    def slow(ti=None):
        if ti.try_number == 1:
            time.sleep(60)
        return ti.try_number

    @task(retries=0)
    def fragile():
        time.sleep(60)

    slow()
    fragile()

crashy()
"""


@pytest.fixture
def setup(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Engine, Path]:
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", db_url)
    monkeypatch.setenv("TRADEWIND__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD", "1")
    from tradewind.secrets.encryption import ensure_fernet_key

    ensure_fernet_key()
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "crashy.py").write_text(textwrap.dedent(SOURCE))
    DagProcessor(folder, sessionmaker(bind=engine)).process_once()
    return engine, folder


def trigger(engine: Engine) -> str:
    return trigger_manual_run(engine, "crashy", run_id="r1")


def ti_states(engine: Engine) -> dict[str, tuple[str | None, int]]:
    with Session(engine) as session:
        return {
            t.task_id: (t.state, t.try_number)
            for t in session.execute(select(TaskInstance)).scalars()
        }


def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def test_sigkill_of_the_scheduler_mid_task_then_restart_retries_or_fails(setup) -> None:  # type: ignore[no-untyped-def]
    engine, folder = setup
    trigger(engine)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tradewind.cli.main",
            "scheduler",
            "--dags-folder",
            str(folder),
            "--workers",
            "2",
        ],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: (
                all(s == "running" for s, _ in ti_states(engine).values())
                and len(ti_states(engine)) == 2
            )
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(1.2)  # its heartbeat goes stale
    with Session(engine) as session, session.begin():
        me = Job(
            job_type="SchedulerJob",
            state="running",
            start_date=datetime.now(UTC),
            latest_heartbeat=datetime.now(UTC),
        )
        session.add(me)
        session.flush()
        result = recover_orphans(session, my_job_id=me.id, heartbeat_timeout=timedelta(seconds=1))
    assert len(result.dead_jobs) == 1
    states = ti_states(engine)
    assert states["slow"] == ("up_for_retry", 1)
    assert states["fragile"] == ("failed", 1)
    with Session(engine) as session:
        job = session.get(Job, result.dead_jobs[0])
        assert job is not None and job.state == "failed"


def test_queued_orphans_go_back_to_scheduled_with_their_try_given_back(setup) -> None:  # type: ignore[no-untyped-def]
    engine, _ = setup
    trigger(engine)
    old = datetime.now(UTC) - timedelta(minutes=5)
    with Session(engine) as session, session.begin():
        dead = Job(job_type="SchedulerJob", state="running", start_date=old, latest_heartbeat=old)
        live = Job(
            job_type="SchedulerJob",
            state="running",
            start_date=old,
            latest_heartbeat=datetime.now(UTC),
        )
        session.add_all([dead, live])
        session.flush()
        for ti in session.execute(select(TaskInstance)).scalars():
            ti.state = "queued"
            ti.try_number = 1
            ti.queued_by_job_id = dead.id if ti.task_id == "slow" else live.id
        session.execute(select(DagRun)).scalar_one().state = DagRunState.RUNNING.value
        dead_id, live_id = dead.id, live.id
    with Session(engine) as session, session.begin():
        result = recover_orphans(session, my_job_id=live_id)
    assert result.dead_jobs == [dead_id]
    assert ti_states(engine) == {"slow": ("scheduled", 0), "fragile": ("queued", 1)}


def test_orphans_of_a_resumed_deferral_keep_or_end_their_try(setup) -> None:  # type: ignore[no-untyped-def]
    """A queued resumed try continues its try (its number is not given back); a running
    one that lost its scheduler ends, and its retry starts over from ``execute``."""
    engine, _ = setup
    trigger(engine)
    old = datetime.now(UTC) - timedelta(minutes=5)
    with Session(engine) as session, session.begin():
        dead = Job(job_type="SchedulerJob", state="running", start_date=old, latest_heartbeat=old)
        session.add(dead)
        session.flush()
        for ti in session.execute(select(TaskInstance)).scalars():
            ti.state = "queued" if ti.task_id == "slow" else "running"
            ti.try_number = 1
            ti.max_tries = 1
            ti.queued_by_job_id = dead.id
            ti.last_heartbeat_at = old
            ti.next_method = "execute_complete"
            ti.next_kwargs = '{"event":true}'
        session.execute(select(DagRun)).scalar_one().state = DagRunState.RUNNING.value
    with Session(engine) as session, session.begin():
        recover_orphans(session, my_job_id=None)
    with Session(engine) as session:
        rows = {t.task_id: t for t in session.execute(select(TaskInstance)).scalars()}
        assert (rows["slow"].state, rows["slow"].try_number) == ("scheduled", 1)
        assert rows["slow"].next_method == "execute_complete"
        assert (rows["fragile"].state, rows["fragile"].try_number) == ("up_for_retry", 1)
        assert rows["fragile"].next_method is None and rows["fragile"].next_kwargs is None
