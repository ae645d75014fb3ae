"""XCom storage in the running service, on both databases: large values spill to object
storage from the task processes, mapped copies push at once, and clearing, retrying,
deleting the DAG and ``tradewind xcom purge`` leave no stored object behind."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from dbdriver import SyncExecutor, trigger_manual_run
from tradewind import config
from tradewind.cli.main import main
from tradewind.dag_processing.loader import load_dag_file
from tradewind.db import migrate
from tradewind.db.models import XComRow
from tradewind.db.queries import dagruns
from tradewind.db.session import get_engine
from tradewind.scheduler.loop import Scheduler
from tradewind.xcom.backend import XComResult, get_backend, reset_backend
from tradewind.xcom.encryption import XComEncryptionError, generate_key_entry
from tradewind.xcom.reference import parse_ref, parse_sealed


@pytest.fixture
def engine(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", db_url)
    reset_backend()
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    yield engine
    reset_backend()


def register(engine: Engine, folder: Path, source: str) -> str:
    from tradewind.dag_processing.manager import DagProcessor

    path = folder / "dag_file.py"
    path.write_text(textwrap.dedent(source))
    DagProcessor(folder, sessionmaker(bind=engine), paused_by_default=False).process_once()
    [dag] = load_dag_file(path)
    return dag.dag_id


def run_until_done(engine: Engine, scheduler: Scheduler, dag_id: str, run_id: str) -> str:
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while datetime.now(UTC) < deadline:
        scheduler.run_once()
        with Session(engine) as session:
            run = dagruns.get_run(session, dag_id, run_id)
            assert run is not None
            if run.state in ("success", "failed"):
                return str(run.state)
    raise AssertionError("run did not finish")


def stored_objects() -> list[Path]:
    root = config.home() / "xcom"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def xcom_rows(engine: Engine) -> list[XComRow]:
    with Session(engine) as session:
        return list(session.scalars(select(XComRow)))


BIG_VALUES = """
from datetime import timedelta
from tradewind.sdk import dag, task

@dag(schedule=None)
def big_values():
    @task
    def make():
        return {"rows": list(range(20_000))}

    @task
    def part(i):
        return bytes([i]) * 200_000

    @task(retries=1, retry_delay=timedelta(seconds=0))
    def flaky(ti=None):
        if ti.try_number == 1:
            ti.xcom_push(key="partial", value=b"p" * 100_000)
            raise RuntimeError("first try fails")
        return "ok"

    @task
    def check(rows, parts, flaky_result, ti=None):
        assert rows == {"rows": list(range(20_000))}
        assert [p[:1] for p in parts] == [bytes([i]) for i in range(4)]
        assert all(len(p) == 200_000 for p in parts)
        assert ti.xcom_pull(task_ids="flaky", key="partial") is None
        return len(parts)

    check(make(), part.expand(i=[0, 1, 2, 3]), flaky())

big_values()
"""


def run_big_values(engine: Engine, folder: Path) -> str:
    """Register and run the DAG above to success, in-process; its id."""
    dag_id = register(engine, folder, BIG_VALUES)
    scheduler = Scheduler(engine, SyncExecutor(engine))  # type: ignore[arg-type]
    scheduler.start()
    run_id = trigger_manual_run(engine, dag_id)
    try:
        assert run_until_done(engine, scheduler, dag_id, run_id) == "success"
    finally:
        scheduler._close_connection()
    return dag_id


def test_large_values_spill_and_a_retry_leaves_nothing_of_its_first_try(
    engine: Engine, tmp_path: Path
) -> None:
    dag_id = run_big_values(engine, tmp_path)
    rows = xcom_rows(engine)
    refs = [parse_ref(bytes(r.value)) for r in rows]
    assert all(len(bytes(r.value)) <= 512 for r in rows)
    # make, 4 parts: in storage; flaky's "ok" and check's 4 in the rows; the first try's
    # partial value was purged when the second try was queued.
    assert sum(ref is not None for ref in refs) == 5
    assert len(stored_objects()) == 5

    assert main(["dags", "delete", dag_id, "--yes"]) == 0
    assert stored_objects() == []


def test_purge_older_than_removes_rows_their_objects_and_orphans(
    engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_big_values(engine, tmp_path)
    orphan = config.home() / "xcom" / "big_values" / "orphan-left-by-a-killed-task"
    orphan.write_bytes(b"x")
    old = (datetime.now() - timedelta(days=2)).timestamp()
    os.utime(orphan, (old, old))
    assert main(["xcom", "purge", "--older-than", "1d", "--yes"]) == 0
    assert "0 XCom value(s)" in capsys.readouterr().out  # the run's values are new
    assert not orphan.exists() and len(stored_objects()) == 5

    assert main(["xcom", "purge", "--older-than", "not-a-date", "--yes"]) == 2
    assert "--older-than" in capsys.readouterr().err
    assert main(["xcom", "purge", "--older-than", "0s", "--dry-run"]) == 0
    assert len(stored_objects()) == 5  # a dry run deletes nothing
    assert main(["xcom", "purge", "--older-than", "0s", "--yes"]) == 0
    assert xcom_rows(engine) == [] and stored_objects() == []


def test_rotate_key_reseals_rows_and_objects_under_the_new_key(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key = generate_key_entry("old")
    monkeypatch.setenv("TRADEWIND__XCOM__ENCRYPTION_KEYS", old_key)
    reset_backend()
    run_big_values(engine, tmp_path)
    before = {p.name for p in stored_objects()}

    new_key = generate_key_entry("new")
    monkeypatch.setenv("TRADEWIND__XCOM__ENCRYPTION_KEYS", f"{new_key},{old_key}")
    reset_backend()
    assert main(["xcom", "rotate-key"]) == 0
    after = {p.name for p in stored_objects()}
    assert len(after) == 5 and not (after & before)  # rewritten under new names, old ones gone

    # Without the old key every value still reads: all of them are under the new one.
    monkeypatch.setenv("TRADEWIND__XCOM__ENCRYPTION_KEYS", new_key)
    assert all(value is not None for value in read_all(engine))
    # A different key under the same id is refused, never read as garbage.
    monkeypatch.setenv("TRADEWIND__XCOM__ENCRYPTION_KEYS", generate_key_entry("new"))
    with pytest.raises(XComEncryptionError):
        read_all(engine)


def read_all(engine: Engine) -> list[object]:
    """Every stored value, through a backend made from the current settings."""
    reset_backend()
    backend = get_backend()
    values = []
    for row in xcom_rows(engine):
        text = bytes(row.value).decode()
        assert parse_ref(text) is not None or parse_sealed(text) is not None
        result = XComResult(row.dag_id, row.run_id, row.task_id, row.map_index, row.key, text)
        values.append(backend.deserialize_value(result))
    return values


LOCAL = """
from tradewind.sdk import XComFile, dag, task

