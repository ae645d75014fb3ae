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
connections, triggering another DAG, reading a run's state, the states of another DAG's
runs and task instances for ``ExternalTaskSensor``) comes to the executor, which
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
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

# DagRunAlreadyExists lived here; re-exported so ``tradewind.executors.base`` imports still work.
from tradewind.exceptions import DagRunAlreadyExists as DagRunAlreadyExists
from tradewind.executors.workload import ExecuteTask, TaskOutcomeEvent, TaskStartedEvent
from tradewind.sdk.connection import Connection
from tradewind.xcom.base import XComKey

Event = TaskStartedEvent | TaskOutcomeEvent

#: The key under which :attr:`ExternalStates.task_states` counts task instances that have
#: no state yet (SQL ``NULL``; Airflow's execution API calls it ``"null"`` too).
NO_STATE = "null"


class ExternalStates(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the scheduler side knows of another DAG at some logical dates: the answer to
    :meth:`WorkerServices.get_external_states`, as ``ExternalTaskSensor`` needs it.

    ``run_states`` and ``task_states`` have one entry per logical date asked for, in the
    same order: the state of the DAG's run at that date (``None`` when there is none), and
    how many task instances of each asked task are in each state in that run (empty without
    a run, or when no task or group was asked for; ``NO_STATE`` counts instances without a
    state). A mapped task counts each map index.

    ``dag`` is ``"active"``, ``"deleted"`` (its file no longer defines it) or ``"missing"``
    (never parsed). ``missing_task_ids`` lists the asked task ids the DAG's latest version
    lacks; ``task_group_found`` is ``None`` when no group was asked for.

    >>> found = ExternalStates(dag="active", run_states=["success"],
    ...     task_states=[{"load": {"success": 1}}])
    >>> found.task_states[0]["load"]
    {'success': 1}
    """

    dag: Literal["active", "deleted", "missing"]
    run_states: list[str | None]
    task_states: list[dict[str, dict[str, int]]]
    missing_task_ids: list[str] = msgspec.field(default_factory=list)
    task_group_found: bool | None = None


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

    def get_external_states(
        self,
        dag_id: str,
        logical_dates: list[datetime],
        task_ids: list[str] | None,
        task_group_id: str | None,
    ) -> ExternalStates:
        """The runs of ``dag_id`` at ``logical_dates`` (aware datetimes) and the states of
        the task instances of ``task_ids``, or of every task in ``task_group_id`` (as the
        DAG's latest version groups them), in those runs; see :class:`ExternalStates`.
        Without tasks or group, only the runs' states."""
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
