"""Worker services kept in memory: for tests, benchmarks and debugging.

XCom lives in a :class:`~tradewind.xcom.memory.MemoryXComBackend`; variables and connections
come from dicts given here, then from the environment (``TRADEWIND_VAR_*``,
``TRADEWIND_CONN_*``).

>>> services = MemoryWorkerServices(variables={"region": "eu"})
>>> services.get_variable("region")
'eu'
>>> services.xcom_set(XComKey("d", "r", "t", -1, "k"), [1])
>>> services.xcom_get(XComKey("d", "r", "t", -1, "k"))
[1]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradewind.sdk.connection import Connection
from tradewind.sdk.secrets_access import EnvSecretsReader
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
        self._env = EnvSecretsReader()

    def xcom_set(self, key: XComKey, value: Any) -> None:
        self.xcom.set(key, value)

    def xcom_get(self, key: XComKey) -> Any:
        return self.xcom.get(key)

    def xcom_get_all(
        self, dag_id: str, run_id: str, task_id: str, key: str
    ) -> list[tuple[int, Any]]:
        return self.xcom.get_all(dag_id, run_id, task_id, key)

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
