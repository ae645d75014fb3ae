"""The metastore secrets reader returns what the CLI stored, decrypted, on SQLite and
PostgreSQL; ``Variable.get`` and ``Connection.get`` can read through it."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tradewind.db import migrate
from tradewind.db.queries.connections import add_connection
from tradewind.db.queries.variables import set_variable
from tradewind.db.session import get_engine
from tradewind.sdk.connection import Connection
from tradewind.sdk.secrets_access import SecretsReader, use_reader
from tradewind.secrets.encryption import DecryptionError, Encryptor, generate_key
from tradewind.secrets.metastore import MetastoreSecretsReader

KEY = generate_key()


@pytest.fixture
def reader(db_url: str) -> MetastoreSecretsReader:
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    encryptor = Encryptor([KEY])
    with Session(engine) as s, s.begin():
        set_variable(s, "api_token", "t0k3n", encryptor)
        add_connection(
            s, Connection.from_uri("warehouse", "postgres://me:pw@wh:5432/db?x=1"), encryptor
        )
    return MetastoreSecretsReader(engine, encryptor)


def test_reads_variables_and_connections_decrypted(reader: MetastoreSecretsReader) -> None:
    typed: SecretsReader = reader  # it is the protocol the SDK reads through
    assert typed.get_variable("api_token") == "t0k3n"
    assert reader.get_variable("missing") is None
    conn = reader.get_connection("warehouse")
    assert conn is not None
    assert (conn.conn_type, conn.login, conn.password, conn.host, conn.port) == (
        "postgres",
        "me",
        "pw",
        "wh",
        5432,
    )
    assert conn.extra_dejson == {"x": "1"}
    assert reader.get_connection("missing") is None


def test_sdk_lookups_go_through_it(reader: MetastoreSecretsReader) -> None:
    with use_reader(reader):
        assert Connection.get("warehouse").password == "pw"


def test_a_wrong_key_raises_instead_of_returning_garbage(db_url: str, reader) -> None:
    other = MetastoreSecretsReader(get_engine(db_url), Encryptor([generate_key()]))
    with pytest.raises(DecryptionError):
        other.get_variable("api_token")


def test_from_config_uses_the_configured_database_and_key(db_url: str, reader, monkeypatch):
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", db_url)
    monkeypatch.setenv("TRADEWIND__CORE__FERNET_KEY", KEY)
    assert MetastoreSecretsReader.from_config(db_url).get_variable("api_token") == "t0k3n"
