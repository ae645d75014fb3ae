"""``execution_timeout`` stops a task that runs too long, in the main thread or another one."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tradewind.exceptions import TradewindTaskTimeout
from tradewind.execution.timeout import execution_timeout
from tradewind.inprocess import run_dag
from tradewind.operators import BashOperator, PythonOperator
from tradewind.sdk import DAG
from tradewind.states import TaskInstanceState as TI

LIMIT = timedelta(seconds=0.4)


def _spin() -> None:
    while True:
        pass


def _in_thread(fn: Any) -> Any:
    box: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: box.setdefault("result", fn()))
    worker.start()
    worker.join(10)
    assert not worker.is_alive()
    return box["result"]


def test_a_pure_python_loop_in_a_thread_is_stopped(harness: Any) -> None:
    with DAG("spin_thread"):
        op = PythonOperator(task_id="t", python_callable=_spin, execution_timeout=LIMIT)
    started = time.monotonic()
    outcome = _in_thread(lambda: harness.run(op))
    assert outcome.state is TI.FAILED
    assert "TradewindTaskTimeout: Timeout, task ran longer than 0.4 seconds" in outcome.error
    assert time.monotonic() - started < 3


def test_a_sleep_in_the_main_thread_is_interrupted(harness: Any) -> None:
    assert threading.current_thread() is threading.main_thread()
    with DAG("sleep_main"):
        op = PythonOperator(
            task_id="t", python_callable=lambda: time.sleep(30), execution_timeout=LIMIT
        )
    started = time.monotonic()
    outcome = harness.run(op)
    assert outcome.state is TI.FAILED
    assert "TradewindTaskTimeout" in outcome.error
    assert time.monotonic() - started < 3


def test_a_timed_out_task_with_retries_left_is_up_for_retry(harness: Any) -> None:
    with DAG("timeout_retry"):
        op = PythonOperator(
            task_id="t", python_callable=lambda: time.sleep(30), execution_timeout=LIMIT, retries=1
        )
    assert harness.run(op).state is TI.UP_FOR_RETRY


def test_a_task_that_finishes_in_time_is_not_affected(harness: Any) -> None:
    with DAG("in_time"):
        op = PythonOperator(
            task_id="t", python_callable=lambda: "done", execution_timeout=timedelta(seconds=0.1)
        )
    assert harness.run(op).state is TI.SUCCESS
    time.sleep(0.2)  # no late alarm goes off after the try
    assert harness.xcom("t") == "done"


def _dead(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return any(line.split()[:2] == ["State:", "Z"] for line in fh)
    except FileNotFoundError:
        return True


def _wait_dead(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if _dead(pid):
            return True
        time.sleep(0.02)
    return False


def _bash_sleeper(dag_id: str, pid_file: Path) -> BashOperator:
    with DAG(dag_id):
        return BashOperator(
            task_id="t",
            bash_command=f"sleep 30 & echo $! > {pid_file}; wait",
            execution_timeout=LIMIT,
        )


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to watch the child")
def test_bash_subprocess_is_killed_on_timeout_in_the_main_thread(
    harness: Any, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    outcome = harness.run(_bash_sleeper("bash_main", pid_file))
    assert outcome.state is TI.FAILED
    assert "TradewindTaskTimeout" in outcome.error
    assert _wait_dead(int(pid_file.read_text()))


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to watch the child")
def test_bash_subprocess_is_killed_on_timeout_in_a_worker_thread(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    op = _bash_sleeper("bash_thread", pid_file)
    started = time.monotonic()
    result = run_dag(op.dag)  # tasks run in worker threads
    assert result.get("t").state is TI.FAILED
    assert "TradewindTaskTimeout" in (result.get("t").error or "")
    assert time.monotonic() - started < 5
    assert _wait_dead(int(pid_file.read_text()))


def test_on_kill_runs_when_the_main_thread_times_out() -> None:
    killed: list[bool] = []
    with (
        pytest.raises(TradewindTaskTimeout),
        execution_timeout(0.1, on_kill=lambda: killed.append(True)),
    ):
        time.sleep(5)
    assert killed == [True]


def test_an_enclosing_alarm_keeps_its_deadline() -> None:
    import signal

    fired: list[bool] = []
    previous = signal.signal(signal.SIGALRM, lambda *a: fired.append(True))
    signal.setitimer(signal.ITIMER_REAL, 0.1)
    try:
        with execution_timeout(5):
            pass
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < remaining <= 0.1
        time.sleep(0.2)
        assert fired == [True]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_no_timeout_means_no_timer() -> None:
    with execution_timeout(None):
        time.sleep(0.01)
    with execution_timeout(0):
        time.sleep(0.01)
