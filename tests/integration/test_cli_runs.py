"""DAG and run commands over the metadata DB, as an operator uses them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tradewind.cli.main import main
from tradewind.dag_processing.manager import DagProcessor
from tradewind.db import migrate
from tradewind.db.models import DagModel, DagRun, Log, TaskInstance, XComRow
from tradewind.db.session import get_engine

DAG_SOURCE = """
from tradewind.sdk import DAG, Param
from tradewind.operators import EmptyOperator
with DAG("ops_dag", params={"n": Param(1, type="integer", minimum=1)}):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b") >> EmptyOperator(task_id="c")
"""


@pytest.fixture
def processed(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", db_url)
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "ops.py").write_text(textwrap.dedent(DAG_SOURCE))
    DagProcessor(folder, sessionmaker(bind=engine)).process_once()
    return db_url


def count(url: str, model: type, **where: object) -> int:
    with Session(get_engine(url)) as s:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return int(s.execute(query).scalar_one())


def test_trigger_creates_a_queued_run_with_its_tasks_and_an_audit_row(
    processed: str, capsys
) -> None:
    assert (
        main(["dags", "trigger", "ops_dag", "--run-id", "r1", "-c", '{"n": 3}', "-o", "json"]) == 0
    )
    [row] = json.loads(capsys.readouterr().out)
    assert (row["dag_id"], row["run_id"], row["state"], row["run_type"]) == (
        "ops_dag",
        "r1",
        "queued",
        "manual",
    )
    assert count(processed, TaskInstance, run_id="r1") == 3
    assert count(processed, Log, event="trigger") == 1
    import getpass

    from sqlalchemy.orm import Session

    from tradewind.db.queries.dagruns import get_run
    from tradewind.db.session import get_engine

    with Session(get_engine(processed)) as session:
        run = get_run(session, "ops_dag", "r1")
        assert run is not None and run.triggering_user_name == getpass.getuser()


def test_bad_triggers_change_nothing(processed: str, capsys) -> None:
    assert main(["dags", "trigger", "ops_dag", "--run-id", "r1"]) == 0
    capsys.readouterr()
    cases = [
        (["dags", "trigger", "ops_dag", "--run-id", "r1"], 1, "already has a run with run id 'r1'"),
        (["dags", "trigger", "ops_dag", "-c", '{"n": 0}'], 2, "Invalid input for param n"),
        (["dags", "trigger", "ops_dag", "-c", "{oops"], 2, "--conf is not valid JSON"),
        (["dags", "trigger", "ops_dag", "--run-id", "../x"], 2, "invalid run_id"),
        (["dags", "trigger", "nope"], 1, "DAG 'nope' not found"),
    ]
    for argv, code, message in cases:
        assert main(argv) == code, argv
        assert message in capsys.readouterr().err
    assert count(processed, DagRun) == 1
    assert count(processed, TaskInstance) == 3


def test_list_runs_and_states_for_dag_run(processed: str, capsys) -> None:
    main(["dags", "trigger", "ops_dag", "--run-id", "first"])
    main(["dags", "trigger", "ops_dag", "--run-id", "second", "-l", "2024-01-02"])
    capsys.readouterr()
    assert main(["dags", "list-runs", "ops_dag", "-o", "json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert {r["run_id"] for r in runs} == {"first", "second"}
    assert set(runs[0]) >= {
        "dag_id",
        "run_id",
        "state",
        "run_type",
        "logical_date",
        "start_date",
        "end_date",
    }
    assert main(["dags", "list-runs", "ops_dag", "--state", "nonsense"]) == 2
    capsys.readouterr()
    assert main(["tasks", "states-for-dag-run", "ops_dag", "first", "-o", "json"]) == 0
    states = json.loads(capsys.readouterr().out)
    assert [(s["task_id"], s["state"]) for s in states] == [("a", None), ("b", None), ("c", None)]
    assert main(["tasks", "states-for-dag-run", "ops_dag", "missing"]) == 1


def test_pause_and_unpause(processed: str, capsys) -> None:
    assert main(["dags", "unpause", "ops_dag"]) == 0
    assert "paused: False" in capsys.readouterr().out
    with Session(get_engine(processed)) as s:
        assert s.get(DagModel, "ops_dag").is_paused is False  # type: ignore[union-attr]
    assert main(["dags", "pause", "ops_dag"]) == 0
    with Session(get_engine(processed)) as s:
        assert s.get(DagModel, "ops_dag").is_paused is True  # type: ignore[union-attr]


def test_clear_resets_finished_tasks_and_requeues_the_run(processed: str, capsys) -> None:
    main(["dags", "trigger", "ops_dag", "--run-id", "r1"])
    with Session(get_engine(processed)) as s, s.begin():
        for ti in s.execute(select(TaskInstance)).scalars():
            ti.state = "failed" if ti.task_id == "b" else "success"
            ti.try_number = 1
        s.execute(select(DagRun)).scalar_one().state = "failed"
    capsys.readouterr()
    assert main(["tasks", "clear", "ops_dag", "-t", "^b$", "--downstream", "--yes"]) == 0
    assert "Cleared 2 task instance(s)" in capsys.readouterr().out
    with Session(get_engine(processed)) as s:
        tis = list(s.execute(select(TaskInstance)).scalars())
        run = s.execute(select(DagRun)).scalar_one()
    states = {t.task_id: t.state for t in tis}
    assert states == {"a": "success", "b": None, "c": None}
    # A cleared instance gets its retries again on top of the tries it used (here 1 + 0).
    assert {t.task_id: t.max_tries for t in tis if t.task_id != "a"} == {"b": 1, "c": 1}
    assert run.state == "queued"
    assert main(["tasks", "clear", "ops_dag", "-t", "(unclosed", "--yes"]) == 2


def test_delete_removes_every_trace_and_asks_first(
    processed: str, capsys, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("TRADEWIND_HOME", str(tmp_path / "home"))
    main(["dags", "trigger", "ops_dag", "--run-id", "r1"])
    logs = tmp_path / "home" / "logs" / "dag_id=ops_dag" / "run_id=r1" / "task_id=a"
    logs.mkdir(parents=True)
    (logs / "attempt=1.log").write_text("hello\n")
    with Session(get_engine(processed)) as s, s.begin():
        from datetime import UTC, datetime

        s.add(
            XComRow(
                dag_id="ops_dag",
                run_id="r1",
                task_id="a",
                map_index=-1,
                key="k",
                value=b"1",
                timestamp=datetime.now(UTC),
            )
        )
    capsys.readouterr()
    assert main(["dags", "delete", "ops_dag"]) == 2  # no terminal to ask: refuses
    assert count(processed, DagModel) == 1
    assert main(["dags", "delete", "ops_dag", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "1 runs" in out and "3 task instances" in out and "1 log file(s)" in out
    for model in (DagModel, DagRun, TaskInstance, XComRow):
        assert count(processed, model) == 0, model
    assert count(processed, Log, dag_id="ops_dag") == 0
    assert not (tmp_path / "home" / "logs" / "dag_id=ops_dag").exists()


def test_times_are_printed_in_the_default_timezone(processed: str, capsys, monkeypatch) -> None:
    main(["dags", "trigger", "ops_dag", "--run-id", "tz", "-l", "2024-07-01T12:00:00+00:00"])
    capsys.readouterr()
    monkeypatch.setenv("TRADEWIND__CORE__DEFAULT_TIMEZONE", "Europe/Berlin")
    assert main(["dags", "list-runs", "ops_dag", "-o", "json"]) == 0
    [run] = json.loads(capsys.readouterr().out)
    assert run["logical_date"] == "2024-07-01T14:00:00+02:00"


def test_run_commands_start_without_the_migration_tooling(processed: str) -> None:
    # The schema check must stay a plain SELECT: Alembic (with Mako and Pygments) would cost
    # these commands more than everything else they import.
    code = textwrap.dedent(
        """
        import sys
        from tradewind.cli.main import main
        for argv in (
            ["dags", "trigger", "ops_dag", "--run-id", "light"],
            ["dags", "list-runs", "ops_dag"],
            ["tasks", "states-for-dag-run", "ops_dag", "light"],
            ["dags", "pause", "ops_dag"],
        ):
            assert main(argv) == 0, argv
        print(sorted({m.split(".")[0] for m in sys.modules} & {"alembic", "mako", "pygments"}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "[]"
    assert count(processed, DagRun, run_id="light") == 1
