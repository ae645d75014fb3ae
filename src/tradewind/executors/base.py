"""The executor contract: the scheduler hands over workloads and gets events back.

Why a small protocol: the scheduler must not care where a try runs (this process, a pool of
local workers, Celery), and must never wait on a worker. So:

- :meth:`Executor.queue_workload` never blocks; the executor runs the workload when it has a
  free slot (highest ``priority_weight`` first).
- Events (a :class:`~tradewind.executors.workload.TaskStartedEvent` when the try's process
  starts, which a try that fails before that lacks, then exactly one
  :class:`~tradewind.executors.workload.TaskOutcomeEvent`) are collected with
  :meth:`Executor.get_events`; :meth:`Executor.wait_for_event` blocks until there is one, so
  the scheduler wakes when a task finishes instead of sleeping on a timer.
- An event is a hint, not the truth: the scheduler records it with a compare-and-set, and
  anything the DB says is queued or running without a live try is sent again or failed.
- Every try queued gets exactly one outcome while the executor lives, even when its process
  or worker dies (``crashed=True``). Workloads still waiting when the executor is
  terminated get none: the DB still says ``queued``, and the scheduler queues them again.

Workers never hold DB credentials. What a running task asks for (XCom, variables,
connections, triggering another DAG and reading a run's state) comes to the executor, which
asks the :class:`WorkerServices` the scheduler side gave it; its methods are the execution
client's, so the same object also serves a task runner in this process (the inline executor,
``dags test``).

Typical use by a scheduler loop::

    executor.start()
    while running:
        executor.wait_for_event(timeout=seconds_until_next_deadline)
        for event in executor.get_events():
            record(event)              # CAS on (ti_id, try_number)
        for workload in ready_workloads(limit=executor.open_slots):
            executor.queue_workload(workload)
        executor.heartbeat()
    executor.end(timeout=30)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

# DagRunAlreadyExists lived here; re-exported so ``tradewind.executors.base`` imports still work.
from tradewind.exceptions import DagRunAlreadyExists as DagRunAlreadyExists
from tradewind.executors.workload import ExecuteTask, TaskOutcomeEvent, TaskStartedEvent
from tradewind.sdk.connection import Connection
from tradewind.xcom.base import XComKey

Event = TaskStartedEvent | TaskOutcomeEvent


class ExecutorError(RuntimeError):
    """The executor cannot go on (a worker pool that cannot start, an I/O thread that died)."""


@runtime_checkable
class WorkerServices(Protocol):
    """What the scheduler side serves to running tasks. Called from one executor thread at
    a time.

    XCom values come and go *encoded* (the typed JSON codec's text, see
    :mod:`tradewind.serialization.codec`): the task encodes what it pushes and decodes what
    it pulls, and the scheduler side only stores and returns text, so a value is never
    decoded and encoded again on its way. ``xcom_get_encoded`` raises ``KeyError`` when
    nothing was pushed.
    """

    def xcom_set_encoded(self, key: XComKey, data: str) -> None: ...

    def xcom_get_encoded(self, key: XComKey) -> str: ...

    def xcom_get_all_encoded(
        self, dag_id: str, run_id: str, task_id: str, key: str
    ) -> list[tuple[int, str]]: ...

    def xcom_clear(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> None: ...

    def get_variable(self, key: str) -> str | None: ...

    def get_connection(self, conn_id: str) -> Connection | None: ...

    def trigger_dag_run(
        self,
        dag_id: str,
        run_id: str,
        conf: dict[str, Any] | None,
        logical_date: datetime | None,
        reset_dag_run: bool,
        note: str | None,
    ) -> str:
        """Create a run of ``dag_id`` (``TriggerDagRunOperator``); return its run id.

        ``conf`` is checked against the DAG's params (``ValueError``); an unknown DAG raises
        ``KeyError``; a run that already exists raises :class:`DagRunAlreadyExists`, unless
        ``reset_dag_run``: then that run is cleared to run again (its conf is kept).
        """
        ...

    def get_dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        """The state of a run (``queued``, ``running``, ``success``, ``failed``), or ``None``
        when there is no such run."""
        ...


@dataclass(frozen=True)
class RunningTry:
    """A try the executor is running now (for leases: the scheduler may refresh
    ``last_heartbeat_at`` of these task instances from ``last_seen``)."""

    ti_id: str
    try_number: int
    pid: int | None
    worker_pid: int | None
    started: datetime
    last_seen: datetime


class Executor(Protocol):
    """Runs workloads somewhere and reports how each try went.

    An executor whose tasks run on other hosts says so with a class attribute
    ``runs_on_other_hosts = True`` (the scheduler then refuses a local XCom folder).
    """

    def start(self) -> None:
        """Get ready to run (start workers). Call once before anything else."""

    def queue_workload(self, workload: ExecuteTask) -> bool:
        """Run ``workload`` when a slot is free; ``False`` when that try is already queued or
        running here (the call is then a no-op). Never blocks."""

    @property
    def open_slots(self) -> int:
        """How many more workloads would start at once (the scheduler queues at most this)."""

    def get_events(self) -> list[Event]:
        """Every event since the last call, in the order they happened. Never blocks."""

    def wait_for_event(self, timeout: float | None = None) -> bool:
        """Block until an event is waiting (``True``), :meth:`wake` is called or ``timeout``
        seconds pass (``False`` unless an event arrived meanwhile)."""

    def wake(self) -> None:
        """Make a :meth:`wait_for_event` in another thread return now (a run was created)."""

    def running(self) -> list[RunningTry]:
        """The tries running now."""

    def cancel(self, ti_id: str) -> bool:
        """Stop a queued or running try of ``ti_id`` (it ends ``failed``, ``crashed``)."""

    def heartbeat(self) -> None:
        """Housekeeping the caller's loop drives; raises :class:`ExecutorError` if broken."""

    def end(self, timeout: float | None = None) -> None:
        """Finish what was queued (waiting at most ``timeout`` seconds, then terminate) and
        stop. Events stay readable with :meth:`get_events`."""

    def terminate(self) -> None:
        """Stop now: running tries are killed and reported failed (``crashed``)."""
