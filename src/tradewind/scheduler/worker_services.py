"""What the scheduler side serves to workers: XCom from the metadata DB, and secrets.

Workers never hold DB credentials; the executor forwards their requests here. The method
names are the execution client's (:class:`tradewind.execution.client.ExecutionClient`), so
this object can also serve a task runner in this process directly.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tradewind.db.queries import xcom as xcom_queries
from tradewind.sdk.connection import Connection
from tradewind.sdk.secrets_access import EnvSecretsReader, SecretsReader
from tradewind.xcom.base import XComKey


class DatabaseWorkerServices:
    """XCom in the metadata DB; variables and connections from ``secrets``."""

    def __init__(self, engine: Engine, secrets: SecretsReader | None = None) -> None:
        self.engine = engine
        self.secrets = secrets or EnvSecretsReader()

    def xcom_set(self, key: XComKey, value: Any) -> None:
        with Session(self.engine) as session, session.begin():
            xcom_queries.set_value(session, key, value)

    def xcom_get(self, key: XComKey) -> Any:
        with Session(self.engine) as session:
            return xcom_queries.get_value(session, key)

    def xcom_get_all(
        self, dag_id: str, run_id: str, task_id: str, key: str
    ) -> list[tuple[int, Any]]:
        with Session(self.engine) as session:
            return xcom_queries.get_all(session, dag_id, run_id, task_id, key)

    def xcom_clear(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
        with Session(self.engine) as session, session.begin():
            xcom_queries.clear(session, dag_id, run_id, task_id, map_index)

    def get_variable(self, key: str) -> str | None:
        return self.secrets.get_variable(key)

    def get_connection(self, conn_id: str) -> Connection | None:
        return self.secrets.get_connection(conn_id)  # type: ignore[no-any-return]


class ChainedSecretsReader:
    """Looks in each reader in turn (environment first, then the metadata DB, as Airflow)."""

    def __init__(self, *readers: SecretsReader) -> None:
        self.readers = readers

    def get_variable(self, key: str) -> str | None:
        for reader in self.readers:
            value = reader.get_variable(key)
            if value is not None:
                return value
        return None

    def get_connection(self, conn_id: str) -> Any:
        for reader in self.readers:
            conn = reader.get_connection(conn_id)
            if conn is not None:
                return conn
        return None


def service_secrets(engine: Engine) -> SecretsReader:
    """What workers of a running service read secrets from: env vars, then the DB."""
    from tradewind.secrets.encryption import load_encryptor
    from tradewind.secrets.metastore import MetastoreSecretsReader

    return ChainedSecretsReader(
        EnvSecretsReader(), MetastoreSecretsReader(engine, load_encryptor())
    )
