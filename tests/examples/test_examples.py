"""The example DAGs in ``examples/dags`` run and end the way their docstrings say.

Most run in process with :func:`run_dag` and an XCom backend the test can read; a few go
through the real ``tradewind dags test`` command, as a user would run them.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tradewind.dag_processing.loader import DagBag
from tradewind.exceptions import ParamValidationError
from tradewind.execution.client import InProcessClient
from tradewind.inprocess import DagRunResult, run_dag
from tradewind.xcom.base import XComKey
from tradewind.xcom.memory import MemoryXComBackend

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "dags"

EXPECTED_DAGS = {
    "example_bash_conf",
    "example_branch",
    "example_dynamic_mapping",
    "example_fan_out_fan_in_failure",
    "example_large_data_by_reference",
    "example_large_xcom",
    "example_mapped_task_group",
    "example_parallel",
    "example_retries",
    "example_sensor_external_job",
    "example_series",
    "example_single_task",
    "example_task_group_params_templating",
    "example_taskflow_data",
    "example_waiting",
    "example_xcom_far_apart",
}


@pytest.fixture(scope="module")
def bag() -> DagBag:
    return DagBag.from_folder(EXAMPLES)


class Run:
    """One in-process run of an example, with its XCom kept for inspection."""

    def __init__(self, bag: DagBag, dag_id: str, **kwargs: Any) -> None:
        self.backend = MemoryXComBackend()
        self.result: DagRunResult = run_dag(
            bag.get_dag(dag_id), client=InProcessClient(self.backend), **kwargs
        )

    @property
    def states(self) -> dict[str, str | None]:
        return self.result.task_states()

    def log(self, key: str) -> str:
        return "\n".join(self.result.get(key).log)

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        r = self.result
        return self.backend.get(XComKey(r.dag_id, r.run_id, task_id, map_index, key))

    def mapped_values(self, task_id: str) -> list[Any]:
        r = self.result
        return [v for _, v in self.backend.get_all(r.dag_id, r.run_id, task_id, "return_value")]


def run(bag: DagBag, dag_id: str, **kwargs: Any) -> Run:
    return Run(bag, dag_id, **kwargs)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``tradewind dags test ...`` in a child process (the installed console script)."""
    script = shutil.which("tradewind", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "tradewind.cli.main"]
    return subprocess.run(
        [*command, "dags", "test", *args, "--dags-folder", str(EXAMPLES)],
        capture_output=True,
        text=True,
        timeout=30,
        env=os.environ.copy(),
    )


# -- the folder ------------------------------------------------------------------------------


