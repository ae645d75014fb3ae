"""Two schedulers on one PostgreSQL database: no task instance runs twice."""

from __future__ import annotations

import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from dbdriver import SyncExecutor
from tradewind.dag_processing.manager import DagProcessor
from tradewind.db import migrate
from tradewind.db.queries import dagruns
from tradewind.db.queries.dags import SerializedDagCache
from tradewind.db.session import get_engine
from tradewind.scheduler.loop import Scheduler

SOURCE = """
from tradewind.sdk import dag, task

@dag(schedule=None, is_paused_upon_creation=False, max_active_tasks=64)
def wide():
    @task
    def items():
        return list(range(40))

    @task
    def work(x):
        return x

    @task
    def total(xs):
        assert sorted(xs) == list(range(40))

    total(work.expand(x=items()))

wide()
"""


def test_two_schedulers_share_the_work_and_never_run_a_try_twice(
    postgres_database: str, tmp_path: Path
) -> None:
    from sqlalchemy import MetaData

    engine = get_engine(postgres_database)
    with engine.begin() as conn:
        meta = MetaData()
        meta.reflect(bind=conn)
        meta.drop_all(bind=conn)
    migrate.upgrade(engine)
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "wide.py").write_text(textwrap.dedent(SOURCE))
    DagProcessor(folder, sessionmaker(bind=engine)).process_once()
    with Session(engine) as session, session.begin():
        version, dag = SerializedDagCache().latest(session, "wide")  # type: ignore[misc]
        now = datetime.now(UTC)
        for i in range(3):
            dagruns.create_dag_run(
                session,
                dag,
                run_id=f"r{i}",
                run_type="manual",
                run_after=now,
                logical_date=now + timedelta(seconds=i),
                data_interval=(now, now),
                dag_version_id=version,
            )
    executors = [RecordingExecutor(engine), RecordingExecutor(engine)]
    schedulers = [Scheduler(engine, e) for e in executors]  # type: ignore[arg-type]
    for s in schedulers:
        s.start()
    errors: list[BaseException] = []

    def drive(s: Scheduler) -> None:
        try:
            deadline = datetime.now(UTC) + timedelta(seconds=60)
            while datetime.now(UTC) < deadline:
                s.run_once()
                with Session(engine) as session:
                    runs = dagruns.list_runs(session, "wide")
                    if all(r.state in ("success", "failed") for r in runs):
                        return
        except BaseException as err:  # pragma: no cover - surfaced below
            errors.append(err)

    threads = [threading.Thread(target=drive, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not errors, errors
    with Session(engine) as session:
        assert {r.state for r in dagruns.list_runs(session, "wide")} == {"success"}
    tries = [key for e in executors for key in e.tries]
    assert len(tries) == 3 * 42  # 3 runs x (items + 40 copies + total), once each
    assert len(set(tries)) == len(tries)


class RecordingExecutor(SyncExecutor):
    """Records every ``(ti_id, try_number)`` it is handed."""

    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        super().__init__(engine)
        self.tries: list[tuple[str, int]] = []

    def queue_workload(self, w) -> bool:  # type: ignore[no-untyped-def]
        self.tries.append(w.key)
        return super().queue_workload(w)
