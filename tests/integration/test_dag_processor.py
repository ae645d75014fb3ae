"""The DAG processor against real databases: a folder of DAG files kept in step with the DB."""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tradewind.dag_processing.manager import DagProcessor
from tradewind.db import migrate
from tradewind.db.models import DagCode, DagModel, ImportError_, Job, SerializedDagModel
from tradewind.db.queries import dags as q
from tradewind.db.session import get_engine

DAG_FILE = """
from tradewind.sdk import DAG
from tradewind.operators import EmptyOperator
with DAG("{dag_id}", tags={tags!r}, max_active_runs=3, default_args={{"owner": "{owner}"}}{extra}):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="{last}")
"""


def dag_source(
    dag_id: str, *, last: str = "b", tags: tuple[str, ...] = ("x",), owner: str = "ann", extra=""
) -> str:
    return textwrap.dedent(
        DAG_FILE.format(dag_id=dag_id, last=last, tags=list(tags), owner=owner, extra=extra)
    )


@pytest.fixture
def factory(db_url: str) -> Iterator[Callable[[], Session]]:
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    yield sessionmaker(bind=engine, expire_on_commit=False)


def make(folder: Path, factory: Callable[[], Session], **kwargs: object) -> DagProcessor:
    return DagProcessor(folder, factory, timeout=kwargs.pop("timeout", 10), **kwargs)  # type: ignore[arg-type]


def rows(factory: Callable[[], Session], model: type) -> list:  # type: ignore[type-arg]
    with factory() as s:
        return list(s.scalars(select(model)))


def versions(factory: Callable[[], Session], dag_id: str) -> list[int]:
    with factory() as s:
        return list(
            s.scalars(
                select(SerializedDagModel.version_number)
                .where(SerializedDagModel.dag_id == dag_id)
                .order_by(SerializedDagModel.version_number)
            )
        )


def test_the_life_of_a_dag_file(tmp_path: Path, factory: Callable[[], Session]) -> None:
    path = tmp_path / "life.py"
    path.write_text(dag_source("life", tags=("x", "y")))
    proc = make(tmp_path, factory)

    # A new DAG appears: its row (paused by default), version 1, source and tags.
    stats = proc.process_once()
    assert (stats.files, stats.dags, stats.new_dags, stats.new_versions) == (1, 1, 1, 1)
    with factory() as s:
        row = s.get(DagModel, "life")
        assert row is not None
        assert row.is_paused and not row.is_stale
        assert row.fileloc == str(path) and row.owners == "ann"
        assert row.max_active_runs == 3 and row.timetable_summary == "None"
        assert row.last_parsed_time is not None
        assert q.get_tags(s, "life") == ["x", "y"]
        code = q.get_dag_code(s, "life")
        assert code is not None and code.source_code == path.read_bytes()
        dag = q.load_serialized_dag(s, "life")
        assert dag is not None and sorted(dag.task_dict) == ["a", "b"]
    assert versions(factory, "life") == [1]

    # Unchanged: no new version.
    assert proc.process_once().new_versions == 0
    assert versions(factory, "life") == [1]

    # Changed: version 2, the latest is what readers get; tags and owners follow.
    path.write_text(dag_source("life", last="c", tags=("y", "z"), owner="bob"))
    assert proc.process_once().new_versions == 1
    assert versions(factory, "life") == [1, 2]
    with factory() as s:
        latest = q.load_serialized_dag(s, "life")
        assert latest is not None and sorted(latest.task_dict) == ["a", "c"]
        first = s.scalars(
            select(SerializedDagModel).where(SerializedDagModel.version_number == 1)
        ).one()
        old = q.load_serialized_dag(s, "life", version_id=first.id)
        assert old is not None and "b" in old.task_dict
        assert q.get_tags(s, "life") == ["y", "z"]
        assert s.get(DagModel, "life").owners == "bob"  # type: ignore[union-attr]
        code = q.get_dag_code(s, "life")
        assert code is not None and b'"c"' in code.source_code

    # Broken: an import error; the DAG keeps its last good version and stays active.
    path.write_text("# dag\nraise ValueError('oops')\n")
    stats = proc.process_once()
    assert stats.import_errors == 1
    [error] = rows(factory, ImportError_)
    assert error.filename == str(path) and "ValueError: oops" in error.stacktrace
    with factory() as s:
        assert not s.get(DagModel, "life").is_stale  # type: ignore[union-attr]
    assert versions(factory, "life") == [1, 2]

    # Fixed: the error is cleared.
    path.write_text(dag_source("life", last="c", tags=("y", "z"), owner="bob"))
    stats = proc.process_once()
    assert stats.import_errors == 0 and stats.new_versions == 0
    assert rows(factory, ImportError_) == []

    # Deleted: the DAG is stale; so is an import error of a deleted file gone.
    path.unlink()
    assert proc.process_once().stale == 1
    with factory() as s:
        assert s.get(DagModel, "life").is_stale  # type: ignore[union-attr]

    # Back again: active, same content so no new version.
    path.write_text(dag_source("life", last="c", tags=("y", "z"), owner="bob"))
    proc.process_once()
    with factory() as s:
        assert not s.get(DagModel, "life").is_stale  # type: ignore[union-attr]
    assert versions(factory, "life") == [1, 2]


