"""Worker services kept in memory: for tests, benchmarks and debugging.

XCom lives in a :class:`~tradewind.xcom.memory.MemoryXComBackend`; variables and connections
come from dicts given here, then from the environment (``TRADEWIND_VAR_*``,
``TRADEWIND_CONN_*``). Triggered DAG runs are kept in :attr:`MemoryWorkerServices.dag_runs`
(``queued`` until a test moves them on); any DAG id is accepted and conf is not checked.
What ``ExternalTaskSensor`` sees of other DAGs is set with :meth:`~MemoryWorkerServices.add_dag`
and :meth:`~MemoryWorkerServices.set_run`.

>>> services = MemoryWorkerServices(variables={"region": "eu"})
>>> services.get_variable("region")
'eu'
>>> services.xcom_set(XComKey("d", "r", "t", -1, "k"), [1])
>>> services.xcom_get(XComKey("d", "r", "t", -1, "k"))
[1]
>>> from datetime import UTC, datetime
>>> day = datetime(2024, 1, 1, tzinfo=UTC)
>>> services.set_run("other", day, "running", {"load": "success"})
>>> services.get_external_states("other", [day], ["load"], None).task_states
[{'load': {'success': 1}}]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tradewind.exceptions import DagRunAlreadyExists
from tradewind.executors.base import NO_STATE, ExternalStates
from tradewind.sdk.connection import Connection
from tradewind.sdk.secrets_access import EnvSecretsReader
from tradewind.serialization import codec
from tradewind.xcom.base import XComBackend, XComKey
from tradewind.xcom.memory import MemoryXComBackend


@dataclass
class ExternalDag:
    """A DAG as the memory services know it: its tasks and task groups (full ids)."""

    task_ids: list[str] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)
    deleted: bool = False


@dataclass
class ExternalRun:
    """A run of another DAG: its state and each task's states, one per map index."""

    state: str
    tasks: dict[str, list[str | None]] = field(default_factory=dict)


class MemoryWorkerServices:
    """Implements :class:`~tradewind.executors.base.WorkerServices` in memory."""

    def __init__(
        self,
        xcom: XComBackend | None = None,
        *,
        variables: Mapping[str, str] | None = None,
        connections: Mapping[str, Connection] | None = None,
    ) -> None:
        self.xcom = xcom or MemoryXComBackend()
        self.variables = dict(variables or {})
        self.connections = dict(connections or {})
        #: Triggered runs: ``(dag_id, run_id)`` -> their fields and ``state``.
        self.dag_runs: dict[tuple[str, str], dict[str, Any]] = {}
        #: Other DAGs (``get_external_states``): by DAG id, and their runs by logical date.
        self.external_dags: dict[str, ExternalDag] = {}
        self.external_runs: dict[tuple[str, datetime], ExternalRun] = {}
        self._env = EnvSecretsReader()

    def xcom_set(self, key: XComKey, value: Any) -> None:
        """Store a value (as a task's push would)."""
        self.xcom.set(key, value)

    def xcom_get(self, key: XComKey) -> Any:
        """A stored value, decoded (``KeyError`` if none)."""
        return self.xcom.get(key)

    def xcom_set_encoded(self, key: XComKey, data: str) -> None:
        self.xcom.set(key, codec.decode(data))

    def xcom_get_encoded(self, key: XComKey) -> str:
        return codec.encode(self.xcom.get(key))

    def xcom_get_all_encoded(
        self, dag_id: str, run_id: str, task_id: str, key: str
    ) -> list[tuple[int, str]]:
        return [(i, codec.encode(v)) for i, v in self.xcom.get_all(dag_id, run_id, task_id, key)]

    def xcom_clear(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
        self.xcom.clear(dag_id, run_id, task_id, map_index)

    def get_variable(self, key: str) -> str | None:
        if key in self.variables:
            return self.variables[key]
        return self._env.get_variable(key)

    def get_connection(self, conn_id: str) -> Connection | None:
        if conn_id in self.connections:
            return self.connections[conn_id]
        return self._env.get_connection(conn_id)  # type: ignore[no-any-return]

    def trigger_dag_run(
        self,
        dag_id: str,
        run_id: str,
        conf: dict[str, Any] | None,
        logical_date: datetime | None,
        reset_dag_run: bool,
        note: str | None,
    ) -> str:
        run = self.dag_runs.get((dag_id, run_id))
        if run is not None:
            if not reset_dag_run:
                raise DagRunAlreadyExists(f"DAG {dag_id!r} already has a run with id {run_id!r}")
            run["state"] = "queued"
            return run_id
        self.dag_runs[(dag_id, run_id)] = {
            "conf": dict(conf or {}),
            "logical_date": logical_date,
            "note": note,
            "state": "queued",
        }
        return run_id

    def get_dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        run = self.dag_runs.get((dag_id, run_id))
        return None if run is None else str(run["state"])

    # -- other DAGs, for ExternalTaskSensor ------------------------------------------------
    def add_dag(
        self,
        dag_id: str,
        task_ids: Iterable[str] = (),
        *,
        groups: Mapping[str, Iterable[str]] | None = None,
        deleted: bool = False,
    ) -> None:
        """Make ``dag_id`` known, with its tasks and groups (a group's tasks count as the
        DAG's tasks too); ``deleted`` as if its file no longer defined it."""
        members = {g: list(ids) for g, ids in (groups or {}).items()}
        every = list(dict.fromkeys([*task_ids, *(t for ids in members.values() for t in ids)]))
        self.external_dags[dag_id] = ExternalDag(every, members, deleted)

    def set_run(
        self,
        dag_id: str,
        logical_date: datetime,
        state: str = "running",
        tasks: Mapping[str, str | Sequence[str | None] | None] | None = None,
    ) -> None:
        """Set the run of ``dag_id`` at ``logical_date``: its state and its tasks' states
        (a list for a mapped task, one state per map index). Replaces what was there."""
        states = {
            task_id: [value] if value is None or isinstance(value, str) else list(value)
            for task_id, value in (tasks or {}).items()
        }
        self.external_runs[(dag_id, logical_date)] = ExternalRun(state, states)

    def get_external_states(
        self,
        dag_id: str,
        logical_dates: list[datetime],
        task_ids: list[str] | None,
        task_group_id: str | None,
    ) -> ExternalStates:
        known = self.external_dags.get(dag_id)
        wanted: list[str] = list(task_ids or [])
        group_found: bool | None = None
        if task_group_id is not None:
            members = None if known is None else known.groups.get(task_group_id)
            group_found = members is not None
            wanted += members or []
        runs = [self.external_runs.get((dag_id, when)) for when in logical_dates]
        return ExternalStates(
            dag="missing" if known is None else "deleted" if known.deleted else "active",
            run_states=[None if run is None else run.state for run in runs],
            task_states=[_counts(run, wanted) for run in runs],
            missing_task_ids=[t for t in task_ids or [] if known and t not in known.task_ids],
            task_group_found=group_found,
        )


def _counts(run: ExternalRun | None, task_ids: list[str]) -> dict[str, dict[str, int]]:
    if run is None:
        return {}
    return {
        task_id: dict(Counter(NO_STATE if s is None else s for s in run.tasks[task_id]))
        for task_id in dict.fromkeys(task_ids)
        if run.tasks.get(task_id)
    }
