"""The inline executor: runs each try in the calling process, one at a time.

For tests and debugging (a breakpoint in a task just works). Same protocol as the local
executor: workloads are queued, and run when the caller next asks for events
(:meth:`~InlineExecutor.get_events`, :meth:`~InlineExecutor.wait_for_event` or
:meth:`~InlineExecutor.heartbeat`). Tries use the real task runner with the services as
their execution client and write the same per-try log files. No isolation: a task that
crashes the process crashes the caller, and this process imports the DAG files, so never use
it in a scheduler that must stay free of user code.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import traceback
from datetime import UTC, datetime

from tradewind.execution.client import ServicesClient
from tradewind.execution.dag_cache import DagFileCache
from tradewind.execution.runner import run_task_try
from tradewind.execution.task_log import format_line
from tradewind.execution.task_process import dag_run_info, outcome_event, resume_of
from tradewind.executors.base import Event, ExecutorError, RunningTry, WorkerServices
from tradewind.executors.workload import ExecuteTask, TaskOutcomeEvent, TaskStartedEvent
from tradewind.task_logs.paths import logs_folder, resolve_log_path
from tradewind.task_logs.writer import TryLogWriter


class InlineExecutor:
    """Runs workloads in this process; see the module docstring."""

    def __init__(self, services: WorkerServices, *, cache: DagFileCache | None = None) -> None:
        self.services = services
        self.cache = cache or DagFileCache()
        self._pending: list[tuple[int, int, ExecuteTask]] = []
        self._seq = itertools.count()
        self._events: list[Event] = []
        self._started = False
        self._current: RunningTry | None = None

    def start(self) -> None:
        self._started = True

    def queue_workload(self, workload: ExecuteTask) -> bool:
        if not self._started:
            raise ExecutorError("the inline executor is not running (start() it first)")
        if any(w.key == workload.key for _, _, w in self._pending):
            return False
        heapq.heappush(self._pending, (-workload.priority_weight, next(self._seq), workload))
        return True

    @property
    def open_slots(self) -> int:
        return 0 if self._pending else 1

    def get_events(self) -> list[Event]:
        self._run_pending()
        events, self._events = self._events, []
        return events

    def wait_for_event(self, timeout: float | None = None) -> bool:
        self._run_pending()
        return bool(self._events)

    def wake(self) -> None:
        pass

    def running(self) -> list[RunningTry]:
        return [self._current] if self._current else []

    def cancel(self, ti_id: str) -> bool:
        for i, (_, _, w) in enumerate(self._pending):
            if w.ti_id == ti_id:
                self._pending.pop(i)
                heapq.heapify(self._pending)
                now = datetime.now(UTC)
                self._events.append(
                    TaskOutcomeEvent.crash(w, "cancelled before it started", None, now)
                )
                return True
        return False

    def heartbeat(self) -> None:
        self._run_pending()

    def end(self, timeout: float | None = None) -> None:
        self._run_pending()
        self._started = False

    def terminate(self) -> None:
        self._pending.clear()
        self._started = False

    def _run_pending(self) -> None:
        while self._pending:
            _, _, workload = heapq.heappop(self._pending)
            self._run(workload)

    def _run(self, w: ExecuteTask) -> None:
        started = datetime.now(UTC)
        pid, host = os.getpid(), socket.gethostname()
        self._current = RunningTry(w.ti_id, w.try_number, pid, pid, started, started)
        self._events.append(
            TaskStartedEvent(
                ti_id=w.ti_id, try_number=w.try_number, start_date=started, pid=pid, hostname=host
            )
        )
        try:
            with TryLogWriter(resolve_log_path(logs_folder(), w.log_path)) as log:
                try:
                    dag = self.cache.get_dag(w.dag_file, w.dag_file_hash, w.dag_id, w.dags_folder)
                    task = dag.get_task(w.task_id)
                except (Exception, SystemExit) as err:
                    error = "".join(traceback.format_exception(err)).rstrip()
                    log.write_line(format_line("ERROR", f"Could not load the task:\n{error}"))
                    self._events.append(
                        TaskOutcomeEvent.crash(
                            w, error, started, datetime.now(UTC), pid=pid, hostname=host
                        )
                    )
                    return
                outcome = run_task_try(
                    task,
                    dag_run_info(w),
                    client=ServicesClient(self.services),
                    map_index=w.map_index,
                    try_number=w.try_number,
                    log_sink=log.write_line,
                    mapped_upstreams=self.cache.mapped_task_ids(dag),
                    max_tries=w.max_tries,
                    clear_xcom=not w.xcom_cleared,
                    resume=resume_of(w),
                    first_reschedule_date=w.first_reschedule_date,
                    reschedule_count=w.reschedule_count,
                )
        finally:
            self._current = None
        self._events.append(outcome_event(w, outcome, pid, host))
