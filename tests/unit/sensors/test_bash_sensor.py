"""BashSensor: exit code 0 ends the wait; retry_exit_code decides what else means "not yet";
templating, environment, working folder, stopping, and bad arguments."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tradewind.exceptions import DagDefinitionError
from tradewind.execution.client import InProcessClient
from tradewind.inprocess import run_dag
from tradewind.sdk import DAG
from tradewind.sensors import BashSensor
from tradewind.xcom.memory import MemoryXComBackend

FAST: dict[str, Any] = {"poke_interval": 0.01, "timeout": 5}


class Ran:
    def __init__(self, dag: DAG, **kwargs: Any) -> None:
        self.result = run_dag(dag, client=InProcessClient(MemoryXComBackend()), **kwargs)

    def state(self) -> str | None:
        return self.result.task_states()["wait"]

    def try_number(self) -> int:
        return self.result.get("wait").try_number

    def error(self) -> str:
        return self.result.get("wait").error or ""

    def log(self) -> str:
        return "\n".join(self.result.get("wait").log)


def _dag(bash_command: str, dag_id: str = "bash_sensor", **kwargs: Any) -> DAG:
    with DAG(dag_id) as dag:
        BashSensor(task_id="wait", bash_command=bash_command, **{**FAST, **kwargs})
    return dag


def _exits_until(counter: Path, pokes: int, code: int) -> str:
    """A command that exits ``code`` until its ``pokes``-th run, then 0."""
    return (
        f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; "
        f'echo "poke $n"; [ $n -ge {pokes} ] || exit {code}'
    )


def test_exit_code_zero_ends_the_wait_and_output_is_logged() -> None:
    ran = Ran(_dag("echo ready"))
    assert ran.state() == "success"
    assert "ready" in ran.log()
    assert "Command exited with return code 0" in ran.log()


def test_any_non_zero_code_means_not_yet_without_retry_exit_code(tmp_path: Path) -> None:
    counter = tmp_path / "n"
    ran = Ran(_dag(_exits_until(counter, 3, 7)))
    assert ran.state() == "success"
    assert counter.read_text().strip() == "3"
    assert "no retry code set, will retry later" in ran.log()


def test_a_command_that_never_succeeds_times_out(tmp_path: Path) -> None:
    ran = Ran(_dag("exit 1", timeout=0.1))
    assert ran.state() == "failed"
    assert "Sensor has timed out" in ran.error()


def test_retry_exit_code_keeps_poking(tmp_path: Path) -> None:
    counter = tmp_path / "n"
    ran = Ran(_dag(_exits_until(counter, 2, 3), retry_exit_code=3))
    assert ran.state() == "success"
    assert "Return code matches retry code, will retry later" in ran.log()


def test_with_retry_exit_code_another_code_fails_without_retry() -> None:
    ran = Ran(_dag("exit 1", retry_exit_code=3, retries=2, retry_delay=0))
    assert ran.state() == "failed"
    assert ran.try_number() == 1
    assert "Command exited with return code 1" in ran.error()


def test_soft_fail_skips_on_an_unexpected_exit_code() -> None:
    ran = Ran(_dag("exit 1", retry_exit_code=3, soft_fail=True))
    assert ran.state() == "skipped"


def test_bash_command_and_env_are_templated() -> None:
    dag = _dag('test "$WHEN" = "{{ ds }}" && echo "checked {{ ds }}"', env={"WHEN": "{{ ds }}"})
    ran = Ran(dag, logical_date=datetime(2024, 5, 1, tzinfo=UTC))
    assert ran.state() == "success"
    assert "checked 2024-05-01" in ran.log()


def test_env_replaces_the_inherited_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TW_BASH_SENSOR_MARK", "inherited")
    inherits = Ran(_dag('test "$TW_BASH_SENSOR_MARK" = inherited', "inherits"))
    assert inherits.state() == "success"
    replaced = Ran(_dag('test -z "$TW_BASH_SENSOR_MARK" && test "$ONLY" = 1', env={"ONLY": 1}))
    assert replaced.state() == "success"


def test_the_command_runs_in_a_fresh_temporary_folder() -> None:
    here = os.getcwd()
    ran = Ran(_dag(f'test "$(pwd)" != "{here}" && touch scratch && test -f scratch && pwd'))
    assert ran.state() == "success"
    assert "tradewindtmp" in ran.log()


def test_undecodable_output_does_not_break_the_sensor() -> None:
    assert Ran(_dag(r"printf 'caf\xe9\n'", output_encoding="utf-8")).state() == "success"


def test_execution_timeout_stops_the_command_and_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    ran = Ran(_dag(f"echo $$ > {pid_file}; sleep 30", execution_timeout=timedelta(seconds=0.3)))
    assert ran.state() == "failed"
    assert "TradewindTaskTimeout" in ran.error()
    assert time.monotonic() - started < 5
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bash_command": ""}, "bash_command must be a non-empty string"),
        ({"bash_command": None}, "bash_command must be a non-empty string"),
        ({"bash_command": "true", "env": ["A=1"]}, "env must be a dict"),
        (
            {"bash_command": "true", "output_encoding": "klingon"},
            "output_encoding 'klingon' is not a known encoding",
        ),
        ({"bash_command": "true", "retry_exit_code": "3"}, "retry_exit_code must be an int"),
        ({"bash_command": "true", "retry_exit_code": True}, "retry_exit_code must be an int"),
    ],
)
def test_bad_arguments_are_refused_naming_the_task(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DagDefinitionError, match=f"task 'wait': {message}"), DAG("bad_bash"):
        BashSensor(task_id="wait", **kwargs)
