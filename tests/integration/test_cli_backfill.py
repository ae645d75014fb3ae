"""``tradewind backfill``: runs for past intervals, created in one transaction and started by
the scheduler in order within the backfill's own ``max_active_runs`` (Airflow 3's semantics),
on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import json
import shlex
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from dbdriver import SyncExecutor
from tradewind.cli import backfill as backfill_cli
from tradewind.cli.main import _load
from tradewind.dag_processing.manager import DagProcessor
from tradewind.db import migrate
from tradewind.db.models import (
    Backfill,
    BackfillDagRun,
    DagModel,
    DagRun,
    Log,
    TaskInstance,
    TaskInstanceHistory,
)
from tradewind.db.queries import dagruns
from tradewind.db.queries.dags import latest_version, load_serialized_dag
from tradewind.db.session import get_engine
from tradewind.scheduler.loop import Scheduler

DAILY = """
from datetime import datetime, timezone
from tradewind.sdk import DAG, Param
from tradewind.operators import EmptyOperator
with DAG(
    "daily",
    schedule="@daily",
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    params={"n": Param(1, type="integer", minimum=1)},
):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b", retries=2)
"""

OTHERS = """
from datetime import datetime, timezone
from tradewind.sdk import DAG
from tradewind.operators import EmptyOperator
start = datetime(2024, 1, 1, tzinfo=timezone.utc)
with DAG("unscheduled", schedule=None, start_date=start):
    EmptyOperator(task_id="a")
with DAG("past_dependent", schedule="@daily", start_date=start, catchup=False):
    EmptyOperator(task_id="a", depends_on_past=True)