def test_a_broken_file_leaves_the_other_dags_working(
    tmp_path: Path, factory: Callable[[], Session]
) -> None:
    (tmp_path / "good.py").write_text(dag_source("good"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.py").write_text("# dag\nimport no_such_module_anywhere\n")
    (tmp_path / "hang.py").write_text("# dag\nimport time\ntime.sleep(60)\n")
    stats = make(tmp_path, factory, timeout=0.3).process_once()
    assert stats.dags == 1 and stats.import_errors == 2
    errors = {e.filename: e.stacktrace for e in rows(factory, ImportError_)}
    assert "no_such_module_anywhere" in errors[str(tmp_path / "sub" / "bad.py")]
    assert "took longer than 0.3 seconds" in errors[str(tmp_path / "hang.py")]
    assert [r.dag_id for r in rows(factory, DagModel)] == ["good"]

    # A deleted broken file takes its import error with it.
    (tmp_path / "sub" / "bad.py").unlink()
    make(tmp_path, factory, timeout=0.3).process_once()
    assert [e.filename for e in rows(factory, ImportError_)] == [str(tmp_path / "hang.py")]


def test_a_dag_removed_from_its_file_becomes_stale(
    tmp_path: Path, factory: Callable[[], Session]
) -> None:
    path = tmp_path / "pair.py"
    path.write_text(dag_source("keep") + dag_source("drop"))
    proc = make(tmp_path, factory)
    proc.process_once()
    path.write_text(dag_source("keep"))
    assert proc.process_once().stale == 1
    with factory() as s:
        assert not s.get(DagModel, "keep").is_stale  # type: ignore[union-attr]
        assert s.get(DagModel, "drop").is_stale  # type: ignore[union-attr]


def test_a_dag_id_in_two_files_belongs_to_the_first_in_path_order(
    tmp_path: Path, factory: Callable[[], Session]
) -> None:
    first, second = tmp_path / "a_first.py", tmp_path / "b_second.py"
    second.write_text(dag_source("twin", last="other") + dag_source("solo"))
    proc = make(tmp_path, factory)
    proc.process_once()
    first.write_text(dag_source("twin"))
    for _ in range(2):  # whatever order the files are stored in, the result is the same
        proc.process_once()
        with factory() as s:
            assert s.get(DagModel, "twin").fileloc == str(first)  # type: ignore[union-attr]
            assert s.get(DagModel, "solo").fileloc == str(second)  # type: ignore[union-attr]
        [error] = rows(factory, ImportError_)
        assert error.filename == str(second)
        assert f"'twin' is already defined in {first}" in error.stacktrace
    with factory() as s:
        twin = q.load_serialized_dag(s, "twin")
        assert twin is not None and sorted(twin.task_dict) == ["a", "b"]


def test_paused_at_creation_follows_the_dag_then_the_config(
    tmp_path: Path, factory: Callable[[], Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.py").write_text(dag_source("explicit", extra=", is_paused_upon_creation=False"))
    (tmp_path / "b.py").write_text(dag_source("default"))
    make(tmp_path, factory).process_once()
    with factory() as s:
        assert not s.get(DagModel, "explicit").is_paused  # type: ignore[union-attr]
        assert s.get(DagModel, "default").is_paused  # type: ignore[union-attr]

    monkeypatch.setenv("TRADEWIND__CORE__DAGS_ARE_PAUSED_AT_CREATION", "false")
    (tmp_path / "c.py").write_text(dag_source("configured"))
    make(tmp_path, factory).process_once()
    with factory() as s:
        assert not s.get(DagModel, "configured").is_paused  # type: ignore[union-attr]
        # An existing DAG keeps its state.
        assert s.get(DagModel, "default").is_paused  # type: ignore[union-attr]


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_run_forever_notices_new_changed_and_deleted_files(
    tmp_path: Path, factory: Callable[[], Session]
) -> None:
    (tmp_path / "first.py").write_text(dag_source("first"))
    proc = make(tmp_path, factory, heartbeat_interval=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=proc.run_forever, args=(stop,))
    thread.start()
    try:

        def dag_row(dag_id: str) -> DagModel | None:
            with factory() as s:
                return s.get(DagModel, dag_id)

        wait_for(lambda: dag_row("first") is not None)
        started = time.monotonic()
        (tmp_path / "second.py").write_text(dag_source("second"))
        wait_for(lambda: dag_row("second") is not None)
        assert time.monotonic() - started < 5
        (tmp_path / "first.py").write_text(dag_source("first", last="z"))
        wait_for(lambda: versions(factory, "first") == [1, 2])
        (tmp_path / "second.py").unlink()
        wait_for(lambda: bool(dag_row("second") and dag_row("second").is_stale))  # type: ignore[union-attr]
        with factory() as s:
            [job] = s.scalars(select(Job)).all()
            assert job.job_type == "DagProcessorJob" and job.state == "running"
            first_beat = job.latest_heartbeat
        wait_for(lambda: rows(factory, Job)[0].latest_heartbeat > first_beat)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    [job] = rows(factory, Job)
    assert job.state == "success" and job.end_date is not None


def test_serialized_dag_cache_reads_each_version_once(
    tmp_path: Path, factory: Callable[[], Session]
) -> None:
    (tmp_path / "c.py").write_text(dag_source("cached"))
    make(tmp_path, factory).process_once()
    cache = q.SerializedDagCache(maxsize=1)
    with factory() as s:
        found = cache.latest(s, "cached")
        assert found is not None
        version_id, dag = found
        assert cache.get(s, version_id) is dag
        assert cache.latest(s, "nope") is None
        assert s.scalar(select(func.count()).select_from(DagCode)) == 1


def test_process_changes_parses_only_what_changed(
    tmp_path: Path, factory: Callable[[], Session]
) -> None:
    (tmp_path / "same.py").write_text(dag_source("same"))
    (tmp_path / "edited.py").write_text(dag_source("edited"))
    proc = make(tmp_path, factory)
    proc.process_once()
    assert proc.process_changes().files == 0
    (tmp_path / "edited.py").write_text(dag_source("edited", last="longer_name"))
    (tmp_path / "new.py").write_text(dag_source("new"))
    stats = proc.process_changes()
    assert (stats.files, stats.new_dags, stats.new_versions) == (2, 1, 2)
    assert versions(factory, "edited") == [1, 2] and versions(factory, "same") == [1]


def test_a_dag_the_database_refuses_is_an_import_error_not_a_crash(
    tmp_path: Path, factory: Callable[[], Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fine.py").write_text(dag_source("fine"))
    (tmp_path / "refused.py").write_text(dag_source("refused"))
    real = q.upsert_dag

    def picky(session: Session, dag: object, **kwargs: object) -> object:
        if getattr(dag, "dag_id", None) == "refused":
            raise ValueError("value too long")
        return real(session, dag, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(q, "upsert_dag", picky)
    stats = make(tmp_path, factory).process_once()
    assert (stats.dags, stats.import_errors) == (1, 1)
    [error] = rows(factory, ImportError_)
    assert error.filename == str(tmp_path / "refused.py")
    assert "cannot be stored: ValueError: value too long" in error.stacktrace
    assert [r.dag_id for r in rows(factory, DagModel)] == ["fine"]


def test_a_new_schedule_makes_the_scheduler_work_out_the_next_run_again(
    tmp_path: Path, factory: Callable[[], Session]
) -> None:
    from datetime import UTC, datetime

    path = tmp_path / "sched.py"
    start = ", schedule='@daily', start_date=__import__('datetime').datetime(2024, 1, 1)"
    path.write_text(dag_source("sched", extra=start))
    proc = make(tmp_path, factory)
    proc.process_once()
    due = datetime(2024, 1, 2, tzinfo=UTC)

    def set_next() -> None:
        with factory() as s, s.begin():
            row = s.get(DagModel, "sched")
            assert row is not None
            row.next_dagrun = row.next_dagrun_create_after = due

    def next_run() -> datetime | None:
        with factory() as s:
            return s.get(DagModel, "sched").next_dagrun_create_after  # type: ignore[union-attr]

    set_next()
    path.write_text(dag_source("sched", last="other", extra=start))
    proc.process_once()
    assert versions(factory, "sched") == [1, 2] and next_run() == due
    path.write_text(dag_source("sched", last="other", extra=start.replace("@daily", "@hourly")))
    proc.process_once()
    assert versions(factory, "sched") == [1, 2, 3] and next_run() is None
    with factory() as s:
        assert s.get(DagModel, "sched").timetable_summary == "0 * * * *"  # type: ignore[union-attr]
