"""A try's output (print, logging, subprocess lines) goes to that try's log sink only."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

import pytest

from tradewind.execution.task_log import capture_task_output
from tradewind.inprocess import run_dag
from tradewind.operators import PythonOperator
from tradewind.sdk import DAG, task
from tradewind.states import TaskInstanceState as TI


def test_print_and_logging_land_in_the_try_log(harness: Any) -> None:
    def noisy() -> None:
        print("printed line")
        print("to stderr", file=sys.stderr)
        logging.getLogger("tradewind.task").info("task logger line")
        logging.getLogger("some.library").info("library info line")
        logging.warning("root warning line")

    with DAG("logs_one"):
        op = PythonOperator(task_id="t", python_callable=noisy)
    assert harness.run(op).state is TI.SUCCESS
    log = harness.log
    for expected in (
        "INFO    printed line",
        "ERROR   to stderr",
        "INFO    task logger line",
        "INFO    library info line",
        "WARNING root warning line",
        "Marking task as SUCCESS.",
    ):
        assert expected in log


def test_a_failure_traceback_is_in_the_log(harness: Any) -> None:
    with DAG("logs_fail"):
        op = PythonOperator(task_id="t", python_callable=lambda: 1 / 0)
    harness.run(op)
    assert "Task failed with exception" in harness.log
    assert "ZeroDivisionError: division by zero" in harness.log


def test_a_last_line_without_newline_is_kept(harness: Any) -> None:
    with DAG("logs_partial"):
        op = PythonOperator(task_id="t", python_callable=lambda: print("no newline", end=""))
    harness.run(op)
    assert "no newline" in harness.log


def test_parallel_tasks_each_get_only_their_own_lines() -> None:
    both_running = threading.Barrier(2, timeout=10)
    with DAG("logs_parallel", max_active_tasks=2) as dag:

        @task
        def left() -> None:
            both_running.wait()
            for i in range(30):
                print(f"left print {i}")
                logging.getLogger("lib.left").info("left log %d", i)

        @task
        def right() -> None:
            both_running.wait()
            for i in range(30):
                print(f"right print {i}")
                logging.getLogger("lib.right").info("right log %d", i)

        left()
        right()
    result = run_dag(dag)
    assert result.task_states() == {"left": "success", "right": "success"}
    left_log = "\n".join(result.get("left").log)
    right_log = "\n".join(result.get("right").log)
    assert left_log.count("left print") == 30 and left_log.count("left log") == 30
    assert right_log.count("right print") == 30 and right_log.count("right log") == 30
    assert "right" not in left_log.replace("Marking", "")
    assert "left" not in right_log


def test_output_of_other_threads_is_not_captured(capsys: pytest.CaptureFixture[str]) -> None:
    lines: list[str] = []
    inside = threading.Event()
    release = threading.Event()

    def task_thread() -> None:
        with capture_task_output(lines.append):
            print("from the task")
            inside.set()
            release.wait(5)

    worker = threading.Thread(target=task_thread)
    worker.start()
    assert inside.wait(5)
    print("from the main thread")
    release.set()
    worker.join(5)
    assert any("from the task" in line for line in lines)
    assert not any("main thread" in line for line in lines)
    assert "from the main thread" in capsys.readouterr().out


def test_routing_is_removed_after_the_try(harness: Any) -> None:
    stdout, root_level = sys.stdout, logging.getLogger().level
    with DAG("logs_restore"):
        op = PythonOperator(task_id="t", python_callable=lambda: print("x"))
    harness.run(op)
    assert sys.stdout is stdout
    assert logging.getLogger().level == root_level


def test_sink_output_is_not_fed_back_into_the_sink() -> None:
    seen: list[str] = []

    def echoing_sink(line: str) -> None:
        seen.append(line)
        print("sink echoes:", line)  # goes to the real stream, not back here

    with capture_task_output(echoing_sink):
        print("hello")
    assert len(seen) == 1 and seen[0].endswith("hello")
