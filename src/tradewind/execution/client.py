"""The execution client: everything a running task needs from outside itself.

The task runner talks only to this interface. ``dags test`` uses :class:`InProcessClient`
(an XCom backend and the environment); workers will use a client that speaks to the API
server with a per-try token. Same methods, so what passes locally passes in production.
"""

from __future__ import annotations

from typing import Any, Protocol

from tradewind.sdk.connection import Connection
from tradewind.sdk.secrets_access import EnvSecretsReader, SecretsReader
from tradewind.xcom.base import XComBackend, XComKey


class ExecutionClient(Protocol):
    """What the runner may ask for. ``xcom_get`` raises ``KeyError`` when nothing was pushed."""

    def xcom_set(self, key: XComKey, value: Any) -> None: ...

    def xcom_get(self, key: XComKey) -> Any: ...

    def xcom_get_all(
        self, dag_id: str, run_id: str, task_id: str, key: str
    ) -> list[tuple[int, Any]]: ...

    def xcom_clear(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> None: ...

    def get_variable(self, key: str) -> str | None: ...

    def get_connection(self, conn_id: str) -> Connection | None: ...


class InProcessClient:
    """An execution client backed by objects in this process.

    >>> from tradewind.xcom.memory import MemoryXComBackend
    >>> client = InProcessClient(MemoryXComBackend())
    >>> client.xcom_set(XComKey("d", "r", "t", -1, "k"), 1)
    >>> client.xcom_get(XComKey("d", "r", "t", -1, "k"))
    1
    """

    def __init__(self, xcom: XComBackend, secrets: SecretsReader | None = None) -> None:
        self.xcom = xcom
        self.secrets = secrets or EnvSecretsReader()

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
        return self.secrets.get_variable(key)

    def get_connection(self, conn_id: str) -> Connection | None:
        return self.secrets.get_connection(conn_id)  # type: ignore[no-any-return]
