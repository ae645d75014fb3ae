"""The local executor runs real DAG files in warm worker processes, and loses nothing.

Each test gets its own pool (two workers, memory services, its own ``$TRADEWIND_HOME``);
tries report through events exactly as the scheduler will read them.
"""

from __future__ import annotations

import os
import signal
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tradewind.executors.base import Event
from tradewind.executors.local import LocalExecutor
from tradewind.executors.memory_services import MemoryWorkerServices
from tradewind.executors.workload import (
    ExecuteTask,
    RunData,
    TaskOutcomeEvent,
    TaskStartedEvent,
)
from tradewind.states import TaskInstanceState as TI
from tradewind.task_logs import logs_folder, resolve_log_path
from tradewind.xcom.base import XComKey

T = datetime(2024, 3, 5, tzinfo=UTC)
RUN_ID = "manual__2024-03-05T00:00:00+00:00"

DAG_SOURCE = """
import ctypes, os, signal, sys, time
from datetime import timedelta
from tradewind.sdk import dag, task
from tradewind.sdk.variable import Variable

with open(os.environ["IMPORTS_FILE"], "a") as fh:
    fh.write(f"{os.getpid()}\\n")

@dag(schedule=None)
def work():
    @task
    def produce():
        print("hello from produce")
        os.write(1, b"straight to fd 1\\n")
        return {"rows": [1, 2, 3]}

    @task
    def consume(data):
        return sum(data["rows"]) * int(Variable.get("factor"))

    @task
    def fail():
        raise ValueError("something broke in user code")

    @task
    def sleep(seconds=30):
        time.sleep(seconds)

    @task
    def nap():
        time.sleep(1)

    @task(execution_timeout=timedelta(seconds=1))
    def overrun():
        time.sleep(30)

    @task(execution_timeout=timedelta(seconds=0.5))
    def stuck():
        import subprocess
        helper = subprocess.Popen(["sleep", "60"])
        with open(os.environ["IMPORTS_FILE"] + ".helper", "w") as fh:
            fh.write(str(helper.pid))
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})  # the alarm cannot land
        time.sleep(30)

    @task
    def vanish():
        os._exit(0)  # exits "cleanly" without reporting anything

    @task
    def leave_a_child():
        import subprocess
        # Inherits the task's stdout (its log), not its channel to the executor.
        subprocess.Popen(["sleep", "30"], start_new_session=True)
        return "done"

    @task
    def numbers():
        return [1, 2, 3]

    @task
    def square(x):
        return x * x

    @task
    def total(values):
        return sum(values)

    consume(produce())
    fail()
    sleep()
    nap()
    overrun()
    stuck()
    vanish()
    leave_a_child()
    total(square.expand(x=numbers()))

work()
"""


