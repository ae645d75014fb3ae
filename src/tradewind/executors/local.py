"""The local executor: a pool of warm worker processes on this machine.

``workers`` processes start once (setting ``local_executor.workers``, else one per CPU and
at least two, never more than ``core.parallelism``). Each imports Tradewind up front, keeps
the DAG files it has imported (by content hash) and forks a fresh process from itself for
every try (see :mod:`tradewind.execution.worker`), so a try starts in about a millisecond
and nothing a task does outlives it.

One I/O thread here owns the workers: it hands workloads to idle workers (highest
``priority_weight`` first), answers their tasks' requests from the :class:`WorkerServices`
(so those are called from that thread only, one at a time), and turns what they report into
events. Crash-only: a worker that dies, is killed, or stops heartbeating while a try runs has
that try reported ``failed`` with ``crashed=True`` (the scheduler applies retries), and a new
worker takes its place.

>>> from tradewind.executors.memory_services import MemoryWorkerServices
>>> executor = LocalExecutor(MemoryWorkerServices(), workers=2)
>>> executor.open_slots
2
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
from datetime import UTC, datetime

from tradewind import config
from tradewind.execution.comms import Cancel
from tradewind.executors.base import Event, ExecutorError, RunningTry, WorkerServices
from tradewind.executors.local_io import PoolIO
from tradewind.executors.workload import ExecuteTask, TaskOutcomeEvent

log = logging.getLogger(__name__)


def _setting(key: str, default: float) -> float:
    value = config.get("local_executor", key)
    return float(value) if value is not None else default


def default_workers() -> int:
    """``local_executor.workers``; else one per CPU (at least two), capped by
    ``core.parallelism`` when that is set. Each worker runs one try at a time."""
    configured = config.get("local_executor", "workers")
    if configured is not None:
        return int(configured)
    workers = max(2, os.cpu_count() or 2)
    parallelism = config.get("core", "parallelism")
    return min(workers, int(parallelism)) if parallelism else workers


class LocalExecutor:
    """Runs workloads in a pool of local worker processes; see the module docstring.

    ``workers`` (pool size), ``kill_grace`` (seconds after ``execution_timeout`` before a
    stuck try is killed) and ``heartbeat_interval`` default to the ``local_executor``
    settings; ``stale_after`` (seconds without a word from a busy worker before it is
    killed) defaults to six heartbeats plus ``core.dagbag_import_timeout`` (a worker
    importing a DAG file cannot heartbeat).
    """

    def __init__(
        self,
        services: WorkerServices,
        *,
        workers: int | None = None,
        kill_grace: float | None = None,
        heartbeat_interval: float | None = None,
        stale_after: float | None = None,
    ) -> None:
        self.services = services
        self.size = int(workers if workers is not None else default_workers())
        if self.size < 1:
            raise ValueError(f"a local executor needs at least one worker, not {self.size}")
        self.kill_grace = kill_grace if kill_grace is not None else _setting("kill_grace", 5)
        self.heartbeat_interval = heartbeat_interval or _setting("heartbeat_interval", 5)
        import_timeout = float(config.get("core", "dagbag_import_timeout", 30.0))
        self.stale_after = stale_after or 6 * self.heartbeat_interval + import_timeout
        self._cond = threading.Condition()
        self._pending: list[tuple[int, int, ExecuteTask]] = []
        self._seq = itertools.count()
        #: Tries queued or running, by ``(ti_id, try_number)``.
        self._keys: set[tuple[str, int]] = set()
        self._running: dict[tuple[str, int], RunningTry] = {}
        self._events: list[Event] = []
        self._woken = False
        self._accepting = False
        self._io: PoolIO | None = None

    # -- the protocol ----------------------------------------------------------------------
    def start(self) -> None:
        if self._io is not None:
            raise ExecutorError("the local executor was already started")
        self._io = PoolIO(self)
        self._accepting = True
        self._io.start()

    def queue_workload(self, workload: ExecuteTask) -> bool:
        with self._cond:
            if not self._accepting:
                raise ExecutorError("the local executor is not running (start() it first)")
            if workload.key in self._keys:
                return False
            self._keys.add(workload.key)
            heapq.heappush(self._pending, (-workload.priority_weight, next(self._seq), workload))
        assert self._io is not None
        self._io.wake()
        return True

    @property
    def open_slots(self) -> int:
        with self._cond:
            return max(0, self.size - len(self._keys))

    def get_events(self) -> list[Event]:
        with self._cond:
            events, self._events = self._events, []
        return events

    def wait_for_event(self, timeout: float | None = None) -> bool:
        with self._cond:
            self._cond.wait_for(lambda: self._events or self._woken, timeout)
            self._woken = False
            return bool(self._events)

    def wake(self) -> None:
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def running(self) -> list[RunningTry]:
        with self._cond:
            return list(self._running.values())

    def cancel(self, ti_id: str) -> bool:
        with self._cond:
            for i, (_, _, w) in enumerate(self._pending):
                if w.ti_id == ti_id:
                    self._pending.pop(i)
                    heapq.heapify(self._pending)
                    now = datetime.now(UTC)
                    self._finish(
                        TaskOutcomeEvent.crash(w, "cancelled before it started", None, now)
                    )
                    return True
            if not any(key[0] == ti_id for key in self._running):
                return False
        assert self._io is not None
        self._io.command(Cancel(ti_id=ti_id))
        return True

    def heartbeat(self) -> None:
        if self._io is None:
            raise ExecutorError("the local executor was not started")
        self._io.check()

    def end(self, timeout: float | None = None) -> None:
        if self._io is None:
            return
        with self._cond:
            self._accepting = False
            drained = self._cond.wait_for(lambda: not self._keys, timeout)
        self._io.stop(kill=not drained)

    def terminate(self) -> None:
        with self._cond:
            self._accepting = False
        if self._io is not None:
            self._io.stop(kill=True)

    # -- used by the I/O thread ------------------------------------------------------------
    def next_workload(self) -> ExecuteTask | None:
        with self._cond:
            if not self._pending:
                return None
            return heapq.heappop(self._pending)[2]

    def started(self, workload: ExecuteTask, worker_pid: int, event: Event | None) -> None:
        with self._cond:
            now = datetime.now(UTC)
            old = self._running.get(workload.key)
            pid = getattr(event, "pid", None) or (old.pid if old else None)
            start = getattr(event, "start_date", None) or (old.started if old else now)
            self._running[workload.key] = RunningTry(
                workload.ti_id, workload.try_number, pid, worker_pid, start, now
            )
            if event is not None:
                self._events.append(event)
                self._cond.notify_all()

    def seen(self, workload: ExecuteTask) -> None:
        with self._cond:
            old = self._running.get(workload.key)
            if old is not None:
                self._running[workload.key] = RunningTry(
                    old.ti_id, old.try_number, old.pid, old.worker_pid, old.started,
                    datetime.now(UTC),
                )  # fmt: skip

    def finished(self, event: TaskOutcomeEvent) -> None:
        with self._cond:
            self._finish(event)

    def _finish(self, event: TaskOutcomeEvent) -> None:
        key = (event.ti_id, event.try_number)
        if key not in self._keys:
            log.warning("dropping an outcome for a try this executor does not run: %s", key)
            return
        self._keys.discard(key)
        self._running.pop(key, None)
        self._events.append(event)
        self._cond.notify_all()

    def drop_pending(self) -> None:
        """Forget workloads that never started (the DB still says queued: they are resent)."""
        with self._cond:
            for _, _, w in self._pending:
                self._keys.discard(w.key)
            self._pending.clear()
            self._cond.notify_all()

    def __repr__(self) -> str:
        return f"<LocalExecutor workers={self.size} pid={os.getpid()}>"