"""


def cli(*argv: str) -> int:
    """``tradewind backfill ...`` through the command group's own parser and handlers; one
    argument is a command line (``cli("create daily --from 2024-01-01 ...")``)."""
    words = shlex.split(argv[0]) if len(argv) == 1 else list(argv)
    parser = argparse.ArgumentParser(prog="tradewind")
    backfill_cli.add_parsers(parser.add_subparsers(dest="group"))
    args = parser.parse_args(["backfill", *words])
    return _load(args.handler)(args)


def day(n: int, hour: int = 0) -> datetime:
    return datetime(2024, 1, n, hour, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", db_url)
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "daily.py").write_text(textwrap.dedent(DAILY))
    (folder / "others.py").write_text(textwrap.dedent(OTHERS))
    DagProcessor(folder, sessionmaker(bind=engine), paused_by_default=False).process_once()
    return engine


def count(engine: Engine, model: type, **where: object) -> int:
    with Session(engine) as s:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return int(s.execute(query).scalar_one())


def json_out(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def runs_by_date(engine: Engine, dag_id: str = "daily") -> dict[datetime, DagRun]:
    with Session(engine) as s:
        rows = s.execute(select(DagRun).where(DagRun.dag_id == dag_id)).scalars().all()
        return {r.logical_date: r for r in rows if r.logical_date is not None}


def existing_run(engine: Engine, n: int, state: str) -> str:
    """A finished (or running) scheduled run for 2024-01-n, its tasks tried once."""
    with Session(engine) as s, s.begin():
        dag = load_serialized_dag(s, "daily")
        version = latest_version(s, "daily")
        assert dag is not None and version is not None
        run = dagruns.create_dag_run(
            s,
            dag,
            run_id=f"scheduled__{day(n).isoformat()}",
            run_type="scheduled",
            run_after=day(n),
            logical_date=day(n),
            data_interval=(day(n), day(n)),
            dag_version_id=version.id,
        )
        run.state = state
        s.flush()
        for ti in dagruns.task_instances_of(s, "daily", run.run_id):
            ti.try_number = 1
            ti.state = state
        return run.run_id


def test_create_makes_queued_backfill_runs_in_one_go(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("create", "daily", "--from", "2024-01-01", "--to", "2024-01-03", "-o", "json") == 0
    rows = json_out(capsys)
    assert [(r["sort_ordinal"], r["action"], r["state"]) for r in rows] == [
        (1, "create", "queued"),
        (2, "create", "queued"),
        (3, "create", "queued"),
    ]
    # Airflow 3 reads "@daily" as a cron trigger: the run is at the logical date itself.
    assert [r["run_id"] for r in rows] == [
        "backfill__2024-01-01T00:00:00+00:00",
        "backfill__2024-01-02T00:00:00+00:00",
        "backfill__2024-01-03T00:00:00+00:00",
    ]
    backfill_id = rows[0]["backfill_id"]
    with Session(engine) as s:
        backfill = s.get(Backfill, backfill_id)
        assert backfill is not None
        assert (backfill.dag_id, backfill.max_active_runs, backfill.reprocess_behavior) == (
            "daily",
            10,
            "none",
        )
        assert (backfill.from_date, backfill.to_date) == (day(1), day(3))
        assert backfill.completed_at is None and not backfill.is_paused
        links = s.execute(select(BackfillDagRun).order_by(BackfillDagRun.sort_ordinal)).scalars()
        links = list(links)
    runs = runs_by_date(engine)
    assert sorted(runs) == [day(1), day(2), day(3)]
    for link in links:
        run = runs[link.logical_date]
        assert link.dag_run_id == run.id and link.exception_reason is None
        assert (run.state, run.run_type, run.triggered_by) == ("queued", "backfill", "backfill")
        assert run.backfill_id == backfill_id
        assert run.data_interval_start == run.data_interval_end == run.logical_date
    assert count(engine, TaskInstance) == 6
    assert count(engine, Log, event="backfill_create") == 1


def test_airflow_flag_names_backwards_order_limit_and_conf(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "create",
        "--dag-id",
        "daily",
        "--from-date",
        "2024-01-01T00:00:00+00:00",
        "--to-date",
        "2024-01-04",
        "--max-active-runs",
        "2",
        "--run-backwards",
        "--dag-run-conf",
        '{"n": 5}',
        "-o",
        "json",
    ]
    assert cli(*argv) == 0
    rows = json_out(capsys)
    assert [(r["sort_ordinal"], r["logical_date"][:10]) for r in rows] == [
        (1, "2024-01-04"),
        (2, "2024-01-03"),
        (3, "2024-01-02"),
        (4, "2024-01-01"),
    ]
    with Session(engine) as s:
        [backfill] = s.execute(select(Backfill)).scalars().all()
        assert (backfill.max_active_runs, backfill.run_backwards) == (2, True)
        assert backfill.dag_run_conf == {"n": 5}
    assert {r.conf["n"] for r in runs_by_date(engine).values()} == {5}


def test_reprocess_failed_clears_failed_runs_and_leaves_the_rest(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    ok = existing_run(engine, 1, "success")
    bad = existing_run(engine, 2, "failed")
    busy = existing_run(engine, 3, "running")
    assert (
        cli("create daily --from 2024-01-01 --to 2024-01-04 --reprocess-behavior failed -o json")
        == 0
    )
    rows = json_out(capsys)
    assert [(r["run_id"], r["action"], r["state"], r["exception_reason"]) for r in rows] == [
        (ok, "skip", "success", "already exists"),
        (bad, "clear", "queued", None),
        (busy, "skip", "running", "in flight"),
        ("backfill__2024-01-04T00:00:00+00:00", "create", "queued", None),
    ]
    backfill_id = rows[0]["backfill_id"]
    runs = runs_by_date(engine)
    assert runs[day(1)].state == "success" and runs[day(1)].backfill_id is None
    assert runs[day(3)].state == "running" and runs[day(3)].backfill_id is None
    cleared = runs[day(2)]
    assert (cleared.run_id, cleared.state, cleared.run_type, cleared.backfill_id) == (
        bad,
        "queued",
        "backfill",
        backfill_id,
    )
    assert cleared.clear_number == 1 and cleared.start_date is None and cleared.end_date is None
    with Session(engine) as s:
        tis = {t.task_id: t for t in dagruns.task_instances_of(s, "daily", bad)}
        # Every try is kept; the retries count afresh from the last try (as Airflow's clear).
        assert {t: (ti.state, ti.try_number, ti.max_tries) for t, ti in tis.items()} == {
            "a": (None, 1, 1),
            "b": (None, 1, 3),
        }
        assert count(engine, TaskInstanceHistory) == 2
        links = {
            link.logical_date: (link.dag_run_id, link.exception_reason)
            for link in s.execute(select(BackfillDagRun)).scalars()
        }
    assert links[day(1)] == (None, "already exists")
    assert links[day(2)] == (cleared.id, None)
    assert links[day(3)] == (None, "in flight")
    assert links[day(4)][0] == runs[day(4)].id


@pytest.mark.parametrize(
    ("behavior", "actions"),
    [("none", ["skip", "skip"]), ("completed", ["clear", "clear"])],
)
def test_reprocess_none_keeps_and_completed_reruns_every_finished_run(
    engine: Engine, capsys: pytest.CaptureFixture[str], behavior: str, actions: list[str]
) -> None:
    existing_run(engine, 1, "success")
    existing_run(engine, 2, "failed")
    window = "--from 2024-01-01 --to 2024-01-02"
    assert cli(f"create daily {window} --reprocess-behavior {behavior} -o json") == 0
    assert [r["action"] for r in json_out(capsys)] == actions
    states = {d.day: r.state for d, r in runs_by_date(engine).items()}
    assert states == (
        {1: "success", 2: "failed"} if behavior == "none" else {1: "queued", 2: "queued"}
    )
    if behavior == "none":  # nothing to run: the backfill is complete at once
        with Session(engine) as s:
            [backfill] = s.execute(select(Backfill)).scalars().all()
            assert backfill.completed_at is not None


def test_dry_run_prints_the_plan_and_changes_nothing(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    existing_run(engine, 2, "failed")
    assert (
        cli("create daily --from 2024-01-01 --to 2024-01-03 --reprocess-behavior failed --dry-run")
        == 0
    )
    out = capsys.readouterr().out
    assert "Dry run" in out and "Nothing changed" in out
    assert "backfill__2024-01-01T00:00:00+00:00" in out and "clear" in out
    assert count(engine, Backfill) == 0 and count(engine, DagRun) == 1
    assert runs_by_date(engine)[day(2)].state == "failed"


def test_naive_dates_are_read_in_the_default_timezone(
    engine: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWIND__CORE__DEFAULT_TIMEZONE", "Asia/Tokyo")
    # 2024-01-02 00:00 in Tokyo is 2024-01-01 15:00 UTC; the DAG's days start at UTC midnight.
    assert cli("create", "daily", "--from", "2024-01-02", "--to", "2024-01-03", "-o", "json") == 0
    assert [r["logical_date"] for r in json_out(capsys)] == ["2024-01-02T00:00:00+00:00"]
    with Session(engine) as s:
        [backfill] = s.execute(select(Backfill)).scalars().all()
        assert (backfill.from_date, backfill.to_date) == (day(1, 15), day(2, 15))


def test_bad_requests_get_a_clear_error_and_change_nothing(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    future = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    far = (datetime.now(UTC) + timedelta(days=9)).date().isoformat()
    window = ["--from", "2024-01-01", "--to", "2024-01-03"]
    cases = [
        (["create", "nope", *window], 1, "DAG 'nope' not found"),
        (["create", *window], 2, "the DAG to backfill is required"),
        (["create", "daily", "--dag-id", "other", *window], 2, "give the DAG id once"),
        (["create", "daily", "--from", "2024-01-03", "--to", "2024-01-01"], 2, "must not be after"),
        (["create", "daily", "--from", future, "--to", far], 2, "cannot be executed for future"),
        (["create", "daily", "--from", "yesterday", "--to", "2024-01-01"], 2, "not an ISO 8601"),
        (["create", "unscheduled", *window], 2, "non-periodic schedule"),
        (
            ["create", "daily", *window, "--dag-run-conf", '{"n": 0}'],
            2,
            "Invalid input for param n",
        ),
        (["create", "daily", *window, "--dag-run-conf", "{oops"], 2, "not valid JSON"),
        (["create", "daily", *window, "--dag-run-conf", "[1]"], 2, "must be a JSON object"),
        (
            [
                "create",
                "past_dependent",
                *window,
                "--reprocess-behavior",
                "failed",
                "--run-backwards",
            ],
            2,
            "cannot be run in reverse",
        ),
        (["create", "past_dependent", *window], 2, "must set reprocess behavior"),
        (
            ["create", "daily", "--from", "2024-01-01T01:00", "--to", "2024-01-01T05:00"],
            1,
            "No runs to create",
        ),
        (["pause", "99"], 1, "backfill 99 not found"),
        (["cancel", "99"], 1, "backfill 99 not found"),
    ]
    for argv, code, message in cases:
        assert cli(*argv) == code, argv
        assert message in capsys.readouterr().err, argv
    assert count(engine, Backfill) == 0
    assert count(engine, DagRun) == 0 and count(engine, TaskInstance) == 0
    with pytest.raises(SystemExit):  # argparse: --max-active-runs must be positive
        cli("create", "daily", *window, "--max-active-runs", "0")
    assert "must be at least 1" in capsys.readouterr().err


def test_one_backfill_per_dag_until_it_completes(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("create", "daily", "--from", "2024-01-01", "--to", "2024-01-01") == 0
    assert cli("create", "daily", "--from", "2024-01-05", "--to", "2024-01-06") == 1
    assert "Another backfill (1) is running for DAG 'daily'" in capsys.readouterr().err
    assert count(engine, DagRun) == 1
    with Session(engine) as s, s.begin():
        s.execute(select(DagRun)).scalar_one().state = "success"
    # Its runs are done: it is complete, and the next one may start.
    assert cli("create", "daily", "--from", "2024-01-05", "--to", "2024-01-06") == 0
    assert count(engine, DagRun) == 3


def test_list_pause_unpause_and_cancel(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    existing_run(engine, 1, "running")
    assert cli("create", "daily", "--from", "2024-01-01", "--to", "2024-01-03") == 0
    assert "Created backfill 1 of daily: 2 new run(s)" in capsys.readouterr().out
    assert cli("pause", "1") == 0
    assert "paused: True" in capsys.readouterr().out
    assert cli("list", "--dag-id", "daily", "-o", "json") == 0
    [row] = json_out(capsys)
    assert (row["id"], row["is_paused"], row["completed_at"], row["runs"]) == (
        1,
        True,
        None,
        {"queued": 2},
    )
    assert cli("unpause", "1") == 0
    assert "paused: False" in capsys.readouterr().out
    with Session(engine) as s, s.begin():
        started = runs_by_date(engine)[day(2)]
        s.get(DagRun, started.id).state = "running"  # type: ignore[union-attr]
    assert cli("cancel", "1") == 0
    assert "1 run(s) not started yet marked failed" in capsys.readouterr().out
    states = {d.day: r.state for d, r in runs_by_date(engine).items()}
    assert states == {1: "running", 2: "running", 3: "failed"}
    for verb in ("pause", "unpause", "cancel"):
        assert cli(verb, "1") == 1
        assert "already completed" in capsys.readouterr().err
    assert cli("list") == 0
    table = capsys.readouterr().out
    assert "reprocess_behavior" in table and "1 failed, 1 running" in table
    assert count(engine, Log, event="backfill_cancel") == 1


def test_the_scheduler_runs_a_backfill_in_order_within_its_max_active_runs(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    with Session(engine) as s, s.begin():
        dag_row = s.get(DagModel, "daily")
        assert dag_row is not None
        dag_row.max_active_runs = 1  # the DAG's own limit does not bind its backfill
    window = "--from 2024-01-01 --to 2024-01-05"
    assert cli(f"create daily {window} --max-active-runs 2 --run-backwards -o json") == 0
    order = {r["run_id"]: r["sort_ordinal"] for r in json_out(capsys)}
    scheduler = Scheduler(engine, SyncExecutor(engine))  # type: ignore[arg-type]
    scheduler.start()

    def states() -> dict[str, str]:
        """The backfill's runs (the scheduler also makes the DAGs' own scheduled runs)."""
        with Session(engine) as s:
            query = select(DagRun.run_id, DagRun.state).where(DagRun.backfill_id.is_not(None))
            return {run_id: state for run_id, state in s.execute(query)}

    # Paused: nothing starts.
    assert cli("pause", "1") == 0
    scheduler.run_once()
    assert set(states().values()) == {"queued"}
    assert cli("unpause", "1") == 0
    capsys.readouterr()

    first_running: dict[str, int] = {}
    most_at_once = 0
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    step = 0
    while datetime.now(UTC) < deadline:
        scheduler.run_once()
        step += 1
        now = states()
        running = [run_id for run_id, state in now.items() if state == "running"]
        most_at_once = max(most_at_once, len(running))
        for run_id in running:
            first_running.setdefault(run_id, step)
        if all(state == "success" for state in now.values()):
            break
    assert set(states().values()) == {"success"}
    assert most_at_once == 2
    # Started newest first, as sort_ordinal says (not by run_after).
    started = sorted(first_running, key=lambda run_id: (first_running[run_id], order[run_id]))
    assert [order[run_id] for run_id in started] == [1, 2, 3, 4, 5]
    assert started[0] == "backfill__2024-01-05T00:00:00+00:00"
    assert cli("list", "-o", "json") == 0
    [row] = json_out(capsys)
    assert row["completed_at"] is not None and row["runs"] == {"success": 5}


def test_deleting_the_dag_deletes_its_backfills(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    from tradewind.cli.main import main

    assert cli("create", "daily", "--from", "2024-01-01", "--to", "2024-01-02") == 0
    assert main(["dags", "delete", "daily", "--yes"]) == 0
    assert count(engine, Backfill) == 0 and count(engine, BackfillDagRun) == 0
    assert count(engine, DagRun) == 0
