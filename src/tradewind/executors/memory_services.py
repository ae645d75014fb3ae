"""Worker services kept in memory: for tests, benchmarks and debugging.

XCom lives in a :class:`~tradewind.xcom.memory.MemoryXComBackend`; variables and connections
come from dicts given here, then from the environment (``TRADEWIND_VAR_*``,
``TRADEWIND_CONN_*``). Triggered DAG runs are kept in :attr:`MemoryWorkerServices.dag_runs`
(``queued`` until a test moves them on); any DAG id is accepted and conf is not checked.

>>> services = MemoryWorkerServices(variables={"region": "eu"})
>>> services.get_variable("region")
'eu'
>>> services.xcom_set(XComKey("d", "r", "t", -1, "k"), [1])
>>> services.xcom_get(XComKey("d", "r", "t", -1, "k"))
[1]
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tradewind.exceptions import DagRunAlreadyExists
from tradewind.sdk.connection import Connection
from tradewind.sdk.secrets_access import EnvSecretsReader
from tradewind.serialization import codec
from tradewind.xcom.base import XComBackend, XComKey
from tradewind.xcom.memory import MemoryXComBackend


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
