"""The local executor's pool around crashes of its own: a killed scheduler leaves nothing
behind, and workers that cannot start are reported instead of retried forever."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tradewind.executors import local_workers
from tradewind.executors.base import ExecutorError
from tradewind.executors.local import LocalExecutor, default_workers
from tradewind.executors.memory_services import MemoryWorkerServices

SCHEDULER = """
import json, sys, time
from datetime import UTC, datetime
from tradewind.executors.local import LocalExecutor
from tradewind.executors.memory_services import MemoryWorkerServices
from tradewind.executors.workload import ExecuteTask, RunData, TaskStartedEvent

t = datetime(2024, 1, 1, tzinfo=UTC)
executor = LocalExecutor(MemoryWorkerServices(), workers=1)
executor.start()
executor.queue_workload(ExecuteTask.make(
    ti_id="a", dag_id="slow", run_id="r", task_id="sleep", try_number=1,
    dag_file=sys.argv[1], dag_file_hash="h",
    run=RunData(logical_date=t, data_interval_start=t, data_interval_end=t, run_after=t),
))
while not any(isinstance(e, TaskStartedEvent) for e in executor.get_events()):
    executor.wait_for_event(10)
(running,) = executor.running()
print(json.dumps({"worker": running.worker_pid, "task": running.pid}), flush=True)
time.sleep(60)
"""

SLOW_DAG = """
import time
from tradewind.sdk import dag, task

@dag(schedule=None)
def slow():
    @task
    def sleep():
        time.sleep(60)

    sleep()

slow()
"""


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


def test_killing_the_scheduler_takes_its_workers_and_tasks_with_it(tmp_path: Path) -> None:
    dag_file = tmp_path / "slow.py"
    dag_file.write_text(textwrap.dedent(SLOW_DAG))
    script = tmp_path / "scheduler.py"
    script.write_text(SCHEDULER)
    scheduler = subprocess.Popen(
        [sys.executable, str(script), str(dag_file)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert scheduler.stdout is not None
        pids = json.loads(scheduler.stdout.readline())
    finally:
        scheduler.kill()
        scheduler.wait()
        if scheduler.stdout is not None:
            scheduler.stdout.close()
    assert _gone(pids["worker"]), "a worker outlived its executor"
    assert _gone(pids["task"]), "a task process outlived its worker"


def test_workers_that_cannot_start_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_workers, "_BOOT", "import sys; sys.exit(3)")
    executor = LocalExecutor(MemoryWorkerServices(), workers=2)
    executor.start()
    try:
        deadline = time.monotonic() + 20
        with pytest.raises(ExecutorError, match="died before they were ready"):
            while time.monotonic() < deadline:
                executor.heartbeat()
                time.sleep(0.05)
    finally:
        executor.terminate()


def test_the_pool_size_follows_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND__LOCAL_EXECUTOR__WORKERS", "3")
    assert default_workers() == 3
    monkeypatch.delenv("TRADEWIND__LOCAL_EXECUTOR__WORKERS")
    assert default_workers() == max(2, os.cpu_count() or 2)
    monkeypatch.setenv("TRADEWIND__CORE__PARALLELISM", "1")
    assert default_workers() == 1
    for bad in (0, -1):
        with pytest.raises(ValueError):
            LocalExecutor(MemoryWorkerServices(), workers=bad)


def test_a_terminated_pool_leaves_no_processes() -> None:
    executor = LocalExecutor(MemoryWorkerServices(), workers=2)
    executor.start()
    assert executor._io is not None
    pids = [w.pid for w in executor._io.workers]
    executor.terminate()
    executor.terminate()  # twice is fine
    executor.end()
    assert all(_gone(pid, 1.0) for pid in pids)
