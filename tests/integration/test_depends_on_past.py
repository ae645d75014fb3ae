"""``depends_on_past`` and ``wait_for_downstream`` in the service: a task instance waits for
the same task (and, with ``wait_for_downstream``, its downstream tasks) in the previous run,
and a run waiting on its past is not a deadlock."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, delete, update
from sqlalchemy.orm import Session, sessionmaker

from dbdriver import SyncExecutor
from tradewind.dag_processing.manager import DagProcessor
from tradewind.db import migrate
from tradewind.db.models import Backfill, BackfillDagRun, DagRun, TaskInstance
from tradewind.db.queries import dagruns
from tradewind.db.queries.clear import clear_task_instances
from tradewind.db.session import get_engine
from tradewind.scheduler.loop import Scheduler
from tradewind.scheduler.past_deps import PastRuns, PreviousRun
from tradewind.scheduler.run_sync import load_past_runs
from tradewind.states import TaskInstanceState as TI

DAY1 = datetime(2024, 1, 1, tzinfo=UTC)
DAY2 = datetime(2024, 1, 2, tzinfo=UTC)
DAY3 = datetime(2024, 1, 3, tzinfo=UTC)

SOURCE = """
import os
from tradewind.sdk import dag, task

MARKER = {marker!r}

@dag(schedule=None, max_active_runs=5)
def past():
    @task({first_args})
    def first():
        if not os.path.exists(MARKER + ".first"):
            raise RuntimeError("first fails until its marker exists")

    @task
    def second():
        if not os.path.exists(MARKER + ".second"):
            raise RuntimeError("second fails until its marker exists")

    first() >> second()

