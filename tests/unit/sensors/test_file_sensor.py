"""FileSensor: globs, folders, connection base paths, templating, deferral, bad arguments."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tradewind.exceptions import DagDefinitionError, TaskDeferred, TradewindException
from tradewind.execution.client import InProcessClient
from tradewind.inprocess import run_dag
from tradewind.sdk import DAG, task
from tradewind.sensors import FileSensor
from tradewind.xcom.memory import MemoryXComBackend

FAST: dict[str, Any] = {"poke_interval": 0.01, "timeout": 5}
FILE_TRIGGER = "tradewind.triggers.file.FileTrigger"


class Ran:
    def __init__(self, dag: DAG, **kwargs: Any) -> None:
        self.result = run_dag(dag, client=InProcessClient(MemoryXComBackend()), **kwargs)

    def state(self) -> str | None:
        return self.result.task_states()["wait"]

    def error(self) -> str:
        return self.result.get("wait").error or ""

    def log(self) -> str:
        return "\n".join(self.result.get("wait").log)


def _dag(dag_id: str = "file_sensor", **kwargs: Any) -> DAG:
    with DAG(dag_id) as dag:
        FileSensor(task_id="wait", **{**FAST, **kwargs})
    return dag


def _later(seconds: float, action: Any) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


@pytest.fixture
def file_trigger_module() -> Any:
    return pytest.importorskip("tradewind.triggers.file", reason="FileTrigger not written yet")


def test_an_existing_file_ends_the_wait_at_once(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("a,b\n")
    ran = Ran(_dag(filepath=str(tmp_path / "in.csv")))
    assert ran.state() == "success"
    assert "Found File" in ran.log()


def test_waits_for_a_file_that_lands_later(tmp_path: Path) -> None:
    target = tmp_path / "late.csv"
    timer = _later(0.1, lambda: target.write_text("x"))
    ran = Ran(_dag(filepath=str(target)))
    timer.join()
    assert ran.state() == "success"
    assert ran.log().count("Poking for file") > 1


def test_filepath_is_a_glob(tmp_path: Path) -> None:
    (tmp_path / "part-0001.parquet").write_text("x")
    assert Ran(_dag(filepath=str(tmp_path / "part-*.parquet"))).state() == "success"


def test_double_star_needs_recursive_to_reach_deep_files(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "x.csv").write_text("x")
    pattern = str(tmp_path / "**" / "x.csv")
    shallow = Ran(_dag("shallow", filepath=pattern, timeout=0.05, soft_fail=True))
    assert shallow.state() == "skipped"
    assert Ran(_dag("deep", filepath=pattern, recursive=True)).state() == "success"


def test_a_folder_counts_only_once_it_holds_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    (folder / "nested").mkdir(parents=True)
    empty = Ran(_dag("empty", filepath=str(folder), timeout=0.05))
    assert empty.state() == "failed"
    assert "Sensor has timed out" in empty.error()
    (folder / "nested" / "done.txt").write_text("x")
    assert Ran(_dag("full", filepath=str(folder))).state() == "success"


def test_soft_fail_skips_when_nothing_arrives(tmp_path: Path) -> None:
    ran = Ran(_dag(filepath=str(tmp_path / "never"), timeout=0.05, soft_fail=True))
    assert ran.state() == "skipped"


def test_filepath_is_templated(tmp_path: Path) -> None:
    (tmp_path / "2024-05-01.csv").write_text("x")
    dag = _dag(filepath=str(tmp_path) + "/{{ ds }}.csv")
    ran = Ran(dag, logical_date=datetime(2024, 5, 1, tzinfo=UTC))
    assert ran.state() == "success"
    assert f"Poking for file {tmp_path}/2024-05-01.csv" in ran.log()


def test_filepath_may_come_from_an_upstream_task(tmp_path: Path) -> None:
    (tmp_path / "found.csv").write_text("x")
    with DAG("file_from_xcom") as dag:

        @task
        def where() -> str:
            return str(tmp_path / "found.csv")

        FileSensor(task_id="wait", filepath=where(), **FAST)
    ran = Ran(dag)
    assert ran.result.task_states() == {"where": "success", "wait": "success"}


def test_a_relative_filepath_is_joined_to_the_connections_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in.csv").write_text("x")
    conn = {"conn_type": "fs", "extra": {"path": str(tmp_path)}}
    monkeypatch.setenv("TRADEWIND_CONN_FS_LANDING", json.dumps(conn))
    ran = Ran(_dag(filepath="in.csv", fs_conn_id="fs_landing"))
    assert ran.state() == "success"
    assert f"Poking for file {tmp_path}/in.csv" in ran.log()


def test_fs_default_gives_the_base_path_when_defined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with DAG("fs_default"):
        sensor = FileSensor(task_id="wait", filepath="in.csv")
    assert sensor.path == "in.csv"  # no fs_default connection: no base path, no error
    monkeypatch.setenv("TRADEWIND_CONN_FS_DEFAULT", f"fs://?path={tmp_path}")
    assert sensor.path == f"{tmp_path}/in.csv"


def test_an_unknown_connection_other_than_fs_default_fails_the_task(tmp_path: Path) -> None:
    ran = Ran(_dag(filepath="in.csv", fs_conn_id="fs_nowhere"))
    assert ran.state() == "failed"
    assert "ConnectionNotFound" in ran.error() and "fs_nowhere" in ran.error()


def test_deferrable_defers_to_a_file_trigger_when_nothing_is_there(
    tmp_path: Path, file_trigger_module: Any
) -> None:
    with DAG("file_deferrable"):
        sensor = FileSensor(
            task_id="wait",
            filepath=str(tmp_path / "*.csv"),
            recursive=True,
            deferrable=True,
            poke_interval=7,
            timeout=120,
        )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=120)
    path, kwargs = deferred.value.trigger.serialize()
    assert path == FILE_TRIGGER
    assert kwargs == {"filepath": str(tmp_path / "*.csv"), "recursive": True, "poke_interval": 7}


def test_a_deferrable_sensor_run_end_to_end_waits_in_the_trigger(
    tmp_path: Path, file_trigger_module: Any
) -> None:
    target = tmp_path / "late.csv"
    timer = _later(0.1, lambda: target.write_text("x"))
    ran = Ran(_dag(filepath=str(target), deferrable=True))
    timer.join()
    assert ran.state() == "success"
    assert "completed successfully as" in ran.log()


def test_deferrable_does_not_defer_when_the_file_is_already_there(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("x")
    with DAG("file_deferrable_found"):
        sensor = FileSensor(task_id="wait", filepath=str(tmp_path / "in.csv"), deferrable=True)
    assert sensor.execute({}) is None


def test_execute_complete_succeeds_on_a_true_event_and_fails_otherwise() -> None:
    with DAG("file_complete"):
        sensor = FileSensor(task_id="wait", filepath="/data/in.csv", deferrable=True)
    sensor.execute_complete({}, event=True)  # resumes without error
    with pytest.raises(TradewindException, match=r"wait task failed as /data/in\.csv not found"):
        sensor.execute_complete({}, event=None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filepath": ""}, "filepath must be a non-empty string"),
        ({"filepath": 42}, "filepath must be a non-empty string"),
        ({"filepath": "x", "fs_conn_id": ""}, "fs_conn_id must be a connection id"),
        ({"filepath": "x", "recursive": "yes"}, "recursive must be True or False"),
        ({"filepath": "x", "deferrable": 1}, "deferrable must be True or False"),
    ],
)
def test_bad_arguments_are_refused_naming_the_task(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DagDefinitionError, match=f"task 'wait': {message}"), DAG("bad_file"):
        FileSensor(task_id="wait", **kwargs)