@dag(schedule=None)
def local_big():
    @task
    def part(i):
        return [i] * 30_000

    @task
    def export():
        import io
        return io.BytesIO(b"line\\n" * 50_000)

    @task
    def total(parts, exported):
        assert isinstance(exported, XComFile)
        with exported.open() as stream:
            lines = sum(1 for _ in stream)
        return sum(p[0] for p in parts) + lines

    total(part.expand(i=list(range(6))), export())

local_big()
"""


def test_task_processes_write_and_read_stored_values_in_the_local_executor(
    engine: Engine, tmp_path: Path
) -> None:
    from tradewind.executors.local import LocalExecutor
    from tradewind.scheduler.worker_services import DatabaseWorkerServices

    dag_id = register(engine, tmp_path, LOCAL)
    services = DatabaseWorkerServices(engine)
    executor = LocalExecutor(services, workers=2)
    scheduler = Scheduler(engine, executor, dags_folder=str(tmp_path))
    scheduler.start()
    run_id = trigger_manual_run(engine, dag_id)
    try:
        assert run_until_done(engine, scheduler, dag_id, run_id) == "success"
    finally:
        executor.terminate()
        scheduler._close_connection()
        services.close_connection()
    with Session(engine) as session:
        total = session.scalar(select(XComRow.value).where(XComRow.task_id == "total"))
        count = session.scalar(select(func.count()).select_from(XComRow))
    assert bytes(total or b"") == str(15 + 50_000).encode()
    assert count == 8 and len(stored_objects()) == 7


class RemoteWorkersExecutor(SyncExecutor):
    runs_on_other_hosts = True


def test_a_local_xcom_folder_is_refused_when_tasks_run_on_other_hosts(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradewind.exceptions import XComError

    with pytest.raises(XComError, match=r"xcom\.objectstorage_path is a local folder"):
        Scheduler(engine, RemoteWorkersExecutor(engine))  # type: ignore[arg-type]
    monkeypatch.setenv("TRADEWIND__XCOM__OBJECTSTORAGE_PATH", "")  # nothing spills: fine
    reset_backend()
    Scheduler(engine, RemoteWorkersExecutor(engine))  # type: ignore[arg-type]
    monkeypatch.setenv("TRADEWIND__XCOM__OBJECTSTORAGE_PATH", "relative/folder")
    reset_backend()
    with pytest.raises(XComError, match=r"xcom\.objectstorage_path"):
        Scheduler(engine, SyncExecutor(engine))  # type: ignore[arg-type]


def test_deleting_a_run_removes_its_stored_values_and_nothing_of_other_runs(
    engine: Engine, tmp_path: Path
) -> None:
    from tradewind.db.queries.delete_dag import delete_dag_run
    from tradewind.db.queries.xcom_purge import purge_deleted

    dag_id = run_big_values(engine, tmp_path)
    scheduler = Scheduler(engine, SyncExecutor(engine))  # type: ignore[arg-type]
    scheduler.start()
    second = trigger_manual_run(engine, dag_id)
    try:
        assert run_until_done(engine, scheduler, dag_id, second) == "success"
    finally:
        scheduler._close_connection()
    assert len(stored_objects()) == 10
    backend = get_backend()
    with Session(engine) as session:
        counts, stored = delete_dag_run(session, dag_id, second, xcom_prefix=backend.purged_prefix)
        session.commit()
    purge_deleted(stored, backend)
    assert counts["runs"] == 1 and counts["XCom values"] == 7 and len(stored) == 5
    remaining = stored_objects()
    assert len(remaining) == 5 and all(second not in str(p) for p in remaining)
    with Session(engine) as session, pytest.raises(KeyError, match="no run"):
        delete_dag_run(session, dag_id, second)