past()
"""


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    yield engine


class Harness:
    def __init__(self, engine: Engine, folder: Path, first_args: str) -> None:
        self.engine = engine
        self.marker = folder / "marker"
        folder.mkdir()
        source = SOURCE.format(marker=str(self.marker), first_args=first_args)
        (folder / "past.py").write_text(textwrap.dedent(source))
        DagProcessor(folder, sessionmaker(bind=engine), paused_by_default=False).process_once()
        self.scheduler = Scheduler(engine, SyncExecutor(engine))  # type: ignore[arg-type]
        self.scheduler.start()

    def allow(self, task_id: str) -> None:
        (self.marker.parent / f"marker.{task_id}").touch()

    def trigger(self, run_id: str, logical_date: datetime, run_type: str = "manual") -> None:
        with Session(self.engine) as session, session.begin():
            version, dag = self.scheduler.dags.latest(session, "past")  # type: ignore[misc]
            dagruns.create_dag_run(
                session,
                dag,
                run_id=run_id,
                run_type=run_type,
                run_after=logical_date,
                logical_date=logical_date,
                data_interval=(logical_date, logical_date),
                dag_version_id=version,
            )

    def passes(self, n: int = 6) -> None:
        for _ in range(n):
            self.scheduler.run_once()

    def state(self, run_id: str) -> tuple[str, dict[str, str | None]]:
        with Session(self.engine) as session:
            run = dagruns.get_run(session, "past", run_id)
            assert run is not None
            tis = dagruns.task_instances_of(session, "past", run_id)
            return run.state, {t.task_id: t.state for t in tis}

    def clear(self, run_id: str, *task_ids: str) -> None:
        with Session(self.engine) as session, session.begin():
            clear_task_instances(session, "past", task_ids, run_id=run_id)


def test_a_task_waits_for_its_previous_instance_and_the_run_is_not_a_deadlock(
    engine: Engine, tmp_path: Path
) -> None:
    h = Harness(engine, tmp_path / "dags", "depends_on_past=True")
    h.allow("second")
    h.trigger("day2", DAY2)
    h.trigger("day1", DAY1)  # created later, but earlier by logical date: it is "previous"
    h.passes()
    assert h.state("day1") == ("failed", {"first": "failed", "second": "upstream_failed"})
    # day2's first waits on day1's failed first: no status, and the run keeps running.
    assert h.state("day2") == ("running", {"first": None, "second": None})

    h.allow("first")
    h.clear("day1", "first", "second")
    h.passes()
    assert h.state("day1") == ("success", {"first": "success", "second": "success"})
    assert h.state("day2") == ("success", {"first": "success", "second": "success"})


def test_wait_for_downstream_waits_for_the_previous_runs_downstream_tasks(
    engine: Engine, tmp_path: Path
) -> None:
    h = Harness(engine, tmp_path / "dags", "wait_for_downstream=True")
    h.allow("first")
    h.trigger("day1", DAY1)
    h.trigger("day2", DAY2)
    h.passes()
    assert h.state("day1") == ("failed", {"first": "success", "second": "failed"})
    assert h.state("day2") == ("running", {"first": None, "second": None})

    h.allow("second")
    h.clear("day1", "second")
    h.passes()
    assert h.state("day1")[0] == "success"
    assert h.state("day2") == ("success", {"first": "success", "second": "success"})


def test_without_depends_on_past_runs_do_not_wait_for_each_other(
    engine: Engine, tmp_path: Path
) -> None:
    h = Harness(engine, tmp_path / "dags", "")
    h.allow("second")
    h.trigger("day1", DAY1)
    h.passes(2)
    h.allow("first")
    h.trigger("day2", DAY2)
    h.passes()
    assert h.state("day1")[0] == "failed"
    assert h.state("day2")[0] == "success"


# -- what the scheduler loads about the past -------------------------------------------------------
def _set_states(engine: Engine, run_id: str, **states: str | None) -> None:
    with Session(engine) as session, session.begin():
        for task_id, state in states.items():
            session.execute(
                update(TaskInstance)
                .where(TaskInstance.run_id == run_id, TaskInstance.task_id == task_id)
                .values(state=state)
            )


def _past_of(h: Harness, run_id: str) -> PastRuns | None:
    with Session(h.engine) as session:
        run = dagruns.get_run(session, "past", run_id)
        assert run is not None
        _, dag = h.scheduler.dags.latest(session, "past")  # type: ignore[misc]
        return load_past_runs(session, run, dag)


def test_the_previous_run_is_the_latest_earlier_logical_date(
    engine: Engine, tmp_path: Path
) -> None:
    h = Harness(engine, tmp_path / "dags", "wait_for_downstream=True")
    h.trigger("day1", DAY1)
    h.trigger("day3", DAY3)
    h.trigger("day2", DAY2)
    _set_states(engine, "day2", first="success", second="running")
    assert _past_of(h, "day1") == PastRuns()
    assert _past_of(h, "day3") == PastRuns(
        previous=PreviousRun(DAY2, {"first": (TI.SUCCESS,), "second": (TI.RUNNING,)})
    )


def test_with_catchup_manual_runs_are_passed_over(engine: Engine, tmp_path: Path) -> None:
    h = Harness(engine, tmp_path / "dags", "depends_on_past=True")
    h.trigger("day1", DAY1, run_type="scheduled")
    h.trigger("day2", DAY2)  # manual
    h.trigger("day3", DAY3, run_type="scheduled")
    with Session(engine) as session:
        run = dagruns.get_run(session, "past", "day3")
        assert run is not None
        _, dag = h.scheduler.dags.latest(session, "past")  # type: ignore[misc]
        for catchup, expected in [(False, DAY2), (True, DAY1)]:
            like = SimpleNamespace(task_dict=dag.task_dict, catchup=catchup)
            past = load_past_runs(session, run, like)
            assert past is not None and past.previous is not None
            assert past.previous.logical_date == expected


def test_a_task_missing_from_the_previous_run_is_known_to_have_run_before(
    engine: Engine, tmp_path: Path
) -> None:
    h = Harness(engine, tmp_path / "dags", "depends_on_past=True")
    h.trigger("day1", DAY1)
    h.trigger("day2", DAY2)
    h.trigger("day3", DAY3)
    with Session(engine) as session, session.begin():
        session.execute(
            delete(TaskInstance).where(
                TaskInstance.run_id == "day2", TaskInstance.task_id == "first"
            )
        )
    past = _past_of(h, "day3")
    assert past is not None and past.previous is not None
    assert "first" not in past.previous.states
    assert past.ran_before == frozenset({"first"})


def test_the_first_run_of_a_backfill_has_no_past(engine: Engine, tmp_path: Path) -> None:
    h = Harness(engine, tmp_path / "dags", "depends_on_past=True")
    h.trigger("day1", DAY1)
    h.trigger("day2", DAY2, run_type="backfill")
    h.trigger("day3", DAY3, run_type="backfill")
    with Session(engine) as session, session.begin():
        backfill = Backfill(
            dag_id="past", from_date=DAY2, to_date=DAY3, created_at=DAY3 + timedelta(days=1)
        )
        session.add(backfill)
        session.flush()
        for ordinal, run_id in enumerate(["day2", "day3"], start=1):
            run = dagruns.get_run(session, "past", run_id)
            assert run is not None
            run.backfill_id = backfill.id
            session.add(
                BackfillDagRun(
                    backfill_id=backfill.id,
                    dag_run_id=run.id,
                    logical_date=run.logical_date,
                    sort_ordinal=ordinal,
                )
            )
    assert _past_of(h, "day2") == PastRuns(first_in_backfill=True)
    day3 = _past_of(h, "day3")
    assert day3 is not None and day3.previous is not None
    assert day3.previous.logical_date == DAY2


def test_a_run_without_a_logical_date_has_no_past(engine: Engine, tmp_path: Path) -> None:
    h = Harness(engine, tmp_path / "dags", "depends_on_past=True")
    h.trigger("day1", DAY1)
    with Session(engine) as session, session.begin():
        session.execute(update(DagRun).where(DagRun.run_id == "day1").values(logical_date=None))
    assert _past_of(h, "day1") == PastRuns()
