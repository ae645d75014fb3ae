"""What a running task sees of its run and of itself: ``dag_run`` and ``ti`` in the context."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tradewind.exceptions import XComError
from tradewind.sdk.map_indexes import in_mapped_group, relevant_map_indexes
from tradewind.xcom.base import RETURN_VALUE, XComKey

if TYPE_CHECKING:
    from tradewind.execution.client import ExecutionClient
    from tradewind.sdk.abstractoperator import AbstractOperator

_NOTSET: Any = object()


@dataclass
class DagRunInfo:
    """The run a task belongs to (``dag_run`` in templates), as plain data."""

    dag_id: str
    run_id: str
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    run_after: datetime
    start_date: datetime | None = None
    end_date: datetime | None = None
    run_type: str = "manual"
    conf: dict[str, Any] = field(default_factory=dict)
    state: str = "running"
    triggered_by: str = "test"

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()
        }


class RuntimeTaskInstance:
    """``ti`` / ``task_instance`` in the context: identity, XCom access, downstream skips,
    and the few services an operator may ask the orchestrator for (:meth:`trigger_dag_run`,
    :meth:`get_dagrun_state`), all through this try's execution client, never a database.
    """

    def __init__(
        self,
        *,
        task: AbstractOperator,
        dag_run: DagRunInfo,
        map_index: int,
        try_number: int,
        client: ExecutionClient,
        mapped_upstreams: frozenset[str] = frozenset(),
    ) -> None:
        self.task = task
        self.dag_id = dag_run.dag_id
        self.run_id = dag_run.run_id
        self.task_id = task.task_id
        self.map_index = map_index
        self.try_number = try_number
        self.max_tries = task.retries
        self.dag_run = dag_run
        self.logical_date = dag_run.logical_date
        self.hostname = socket.gethostname()
        self.state = "running"
        self.start_date: datetime | None = None
        self.rendered_map_index: str | None = None
        self._client = client
        self._mapped_upstreams = mapped_upstreams
        #: Task ids this try asked to skip (branching, short-circuit).
        self.skipped_downstream: list[str] = []
        #: Every XCom key this try pushed (explicitly or as its result), with the value's type
        #: and its length when it is a list, tuple or dict (else ``None``).
        self.pushed: dict[str, tuple[type, int | None]] = {}
        #: When a sensor in reschedule mode first poked, for this try (``None``: now).
        self.first_reschedule_date: datetime | None = None

    def get_first_reschedule_date(self, context: Any = None) -> datetime | None:
        """When this try's first reschedule-mode poke ran (Airflow's name); ``None`` if
        this is the first."""
        return self.first_reschedule_date

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger("tradewind.task")

    # -- XCom --------------------------------------------------------------------------
    def xcom_push(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` for this task instance."""
        if not isinstance(key, str) or not key:
            raise XComError(f"task {self.task_id!r}: XCom key must be a non-empty string")
        try:
            self._client.xcom_set(
                XComKey(self.dag_id, self.run_id, self.task_id, self.map_index, key), value
            )
        except TypeError as err:
            raise XComError(f"task {self.task_id!r} cannot push XCom {key!r}: {err}") from None
        length = len(value) if isinstance(value, (list, tuple, dict)) else None
        self.pushed[key] = (type(value), length)

    def xcom_pull(
        self,
        task_ids: str | Iterable[str] | None = None,
        dag_id: str | None = None,
        key: str = RETURN_VALUE,
        include_prior_dates: bool = False,
        *,
        map_indexes: int | Iterable[int] | None = _NOTSET,
        default: Any = None,
        run_id: str | None = None,
    ) -> Any:
        """Pull values pushed in this run, with Airflow's rules.

        ``task_ids=None`` means this task. Without ``map_indexes``, a task's values across
        map indexes come back: one value as itself, several as a list, none as ``None``.
        With ``map_indexes``, exactly those rows are fetched and missing ones give ``default``.
        """
        dag_id = dag_id or self.dag_id
        run_id = run_id or self.run_id
        single_task = task_ids is None or isinstance(task_ids, str)
        ids: list[str] = (
            [task_ids or self.task_id]
            if task_ids is None or isinstance(task_ids, str)
            else list(task_ids)
        )
        if map_indexes is _NOTSET:
            out: list[Any] = []
            for tid in ids:
                values = [v for _, v in self._client.xcom_get_all(dag_id, run_id, tid, key)]
                if single_task:
                    if not values:
                        return None
                    return values[0] if len(values) == 1 else values
                out.extend(values or [None])
            return out
        single_index = map_indexes is None or isinstance(map_indexes, int)
        indexes: list[int | None] = (
            [map_indexes]
            if map_indexes is None or isinstance(map_indexes, int)
            else list(map_indexes)
        )
        results = []
        for tid in ids:
            for idx in indexes:
                mi = -1 if idx is None else idx
                try:
                    results.append(self._client.xcom_get(XComKey(dag_id, run_id, tid, mi, key)))
                except KeyError:
                    results.append(default)
        return results[0] if single_task and single_index else results

    def resolve_upstream_output(self, task_id: str, key: str) -> Any:
        """An XComArg's value: a mapped producer gives the list of its values (by map index);
        a missing ``return_value`` is ``None``; a missing other key is an error.

        A producer in a mapped task group gives, to a task in the same group, the value of
        the copy that goes with this one; to any other task its values across copies as
        ``xcom_pull`` gives them (one as itself, several as a list, none as ``None``), as
        Airflow does.
        """
        if task_id in self._mapped_upstreams:
            return [v for _, v in self._client.xcom_get_all(self.dag_id, self.run_id, task_id, key)]
        index = -1
        producer = self._dag_task(task_id)
        if producer is not None and in_mapped_group(producer):
            found = relevant_map_indexes(self.task, self.map_index, producer, self.map_length)
            if found is None:
                return self.xcom_pull(task_ids=task_id, key=key)
            if isinstance(found, range):
                return self.xcom_pull(task_ids=task_id, key=key, map_indexes=found)
            index = found
        try:
            return self._client.xcom_get(XComKey(self.dag_id, self.run_id, task_id, index, key))
        except KeyError:
            if key == RETURN_VALUE:
                return None
            raise XComError(
                f"task {self.task_id!r} needs XCom {key!r} from {task_id!r}, which was not pushed"
            ) from None

    def _dag_task(self, task_id: str) -> Any:
        dag = getattr(self.task, "dag", None)
        return dag.task_dict.get(task_id) if dag is not None else None

    def map_length(self, task_id: str, key: str) -> int | None:
        """The length of what ``task_id`` pushed under ``key`` in this run (a mapped or
        grouped producer: how many copies pushed one), or ``None`` when it is no list or
        dict; what sizes mapped task groups nested in others."""
        producer = self._dag_task(task_id)
        if producer is not None and (producer.is_mapped or in_mapped_group(producer)):
            return len(self._client.xcom_get_all(self.dag_id, self.run_id, task_id, key))
        try:
            value = self._client.xcom_get(XComKey(self.dag_id, self.run_id, task_id, -1, key))
        except KeyError:
            return None
        return len(value) if isinstance(value, (list, tuple, dict)) else None

    # -- other DAG runs -----------------------------------------------------------------
    def trigger_dag_run(
        self,
        dag_id: str,
        run_id: str,
        *,
        conf: dict[str, Any] | None = None,
        logical_date: datetime | None = None,
        reset_dag_run: bool = False,
        note: str | None = None,
    ) -> str:
        """Have the orchestrator create run ``run_id`` of DAG ``dag_id``; returns its run id.

        What ``TriggerDagRunOperator`` does (in Airflow 3 the task runner sends its
        supervisor a ``TriggerDagRun`` message). Raises
        :class:`~tradewind.exceptions.DagRunAlreadyExists` when the run id is taken (unless
        ``reset_dag_run``: that run is cleared to run again), ``KeyError`` for an unknown DAG
        and ``ValueError`` for a conf its params refuse. In an operator's ``execute``::

            run_id = context["ti"].trigger_dag_run("target", "manual__x", conf={"n": 1})
        """
        return self._client.trigger_dag_run(dag_id, run_id, conf, logical_date, reset_dag_run, note)

    def get_dagrun_state(self, dag_id: str, run_id: str) -> str | None:
        """The state of run ``run_id`` of DAG ``dag_id`` (Airflow's name for it on the task
        instance), or ``None`` when there is no such run::

            if context["ti"].get_dagrun_state("target", run_id) == "success": ...
        """
        return self._client.get_dag_run_state(dag_id, run_id)

    def get_external_states(
        self,
        dag_id: str,
        logical_dates: list[datetime],
        task_ids: list[str] | None = None,
        task_group_id: str | None = None,
    ) -> Any:
        """Another DAG's runs and task instance states at these logical dates, counted
        (what ``ExternalTaskSensor`` waits on; see
        :class:`~tradewind.executors.base.ExternalStates`)."""
        return self._client.get_external_states(dag_id, logical_dates, task_ids, task_group_id)

    # -- flow control --------------------------------------------------------------------
    def skip_downstream(self, task_ids: list[str]) -> None:
        """Ask the orchestrator to skip these (downstream) tasks once this try ends."""
        self.skipped_downstream.extend(t for t in task_ids if t not in self.skipped_downstream)

    def get_template_context(self) -> Any:
        from tradewind.sdk.context import get_current_context

        return get_current_context()

    def __repr__(self) -> str:
        return (
            f"<TaskInstance: {self.dag_id}.{self.task_id} {self.run_id} "
            f"map_index={self.map_index} try={self.try_number}>"
        )
