"""The ``tradewind`` command line as a user drives it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tradewind.cli.main import main

CHAIN_DAG = """
from tradewind.sdk import dag, task

@dag(schedule=None)
def chain_ok():
    @task
    def one():
        print("one says hi")
        return 1

    @task
    def double(x):
        return x * 2

    double(one())

chain_ok()
"""

FAILING_DAG = """
from tradewind.sdk import DAG
from tradewind.operators import PythonOperator

def boom():
    raise RuntimeError("kaboom")

with DAG("fails"):
    PythonOperator(task_id="boom", python_callable=boom)
"""

PARAM_DAG = """
from tradewind.sdk import DAG, Param
from tradewind.operators import BashOperator

with DAG("with_params", params={"n": Param(3, type="integer", minimum=1)}):
    BashOperator(
        task_id="echo",
        bash_command="echo n={{ params.n }} cmd={{ dag_run.conf.get('x', '') }}",
    )
"""


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture
def dags(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    folder.mkdir()
    write(folder, "chain.py", CHAIN_DAG)
    write(folder, "fails.py", FAILING_DAG)
    write(folder, "params.py", PARAM_DAG)
    return folder


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradewind.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3] / "src")},
    )


def test_dags_test_prints_logs_and_states_and_exits_0_on_success(dags: Path, capsys) -> None:
    code = main(["dags", "test", "chain_ok", "--dags-folder", str(dags)])
    out = capsys.readouterr().out
    assert code == 0
    assert "one | " in out and "one says hi" in out
    assert "double | state: success" in out
    assert "chain_ok: success" in out


def test_dags_test_exits_1_when_the_run_fails(dags: Path, capsys) -> None:
    code = main(["dags", "test", "fails", "--dags-folder", str(dags)])
    out = capsys.readouterr().out
    assert code == 1
    assert "kaboom" in out
    assert "boom | state: failed" in out


def test_dags_test_json_prints_one_object_on_stdout(dags: Path) -> None:
    proc = run_cli("dags", "test", "chain_ok", "--dags-folder", str(dags), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["dag_id"] == "chain_ok"
    assert result["state"] == "success"
    assert result["run_id"].startswith("manual__")
    assert result["tasks"] == {"one": "success", "double": "success"}
    assert "one says hi" in proc.stderr


def test_dags_test_passes_conf_to_templates(dags: Path, capsys) -> None:
    code = main(
        ["dags", "test", "with_params", "--dags-folder", str(dags), "--conf", '{"x": "hello"}']
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "n=3 cmd=hello" in out


def test_conf_overrides_params_and_is_validated(dags: Path, capsys) -> None:
    assert main(["dags", "test", "with_params", "-S", str(dags), "-c", '{"n": 7}']) == 0
    assert "n=7" in capsys.readouterr().out
    code = main(["dags", "test", "with_params", "-S", str(dags), "-c", '{"n": 0}'])
    err = capsys.readouterr().err
    assert code == 2
    assert "Invalid input for param n" in err and "minimum of 1" in err


@pytest.mark.parametrize(
    ("conf", "message"),
    [("{not json", "--conf is not valid JSON"), ("[1, 2]", "must be a JSON object")],
)
def test_malformed_conf_is_a_usage_error(dags: Path, capsys, conf: str, message: str) -> None:
    assert main(["dags", "test", "chain_ok", "-S", str(dags), "--conf", conf]) == 2
    assert message in capsys.readouterr().err


def test_bad_logical_date_is_a_usage_error(dags: Path, capsys) -> None:
    assert main(["dags", "test", "chain_ok", "-S", str(dags), "--logical-date", "yesterday"]) == 2
    assert "not an ISO 8601" in capsys.readouterr().err


def test_logical_date_reaches_templates(tmp_path: Path, capsys) -> None:
    write(
        tmp_path,
        "ds.py",
        """
        from tradewind.sdk import DAG
        from tradewind.operators import BashOperator
        with DAG("ds_dag"):
            BashOperator(task_id="show", bash_command="echo ds={{ ds }} ts={{ ts }}")
        """,
    )
    assert main(["dags", "test", "ds_dag", "2024-02-29", "-S", str(tmp_path)]) == 0
    assert "ds=2024-02-29 ts=2024-02-29T00:00:00+00:00" in capsys.readouterr().out


def test_unknown_dag_is_a_usage_error_listing_available_ones(dags: Path, capsys) -> None:
    assert main(["dags", "test", "nope", "--dags-folder", str(dags)]) == 2
    err = capsys.readouterr().err
    assert "DAG 'nope' not found" in err
    assert "chain_ok" in err


def test_broken_file_is_reported_and_other_dags_still_work(dags: Path, capsys) -> None:
    write(dags, "broken.py", "from tradewind.sdk import DAG\nraise ValueError('bad dag file')\n")
    assert main(["dags", "test", "chain_ok", "-S", str(dags)]) == 0
    capsys.readouterr()
    assert main(["dags", "test", "from_broken", "-S", str(dags)]) == 2
    err = capsys.readouterr().err
    assert "broken.py" in err and "bad dag file" in err


def test_cyclic_dag_is_an_import_error_naming_the_cycle(tmp_path: Path, capsys) -> None:
    write(
        tmp_path,
        "cycle.py",
        """
        from tradewind.sdk import DAG
        from tradewind.operators import EmptyOperator
        dag = DAG("cyclic")
        a = EmptyOperator(task_id="a", dag=dag)
        b = EmptyOperator(task_id="b", dag=dag)
        c = EmptyOperator(task_id="c", dag=dag)
        a >> b >> c >> a
        """,
    )
    assert main(["dags", "list-import-errors", "-S", str(tmp_path), "-o", "json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1
    assert "cycle" in rows[0]["error"] and "a >> b >> c >> a" in rows[0]["error"]


def test_missing_dags_folder_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert main(["dags", "list", "-S", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["table", "json", "yaml", "plain"])
def test_dags_list_in_every_output_format(dags: Path, capsys, fmt: str) -> None:
    assert main(["dags", "list", "-S", str(dags), "-o", fmt]) == 0
    out = capsys.readouterr().out
    for dag_id in ("chain_ok", "fails", "with_params"):
        assert dag_id in out
    if fmt == "json":
        assert {row["dag_id"] for row in json.loads(out)} == {"chain_ok", "fails", "with_params"}


def test_dags_show_text_and_mermaid(dags: Path, capsys) -> None:
    assert main(["dags", "show", "chain_ok", "-S", str(dags)]) == 0
    text = capsys.readouterr().out
    assert "one (" in text and ">> double" in text
    assert main(["dags", "show", "chain_ok", "-S", str(dags), "--mermaid"]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("flowchart LR")
    assert "one --> double" in mermaid


def test_tasks_test_runs_one_task_ignoring_upstream(dags: Path, capsys) -> None:
    assert main(["tasks", "test", "chain_ok", "double", "-S", str(dags)]) == 1
    out = capsys.readouterr().out  # x is None: None * 2 fails, as in Airflow
    assert "TypeError" in out
    assert main(["tasks", "test", "chain_ok", "one", "-S", str(dags), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "success"


def test_tasks_test_unknown_task_is_a_usage_error(dags: Path, capsys) -> None:
    assert main(["tasks", "test", "chain_ok", "nope", "-S", str(dags)]) == 2
    assert "task 'nope' not found" in capsys.readouterr().err


def test_dags_folder_defaults_to_tradewind_home(dags: Path, monkeypatch, capsys) -> None:
    home = dags.parent
    monkeypatch.setenv("TRADEWIND_HOME", str(home))
    assert main(["dags", "list", "-o", "plain"]) == 0
    assert "chain_ok" in capsys.readouterr().out


def test_dags_folder_falls_back_to_cwd_dags(dags: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(dags.parent)
    assert main(["dags", "list", "-o", "plain"]) == 0
    assert "chain_ok" in capsys.readouterr().out


def test_help_and_usage_errors(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "dags" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["dags", "test"])
    assert exc.value.code == 2
    assert main([]) == 2


def test_importing_the_cli_stays_light() -> None:
    code = (
        "import sys, tradewind.cli.main as m; m.build_parser();"
        "heavy = {'jinja2', 'jsonschema', 'croniter', 'sqlalchemy', 'fastapi', 'celery',"
        " 'tradewind.sdk'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
