"""A DAG on a deployment's own timetable class, from the DAG processor to scheduled runs.

The class is trusted through ``core.timetable_classes``; one that is not gets an import
error for its file, and a scheduler that meets one anyway keeps going without scheduling it.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from dbdriver import SyncExecutor
from tradewind.dag_processing.manager import DagProcessor
from tradewind.db import migrate
from tradewind.db.models import DagModel, DagRun
from tradewind.db.queries import dags as dag_queries
from tradewind.db.session import get_engine
from tradewind.scheduler import loop
from tradewind.scheduler.loop import Scheduler

SETTING = "TRADEWIND__CORE__TIMETABLE_CLASSES"

WORKDAYS = """
from datetime import datetime, timezone
from custom_timetables import AfterWorkday
from tradewind.operators import EmptyOperator
from tradewind.sdk import DAG

# Friday 5 to Wednesday 10 January 2024: four workdays' data, the weekend skipped.
with DAG("workdays", schedule=AfterWorkday(hour=2), catchup=True,
         start_date=datetime(2024, 1, 5, tzinfo=timezone.utc),
         end_date=datetime(2024, 1, 10, tzinfo=timezone.utc)):
    EmptyOperator(task_id="tick")

with DAG("plain", schedule=None):
    EmptyOperator(task_id="tock")
"""

OWN_CLASS = """
from tradewind.operators import EmptyOperator
from tradewind.sdk import DAG
from tradewind.timetables import Timetable

class Mine(Timetable):
    pass

with DAG("own_class", schedule=Mine()):
    EmptyOperator(task_id="tick")
"""


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    yield engine


def process(engine: Engine, folder: Path, **files: str) -> None:
    for name, source in files.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
    DagProcessor(folder, sessionmaker(bind=engine), paused_by_default=False).process_once()


def scheduled_runs(engine: Engine) -> list[tuple[str, str, datetime, datetime, datetime]]:
    with Session(engine) as session:
        rows = session.execute(
            select(DagRun).where(DagRun.run_type == "scheduled").order_by(DagRun.logical_date)
        ).scalars()
        return [
            (
                r.dag_id,
                r.run_id,
                r.logical_date.astimezone(UTC),
                r.data_interval_start.astimezone(UTC),
                r.data_interval_end.astimezone(UTC),
            )
            for r in rows
        ]


def test_the_scheduler_makes_runs_on_a_registered_custom_timetable(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SETTING, "custom_timetables.AfterWorkday")
    process(engine, tmp_path, workdays=WORKDAYS)
    with Session(engine) as session:
        assert dag_queries.import_errors(session) == {}
        stored = dag_queries.latest_version(session, "workdays")
        dag_row = session.get(DagModel, "workdays")
    assert stored is not None and dag_row is not None
    assert stored.data["dag"]["timetable"] == {
        "type": "custom_timetables.AfterWorkday",
        "summary": "after workday +2h",
        "description": "",
        "data": {"hour": 2},
    }
    assert dag_row.timetable_summary == "after workday +2h"

    # Every pass looks for due runs, so each pass makes the next one.
    monkeypatch.setattr(loop, "SWEEP_SECONDS", 0.0)
    scheduler = Scheduler(engine, SyncExecutor(engine))  # type: ignore[arg-type]
    scheduler.start()
    for _ in range(8):
        scheduler.run_once()
    assert scheduled_runs(engine) == [
        (
            "workdays",
            f"scheduled__{utc(2024, 1, d + 1, 2).isoformat()}",
            utc(2024, 1, d),
            utc(2024, 1, d),
            utc(2024, 1, d + 1),
        )
        for d in (5, 8, 9, 10)
    ]


def test_an_unregistered_custom_timetable_is_an_import_error_for_its_file(
    engine: Engine, tmp_path: Path
) -> None:
    process(engine, tmp_path, workdays=WORKDAYS, own_class=OWN_CLASS)
    with Session(engine) as session:
        errors = dag_queries.import_errors(session)
        stored = {d for d in ("workdays", "plain", "own_class") if session.get(DagModel, d)}
    assert errors[str(tmp_path / "workdays.py")] == (
        "DAG 'workdays' cannot be stored: timetable class 'custom_timetables.AfterWorkday' is "
        "not registered: list it in core.timetable_classes (TRADEWIND__CORE__TIMETABLE_CLASSES) "
        "for the DAG processor and the scheduler to use it"
    )
    assert "defined in a DAG file, so first move it" in errors[str(tmp_path / "own_class.py")]
    # The file's other DAG is stored; the refused ones are not.
    assert stored == {"plain"}


def test_a_scheduler_that_does_not_trust_a_stored_class_keeps_going(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    # Parsed where the class was trusted; scheduled where it is not (the settings differ).
    monkeypatch.setenv(SETTING, "custom_timetables.AfterWorkday")
    process(engine, tmp_path, workdays=WORKDAYS)
    monkeypatch.delenv(SETTING)
    scheduler = Scheduler(engine, SyncExecutor(engine))  # type: ignore[arg-type]
    scheduler.start()
    with caplog.at_level(logging.ERROR, logger="tradewind.serialization"):
        for _ in range(3):
            scheduler.run_once()
    assert scheduled_runs(engine) == []
    assert "DAG workdays will not be scheduled: timetable class" in caplog.text
    with Session(engine) as session:
        dag_row = session.get(DagModel, "workdays")
    assert dag_row is not None and dag_row.next_dagrun_create_after is None