def test_examples_folder_loads_without_import_errors(bag: DagBag) -> None:
    assert bag.import_errors == {}
    assert set(bag.dags) == EXPECTED_DAGS


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_each_example_file_says_what_it_shows(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring and len(docstring) > 40


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_every_example_succeeds_quickly(bag: DagBag, dag_id: str) -> None:
    started = time.monotonic()
    result = run_dag(bag.get_dag(dag_id))
    assert result.state.value == "success", result.task_states()
    assert time.monotonic() - started < 3


# -- one test per example --------------------------------------------------------------------


def test_single_task_runs_and_returns_its_value(bag: DagBag) -> None:
    r = run(bag, "example_single_task")
    assert r.states == {"say_hello": "success"}
    assert r.xcom("say_hello") == "hello"
    assert "hello from tradewind" in r.log("say_hello")


def test_series_runs_load_after_extract(bag: DagBag) -> None:
    r = run(bag, "example_series")
    assert r.states == {"extract": "success", "load": "success"}
    extract, load = r.result.get("extract"), r.result.get("load")
    assert extract.end_date and load.start_date and extract.end_date <= load.start_date
    assert r.xcom("extract") == "extracting"
    assert r.xcom("load") == 42


def test_parallel_tasks_overlap_and_join_waits_for_both(bag: DagBag) -> None:
    r = run(bag, "example_parallel")
    assert set(r.states.values()) == {"success"}
    left, right, join = (r.result.get(k) for k in ("left", "right", "join"))
    assert left.start_date and right.start_date and left.end_date and right.end_date
    assert left.start_date < right.end_date and right.start_date < left.end_date
    assert join.start_date and join.start_date >= max(left.end_date, right.end_date)


def test_taskflow_hands_return_values_to_the_next_task(bag: DagBag) -> None:
    r = run(bag, "example_taskflow_data")
    assert set(r.states.values()) == {"success"}
    assert r.xcom("extract") == [3, 1, 4, 1, 5]
    assert r.xcom("transform") == {"count": 5, "total": 14}
    assert r.xcom("transform", key="total") == 14
    assert "loaded total=14" in r.log("load")


def test_xcom_pushed_under_a_key_reaches_a_task_four_steps_later(bag: DagBag) -> None:
    r = run(bag, "example_xcom_far_apart", logical_date=datetime(2024, 5, 1, 6, tzinfo=UTC))
    assert set(r.states.values()) == {"success"}
    assert r.xcom("start_batch", key="batch_id") == "batch-20240501T060000"
    assert "published orders batch-20240501T060000" in r.log("publish")


def test_large_data_travels_by_path_and_is_cleaned_up(bag: DagBag) -> None:
    r = run(bag, "example_large_data_by_reference")
    assert r.states == {"produce": "success", "consume": "success"}
    path = Path(r.xcom("produce"))
    data_root = Path(os.environ["TRADEWIND_HOME"]).resolve() / "data"
    assert path.is_relative_to(data_root)
    # The run id's ":" and "+" never reach the file system.
    assert ":" not in str(path.relative_to(data_root)) and "+" not in path.name
    assert r.xcom("consume") == sum(i % 100 for i in range(50_000))
    assert not path.exists() and not path.parent.exists()


def test_waits_end_in_process_under_dags_test(bag: DagBag) -> None:
    r = run(bag, "example_waiting")
    assert set(r.states.values()) == {"success"}, r.states
    assert r.xcom("done") == "all waits over"
    assert "UP_FOR_RESCHEDULE" in r.log("third_poke")


def test_large_values_and_files_pass_through_xcom(bag: DagBag) -> None:
    r = run(bag, "example_large_xcom")
    assert r.states == {"orders": "success", "export": "success", "count_lines": "success"}
    assert r.xcom("count_lines") == 20_000
    assert r.xcom("export").read_text().startswith("id,customer,amount")


def test_large_data_consumer_refuses_a_path_outside_the_data_root(bag: DagBag) -> None:
    dag = bag.get_dag("example_large_data_by_reference")
    consume = dag.get_task("consume")
    with pytest.raises(ValueError, match="not under"):
        consume.python_callable("/etc/passwd")  # type: ignore[attr-defined]


def test_sensor_pokes_until_the_external_job_is_done(bag: DagBag) -> None:
    r = run(bag, "example_sensor_external_job")
    assert set(r.states.values()) == {"success"}
    poke_log = r.log("wait_for_job")
    assert "job-1: still running" in poke_log
    assert "job-1: done" in poke_log
    assert r.xcom("wait_for_job") == {"job_id": "job-1", "rows": 1234}
    assert "job job-1 produced 1234 rows" in r.log("report")
    assert not Path(r.xcom("submit_job")).exists()


def test_fan_in_survives_a_failed_branch_and_the_run_succeeds(bag: DagBag) -> None:
    r = run(bag, "example_fan_out_fan_in_failure")
    assert r.states == {
        "start": "success",
        "fetch_a": "success",
        "fetch_b": "success",
        "fetch_c": "failed",
        "merge": "success",
        "alert": "success",
        "publish": "success",
    }
    assert r.result.get("fetch_c").try_number == 1
    assert "source C is down" in r.log("fetch_c")
    assert r.xcom("merge") == [1, 2, 3]
    assert "1 source(s) missing" in r.log("merge")
    assert r.result.state.value == "success"


@pytest.mark.parametrize(
    ("load_type", "followed", "skipped"),
    [("full", "full_load", "incremental_load"), ("incremental", "incremental_load", "full_load")],
)
def test_branch_skips_the_other_path_and_the_join_still_runs(
    bag: DagBag, load_type: str, followed: str, skipped: str
) -> None:
    r = run(bag, "example_branch", conf={"load_type": load_type})
    assert r.states == {
        "choose_load": "success",
        followed: "success",
        skipped: "skipped",
        "report": "success",
    }
    assert r.result.state.value == "success"


def test_branch_rejects_an_unknown_load_type(bag: DagBag) -> None:
    with pytest.raises(ParamValidationError, match="load_type"):
        run(bag, "example_branch", conf={"load_type": "sideways"})


def test_flaky_task_succeeds_on_its_second_try(bag: DagBag) -> None:
    r = run(bag, "example_retries")
    assert r.states == {"call_flaky_api": "success", "use_response": "success"}
    flaky = r.result.get("call_flaky_api")
    assert flaky.try_number == 2
    log = r.log("call_flaky_api")
    assert "try 1 of 3" in log and "the API timed out" in log and "try 2 of 3" in log
    assert "got 200 OK" in r.log("use_response")


def test_bash_command_defaults_to_echo_hello(bag: DagBag) -> None:
    r = run(bag, "example_bash_conf")
    assert r.states == {"run_command": "success", "greet": "success"}
    assert r.xcom("run_command") == "hello"
    assert r.xcom("greet") == "hi, world"


def test_bash_name_from_conf_is_data_not_shell_code(bag: DagBag) -> None:
    r = run(bag, "example_bash_conf", conf={"name": "$(echo pwned); exit 3"})
    assert r.result.state.value == "success"
    assert r.xcom("greet") == "hi, $(echo pwned); exit 3"


def test_mapping_makes_one_copy_per_item_and_the_reduce_sums_them(bag: DagBag) -> None:
    r = run(bag, "example_dynamic_mapping")
    assert r.result.state.value == "success"
    states = r.states
    assert [k for k in states if k.startswith("count_rows[")] == [
        f"count_rows[{i}]" for i in range(4)
    ]
    assert r.mapped_values("count_rows") == [80, 150, 120, 50]  # sorted file names
    assert r.xcom("total") == 400
    assert "4 files, 400 rows in all" in r.log("total")
    assert r.mapped_values("scale") == [10, 20, 30]
    assert r.mapped_values("copy_table") == ["clean.orders", "clean.items"]
    assert "copying raw.items -> clean.items" in r.log("copy_table[1]")
    assert r.mapped_values("echo_region") == ["eu-west", "us-east"]
    assert all(state == "success" for state in states.values())
    assert len(states) == 1 + 4 + 1 + 3 + 1 + 1 + 2 + 2


def test_mapped_task_group_copies_each_chain_per_file(bag: DagBag) -> None:
    r = run(bag, "example_mapped_task_group")
    assert r.result.state.value == "success"
    states = r.states
    assert all(state == "success" for state in states.values())
    for name in ("extract", "load", "audit"):
        assert [k for k in states if k.startswith(f"process.{name}[")] == [
            f"process.{name}[{i}]" for i in range(3)
        ]
    # Copy i of ``load`` got copy i of ``extract``'s value (files in sorted order).
    assert r.mapped_values("process.load") == [80, 150, 120]
    assert r.mapped_values("process.audit") == [0, 1, 2]
    assert "auditing copy 2" in r.log("process.audit[2]")
    assert r.xcom("summarize") == 350
    assert "3 files, 350 rows in all" in r.log("summarize")
    assert r.mapped_values("convert.to_unit") == ["1 kb", "2 kb"]
    assert r.mapped_values("copy_table.copy") == ["clean.orders", "clean.items"]
    assert "copying raw.items -> clean.items" in r.log("copy_table.copy[1]")
    assert len(states) == 1 + 3 * 3 + 1 + 2 + 1 + 2


def test_task_group_ids_templates_and_macros(bag: DagBag) -> None:
    r = run(
        bag,
        "example_task_group_params_templating",
        logical_date=datetime(2024, 3, 10, tzinfo=UTC),
        conf={"days": 3, "region": "us"},
    )
    assert r.states == {
        "extract.orders": "success",
        "extract.customers": "success",
        "transform.deduplicate": "success",
        "transform.aggregate": "success",
        "window": "success",
    }
    assert r.xcom("extract.orders") == "orders for us from 2024-03-10"
    assert r.xcom("extract.customers") == "customers since 2024-03-07"
    assert r.xcom("transform.aggregate") == 150
    assert r.xcom("window") == "window 2024-03-07 .. 2024-03-10 (3 days)"


def test_task_group_param_defaults_apply_without_conf(bag: DagBag) -> None:
    r = run(
        bag, "example_task_group_params_templating", logical_date=datetime(2024, 3, 10, tzinfo=UTC)
    )
    assert r.xcom("window") == "window 2024-03-05 .. 2024-03-10 (5 days)"


@pytest.mark.parametrize("conf", [{"days": 0}, {"days": "five"}, {"region": "mars"}])
def test_invalid_params_reject_the_run_before_any_task(bag: DagBag, conf: dict[str, Any]) -> None:
    with pytest.raises(ParamValidationError):
        run(bag, "example_task_group_params_templating", conf=conf)


# -- through the real command line ------------------------------------------------------------


def test_cli_fan_out_example_exits_zero_with_the_failed_branch_in_json() -> None:
    proc = run_cli("example_fan_out_fan_in_failure", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["state"] == "success"
    assert out["tasks"]["fetch_c"] == "failed"
    assert out["tasks"]["merge"] == "success"
    assert out["tasks"]["alert"] == "success"


def test_cli_bash_example_runs_the_command_from_conf() -> None:
    proc = run_cli("example_bash_conf", "--json", "--conf", '{"cmd": "echo from-conf"}')
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["state"] == "success"
    # With --json the task logs go to stderr.
    assert "run_command | " in proc.stderr and "from-conf" in proc.stderr


def test_cli_mapping_example_reports_every_copy() -> None:
    proc = run_cli("example_dynamic_mapping", "--json")
    assert proc.returncode == 0, proc.stderr
    tasks = json.loads(proc.stdout)["tasks"]
    assert [t for t in tasks if t.startswith("count_rows")] == [
        f"count_rows[{i}]" for i in range(4)
    ]
    assert tasks["total"] == "success"


def test_cli_rejects_an_invalid_param_with_exit_code_2() -> None:
    proc = run_cli("example_task_group_params_templating", "--conf", '{"days": 0}')
    assert proc.returncode == 2
    assert "days" in proc.stderr and "minimum" in proc.stderr


# -- bugs in src found while writing the examples ---------------------------------------------


def test_src_bug_bash_operator_closes_its_output_pipe() -> None:
    """BUG in src/tradewind/operators/bash.py: ``BashOperator.execute`` reads the child's
    stdout but never closes the pipe, so every Bash task leaks a file object and, under
    ``filterwarnings = error``, the ResourceWarning at garbage collection fails whichever
    test is running then. Fix: close ``self._process.stdout`` in the ``finally`` block."""
    from tradewind.operators import BashOperator
    from tradewind.sdk import DAG

    with DAG("src_bug_bash_pipe"):
        op = BashOperator(task_id="echo", bash_command="echo hi")
    try:
        assert op.execute({}) == "hi"
        assert op._process is not None and op._process.stdout is not None
        assert op._process.stdout.closed, "BashOperator left its stdout pipe open"
    finally:
        if op._process is not None and op._process.stdout is not None:
            op._process.stdout.close()  # so this test's own leak does not fail another test
