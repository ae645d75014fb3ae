"""``BashOperator`` and ``@task.bash``: run a command, last output line is the XCom."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tradewind.exceptions import DagDefinitionError
from tradewind.execution.client import InProcessClient
from tradewind.inprocess import run_dag
from tradewind.operators import BashOperator
from tradewind.sdk import DAG, task
from tradewind.xcom.base import XComKey
from tradewind.xcom.memory import MemoryXComBackend

LOGICAL = datetime(2024, 3, 5, tzinfo=UTC)


class Ran:
    """One run of a one-task (or small) DAG: states, XCom and logs."""

    def __init__(self, dag: DAG, **kwargs: Any) -> None:
        self.backend = MemoryXComBackend()
        self.result = run_dag(
            dag, client=InProcessClient(self.backend), logical_date=LOGICAL, **kwargs
        )

    def state(self, task_id: str = "b") -> str | None:
        return self.result.task_states()[task_id]

    def xcom(self, task_id: str = "b") -> Any:
        r = self.result
        return self.backend.get(XComKey(r.dag_id, r.run_id, task_id, -1, "return_value"))

    def error(self, task_id: str = "b") -> str:
        return self.result.get(task_id).error or ""

    def log(self, task_id: str = "b") -> str:
        return "\n".join(self.result.get(task_id).log)


def _bash(command: str, dag_id: str = "bash", **kwargs: Any) -> DAG:
    with DAG(dag_id) as dag:
        BashOperator(task_id="b", bash_command=command, **kwargs)
    return dag


def test_last_output_line_is_the_xcom() -> None:
    ran = Ran(_bash("echo first; echo second; echo '  last  '"))
    assert ran.state() == "success"
    assert ran.xcom() == "  last"


def test_stdout_and_stderr_lines_appear_in_the_task_log() -> None:
    ran = Ran(_bash("echo to-stdout; echo to-stderr >&2"))
    log = ran.log()
    assert "to-stdout" in log and "to-stderr" in log
    assert "Running command: echo to-stdout; echo to-stderr >&2" in log
    assert "Command exited with return code 0" in log


def test_command_is_rendered_with_the_context() -> None:
    ran = Ran(_bash("echo {{ ds }} {{ params.n }}", params={"n": 3}))
    assert ran.xcom() == "2024-03-05 3"


def test_non_zero_exit_fails_with_the_code_in_the_message() -> None:
    ran = Ran(_bash("echo oops; exit 3"))
    assert ran.state() == "failed"
    assert "Bash command failed. The command returned a non-zero exit code 3." in ran.error()


def test_exit_99_skips_the_task() -> None:
    ran = Ran(_bash("exit 99"))
    assert ran.state() == "skipped"
    assert "Bash command returned exit code 99. Skipping." in ran.log()


def test_skip_on_exit_code_can_be_changed_or_disabled() -> None:
    assert Ran(_bash("exit 42", skip_on_exit_code=[42, 43])).state() == "skipped"
    assert Ran(_bash("exit 99", skip_on_exit_code=None)).state() == "failed"


def test_env_replaces_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTER_VAR", "outer")
    ran = Ran(_bash('echo "${MY_VAR}-${OUTER_VAR:-unset}"', env={"MY_VAR": "mine"}))
    assert ran.xcom() == "mine-unset"


def test_append_env_adds_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTER_VAR", "outer")
    ran = Ran(_bash('echo "$MY_VAR-$OUTER_VAR"', env={"MY_VAR": "mine"}, append_env=True))
    assert ran.xcom() == "mine-outer"


def test_env_values_are_templated() -> None:
    ran = Ran(_bash('echo "$DAY"', env={"DAY": "{{ ds_nodash }}"}))
    assert ran.xcom() == "20240305"


def test_task_identity_is_in_the_environment() -> None:
    ran = Ran(
        _bash(
            'echo "$TRADEWIND_CTX_DAG_ID $TRADEWIND_CTX_TASK_ID $AIRFLOW_CTX_TRY_NUMBER '
            '$AIRFLOW_CTX_LOGICAL_DATE"',
            dag_id="ident",
        )
    )
    assert ran.xcom() == "ident b 1 2024-03-05T00:00:00+00:00"


def test_cwd_sets_the_working_folder(tmp_path: Path) -> None:
    ran = Ran(_bash("pwd", cwd=str(tmp_path)))
    assert os.path.realpath(ran.xcom()) == os.path.realpath(tmp_path)


def test_cwd_that_is_not_a_folder_fails(tmp_path: Path) -> None:
    ran = Ran(_bash("pwd", cwd=str(tmp_path / "missing")))
    assert ran.state() == "failed"
    assert "is not a folder" in ran.error()


def test_output_processor_transforms_the_xcom() -> None:
    ran = Ran(_bash("echo 41", output_processor=lambda s: int(s) + 1))
    assert ran.xcom() == 42


def test_no_output_gives_an_empty_string() -> None:
    assert Ran(_bash("true")).xcom() == ""


def test_task_bash_runs_the_returned_command() -> None:
    with DAG("task_bash") as dag:

        @task.bash
        def b(name: str, ds: str = "") -> str:
            return f"echo hello {name} on {ds}"

        b("ann")
    ran = Ran(dag)
    assert ran.state() == "success"
    assert ran.xcom() == "hello ann on 2024-03-05"


def test_task_bash_returned_command_is_not_rendered() -> None:
    with DAG("task_bash_safety") as dag:

        @task.bash
        def b(dag_run: Any = None) -> str:
            return f"echo '{dag_run.conf['text']}'"

        b()
    ran = Ran(dag, conf={"text": "{{ 7*7 }}"})
    assert ran.xcom() == "{{ 7*7 }}"


def test_task_bash_arguments_from_xcom_are_passed_as_data() -> None:
    with DAG("task_bash_xcom") as dag:

        @task
        def word() -> str:
            return "{{ ds }}"

        @task.bash
        def b(w: str) -> str:
            return f"echo '{w}'"

        b(word())
    assert Ran(dag).xcom() == "{{ ds }}"


def test_task_bash_returning_nothing_fails() -> None:
    with DAG("task_bash_empty") as dag:

        @task.bash
        def b() -> str:
            return "  "

        b()
    ran = Ran(dag)
    assert ran.state() == "failed"
    assert "must return a non-empty command string" in ran.error()


def test_bash_command_from_upstream_xcom_is_not_rendered() -> None:
    with DAG("bash_xcom_cmd") as dag:

        @task
        def cmd() -> str:
            return "echo '{{ 7*7 }}'"

        BashOperator(task_id="b", bash_command=cmd())
    assert Ran(dag).xcom() == "{{ 7*7 }}"


def test_execution_timeout_must_be_a_timedelta() -> None:
    with (
        pytest.raises(DagDefinitionError, match="execution_timeout must be a timedelta"),
        DAG("bash_bad"),
    ):
        BashOperator(task_id="b", bash_command="echo", execution_timeout=5)  # type: ignore[arg-type]


def test_an_empty_command_fails() -> None:
    ran = Ran(_bash("   "))
    assert ran.state() == "failed"
    assert "bash_command is empty" in ran.error()
