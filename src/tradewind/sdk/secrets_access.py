"""Where ``Variable`` and ``Connection`` read from.

A running task reads through its execution client (set by the task runner); code outside a
task (a DAG file's top level) reads the environment: ``TRADEWIND_VAR_<KEY>`` and
``TRADEWIND_CONN_<ID>`` (a URI or JSON), as Airflow does with ``AIRFLOW_VAR_``/``AIRFLOW_CONN_``.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from typing import Any, Protocol

VAR_PREFIX = "TRADEWIND_VAR_"
CONN_PREFIX = "TRADEWIND_CONN_"


class SecretsReader(Protocol):
    """Looks up variables (raw strings) and connections (URI or JSON strings) by name."""

    def get_variable(self, key: str) -> str | None: ...

    def get_connection(self, conn_id: str) -> Any: ...


class EnvSecretsReader:
    """Reads ``TRADEWIND_VAR_*`` and ``TRADEWIND_CONN_*`` from the environment."""

    def get_variable(self, key: str) -> str | None:
        return os.environ.get(VAR_PREFIX + key.upper())

    def get_connection(self, conn_id: str) -> Any:
        raw = os.environ.get(CONN_PREFIX + conn_id.upper())
        if raw is None:
            return None
        from tradewind.sdk.connection import Connection

        return Connection.from_env_value(conn_id, raw)


_reader: contextvars.ContextVar[SecretsReader | None] = contextvars.ContextVar(
    "tradewind_secrets_reader", default=None
)


def current_reader() -> SecretsReader:
    return _reader.get() or EnvSecretsReader()


@contextlib.contextmanager
def use_reader(reader: SecretsReader) -> Iterator[None]:
    token = _reader.set(reader)
    try:
        yield
    finally:
        _reader.reset(token)
