"""A :class:`~tradewind.sdk.secrets_access.SecretsReader` over the metadata DB.

For the service side (the API and its execution endpoints): it returns variables and
connections decrypted, one short read-only session per lookup. Task code never holds DB
credentials; it reads through its execution client, which asks the API, which uses this.

The engine and the encryptor are passed in (:meth:`MetastoreSecretsReader.from_config`
builds both from the settings), so tests and services choose them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tradewind.db.queries import connections, variables
from tradewind.sdk.connection import Connection
from tradewind.secrets.encryption import Encryptor, load_encryptor

if TYPE_CHECKING:
    from tradewind.sdk.secrets_access import SecretsReader


class MetastoreSecretsReader:
    """Variables and connections from the metadata DB, in clear."""

    def __init__(self, engine: Engine, encryptor: Encryptor | None) -> None:
        self._engine = engine
        self._encryptor = encryptor

    @classmethod
    def from_config(cls, url: str | None = None) -> MetastoreSecretsReader:
        """The configured database (``database.url``) and Fernet key(s)."""
        from tradewind.db.session import get_engine

        return cls(get_engine(url), load_encryptor())

    def get_variable(self, key: str) -> str | None:
        with Session(self._engine) as session:
            record = variables.get_variable(session, key, self._encryptor)
        return None if record is None else record.val

    def get_connection(self, conn_id: str) -> Connection | None:
        with Session(self._engine) as session:
            record = connections.get_connection(session, conn_id, self._encryptor)
        return None if record is None else record.to_connection()


if TYPE_CHECKING:

    def _is_a_secrets_reader(reader: MetastoreSecretsReader) -> SecretsReader:
        return reader  # mypy checks the class against the SDK's protocol