class Harness:
    """A started pool and helpers to run tries of the ``work`` DAG through it."""

    def __init__(self, dag_file: Path, executor: LocalExecutor, services: MemoryWorkerServices):
        self.dag_file = dag_file
        self.executor = executor
        self.services = services
        self.n = 0
        self.seen: list[Event] = []

    def workload(self, task_id: str, **fields: Any) -> ExecuteTask:
        self.n += 1
        values: dict[str, Any] = {
            "ti_id": f"ti-{self.n}",
            "dag_id": "work",
            "run_id": RUN_ID,
            "task_id": task_id,
            "try_number": 1,
            "dag_file": str(self.dag_file),
            "dag_file_hash": "v1",
            "run": RunData(logical_date=T, data_interval_start=T, data_interval_end=T, run_after=T),
        }
        values.update(fields)
        return ExecuteTask.make(**values)

    def queue(self, task_id: str, **fields: Any) -> ExecuteTask:
        workload = self.workload(task_id, **fields)
        assert self.executor.queue_workload(workload)
        return workload

    def wait_for(self, kind: type, ti_id: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.seen:
                if isinstance(event, kind) and event.ti_id == ti_id:
                    return event
            left = deadline - time.monotonic()
            assert left > 0, f"no {kind.__name__} for {ti_id}; seen: {self.seen}"
            self.executor.wait_for_event(left)
            self.seen += self.executor.get_events()

    def run(self, task_id: str, **fields: Any) -> TaskOutcomeEvent:
        workload = self.queue(task_id, **fields)
        return self.wait_for(TaskOutcomeEvent, workload.ti_id)  # type: ignore[no-any-return]

    def log_of(self, workload_or_event: Any) -> str:
        w = self.workload(workload_or_event.task_id, map_index=workload_or_event.map_index)
        path = resolve_log_path(logs_folder(), w.log_path)
        return path.read_text()

    def imports(self) -> list[str]:
        return Path(os.environ["IMPORTS_FILE"]).read_text().split()


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setenv("IMPORTS_FILE", str(tmp_path / "imports.txt"))
    dag_file = tmp_path / "work.py"
    dag_file.write_text(textwrap.dedent(DAG_SOURCE))
    services = MemoryWorkerServices(variables={"factor": "10"})
    executor = LocalExecutor(
        services, workers=2, kill_grace=0.5, heartbeat_interval=0.5, stale_after=2.0
    )
    executor.start()
    try:
        yield Harness(dag_file, executor, services)
    finally:
        executor.terminate()


def _gone(pid: int, within: float = 5.0) -> bool:
    """Whether ``pid`` has exited (or is a zombie nobody reaped yet) within ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.02)
    return False


def test_tries_pass_xcom_through_the_shared_services(harness: Harness) -> None:
    produced = harness.run("produce")
    assert (produced.state, produced.crashed, produced.pushed_keys) == (
        TI.SUCCESS,
        False,
        ["return_value"],
    )
    consumed = harness.run("consume")
    assert consumed.state is TI.SUCCESS
    key = XComKey("work", RUN_ID, "consume", -1, "return_value")
    assert harness.services.xcom_get(key) == 60  # 1+2+3, times the variable "factor"


def test_mapped_tries_and_their_reducer(harness: Harness) -> None:
    assert harness.run("numbers").xcom_lengths == {"return_value": 3}
    for i in range(3):
        assert harness.run("square", map_index=i).state is TI.SUCCESS
    assert harness.run("total").state is TI.SUCCESS
    key = XComKey("work", RUN_ID, "total", -1, "return_value")
    assert harness.services.xcom_get(key) == 14


def test_a_started_event_comes_before_the_outcome_with_the_task_process(
    harness: Harness,
) -> None:
    workload = harness.queue("produce")
    started = harness.wait_for(TaskStartedEvent, workload.ti_id)
    outcome = harness.wait_for(TaskOutcomeEvent, workload.ti_id)
    assert harness.seen.index(started) < harness.seen.index(outcome)
    assert started.pid == outcome.pid and started.pid != os.getpid()
    assert harness.executor.running() == []


def test_the_try_log_has_the_tasks_output(harness: Harness) -> None:
    outcome = harness.run("produce")
    log = harness.log_of(outcome)
    assert "hello from produce" in log
    assert "straight to fd 1" in log  # C-level and subprocess output too
    assert "Marking task as SUCCESS" in log


def test_a_failing_task_reports_its_error(harness: Harness) -> None:
    outcome = harness.run("fail")
    assert (outcome.state, outcome.crashed) == (TI.FAILED, False)
    assert "ValueError: something broke in user code" in (outcome.error or "")
    assert "something broke in user code" in harness.log_of(outcome)
    retry = harness.run("fail", max_tries=1)
    assert retry.state is TI.UP_FOR_RETRY and retry.next_retry_at is not None


def test_killing_the_task_process_fails_the_try_and_the_pool_goes_on(harness: Harness) -> None:
    workload = harness.queue("sleep")
    started = harness.wait_for(TaskStartedEvent, workload.ti_id)
    os.kill(started.pid, signal.SIGKILL)
    outcome = harness.wait_for(TaskOutcomeEvent, workload.ti_id)
    assert (outcome.state, outcome.crashed) == (TI.FAILED, True)
    assert "SIGKILL" in (outcome.error or "")
    assert "SIGKILL" in harness.log_of(outcome)
    assert harness.run("produce").state is TI.SUCCESS


def test_killing_a_worker_fails_its_try_and_the_pool_heals(harness: Harness) -> None:
    workload = harness.queue("sleep")
    started = harness.wait_for(TaskStartedEvent, workload.ti_id)
    (running,) = harness.executor.running()
    assert running.pid == started.pid
    os.kill(running.worker_pid, signal.SIGKILL)
    outcome = harness.wait_for(TaskOutcomeEvent, workload.ti_id)
    assert (outcome.state, outcome.crashed) == (TI.FAILED, True)
    assert f"worker process {running.worker_pid} died" in (outcome.error or "")
    assert _gone(started.pid), "the task process outlived its worker"
    # A replacement worker takes its place: both slots run at once again.
    first, second = harness.queue("produce"), harness.queue("produce")
    for w in (first, second):
        assert harness.wait_for(TaskOutcomeEvent, w.ti_id).state is TI.SUCCESS
    assert harness.executor.open_slots == 2


def test_a_worker_that_stops_heartbeating_is_replaced(harness: Harness) -> None:
    workload = harness.queue("sleep")
    harness.wait_for(TaskStartedEvent, workload.ti_id)
    (running,) = harness.executor.running()
    assert running.worker_pid is not None
    os.kill(running.worker_pid, signal.SIGSTOP)  # alive, but silent
    outcome = harness.wait_for(TaskOutcomeEvent, workload.ti_id)
    assert outcome.crashed and "stopped heartbeating" in (outcome.error or "")
    assert _gone(running.worker_pid)
    assert harness.run("produce").state is TI.SUCCESS


def test_execution_timeout_stops_a_sleeping_task_at_once(harness: Harness) -> None:
    began = time.monotonic()
    outcome = harness.run("overrun")
    assert time.monotonic() - began < 5  # 1 s limit, not the 30 s sleep
    assert (outcome.state, outcome.crashed) == (TI.FAILED, False)
    assert "Timeout" in (outcome.error or "")


def test_a_task_deaf_to_the_alarm_is_killed_after_the_grace(harness: Harness) -> None:
    began = time.monotonic()
    outcome = harness.run("stuck")
    assert time.monotonic() - began < 6  # 0.5 s limit + 0.5 s grace
    assert (outcome.state, outcome.crashed) == (TI.FAILED, True)
    assert "execution_timeout" in (outcome.error or "")
    helper = int(Path(os.environ["IMPORTS_FILE"] + ".helper").read_text())
    assert _gone(helper), "the task's own subprocess outlived the try"


def test_a_task_process_that_exits_without_its_outcome_fails_the_try(harness: Harness) -> None:
    outcome = harness.run("vanish")
    assert (outcome.state, outcome.crashed) == (TI.FAILED, True)
    assert "without reporting" in (outcome.error or "")
    assert harness.run("produce").state is TI.SUCCESS


def test_a_process_the_task_leaves_running_does_not_hold_the_try_open(harness: Harness) -> None:
    began = time.monotonic()
    outcome = harness.run("leave_a_child")
    assert outcome.state is TI.SUCCESS
    assert time.monotonic() - began < 10  # not the 30 s the left process sleeps
    assert harness.run("produce").state is TI.SUCCESS


def test_a_dag_file_is_imported_once_per_worker(harness: Harness) -> None:
    for _ in range(8):
        harness.queue("produce")
    for i in range(1, 9):
        harness.wait_for(TaskOutcomeEvent, f"ti-{i}")
    imports = harness.imports()
    assert 1 <= len(imports) <= 2 and len(set(imports)) == len(imports)
    worker_pids = {r.worker_pid for r in harness.executor.running()} | set(map(int, imports))
    assert os.getpid() not in worker_pids


def test_tries_run_side_by_side(harness: Harness) -> None:
    harness.run("produce")  # both workers ready and warm
    harness.run("produce")
    began = time.monotonic()
    workloads = [harness.queue("nap") for _ in range(2)]
    for w in workloads:
        assert harness.wait_for(TaskOutcomeEvent, w.ti_id).state is TI.SUCCESS
    assert time.monotonic() - began < 1.9  # two 1 s naps at once: ~1 s, not 2 s


def test_running_tries_can_be_cancelled(harness: Harness) -> None:
    workloads = [harness.queue("sleep") for _ in range(2)]
    for w in workloads:
        harness.wait_for(TaskStartedEvent, w.ti_id)
    assert len(harness.executor.running()) == 2 and harness.executor.open_slots == 0
    queued = harness.queue("produce")
    assert harness.executor.cancel(queued.ti_id)  # still waiting for a slot
    for w in workloads:
        assert harness.executor.cancel(w.ti_id)
    for w in [*workloads, queued]:
        outcome = harness.wait_for(TaskOutcomeEvent, w.ti_id)
        assert outcome.crashed and "cancelled" in (outcome.error or "")
    assert not harness.executor.cancel("unknown")


def test_the_same_try_is_not_queued_twice(harness: Harness) -> None:
    workload = harness.workload("produce")
    assert harness.executor.queue_workload(workload)
    assert not harness.executor.queue_workload(workload)
    harness.wait_for(TaskOutcomeEvent, workload.ti_id)


def test_a_task_missing_from_the_dag_is_a_crashed_try(harness: Harness) -> None:
    outcome = harness.run("no_such_task")
    assert (outcome.state, outcome.crashed) == (TI.FAILED, True)
    assert "no_such_task" in (outcome.error or "")


def test_end_waits_for_running_tries_and_stops_the_workers(harness: Harness) -> None:
    workload = harness.queue("produce")
    harness.executor.end(timeout=20)
    assert any(
        isinstance(e, TaskOutcomeEvent) and e.ti_id == workload.ti_id
        for e in harness.executor.get_events()
    )
    assert harness.executor._io is not None
    assert harness.executor._io.workers == []


def _children(pid: int) -> list[str]:
    """States of ``pid``'s child processes (``Z`` for one exited and not yet reaped)."""
    states = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                states.append(fields[0])
    return states


def test_task_processes_are_reaped_while_the_worker_goes_on(harness: Harness) -> None:
    # A worker takes its next try once the last task process said its exit code, before
    # the kernel has torn it down: those are reaped later, and never pile up.
    for _ in range(12):
        harness.queue("produce")
    for i in range(1, 13):
        assert harness.wait_for(TaskOutcomeEvent, f"ti-{i}").state is TI.SUCCESS
    workers = {int(p) for p in harness.imports()}
    assert workers
    time.sleep(0.3)
    for pid in workers:
        assert _children(pid).count("Z") <= 1
    assert harness.run("produce").state is TI.SUCCESS
