"""``tradewind connections ...`` and ``rotate-fernet-key`` through the CLI, on SQLite and
PostgreSQL."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tradewind.cli import main as cli_main
from tradewind.cli.main import main
from tradewind.db import migrate
from tradewind.db.models import Connection, Variable
from tradewind.db.session import get_engine
from tradewind.secrets.encryption import generate_key

KEY = generate_key()
URI = "postgres://me:s%40fe-pw@db.local:5432/sales?sslmode=require&api_key=k123"


@pytest.fixture(autouse=True)
def _wired(monkeypatch: pytest.MonkeyPatch) -> None:
    """Add the command groups if cli/main.py does not yet (a no-op once it does)."""
    from tradewind.cli import connections, variables

    build = cli_main.build_parser

    def build_parser() -> argparse.ArgumentParser:
        parser = build()
        groups = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "connections" not in groups.choices:
            connections.add_parsers(groups)
        if "variables" not in groups.choices:
            variables.add_parsers(groups)
        return parser

    monkeypatch.setattr(cli_main, "build_parser", build_parser)


@pytest.fixture
def db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", db_url)
    monkeypatch.setenv("TRADEWIND__CORE__FERNET_KEY", KEY)
    migrate.upgrade(get_engine(db_url))
    yield db_url


def stored(url: str) -> dict[str, Connection]:
    with Session(get_engine(url)) as s:
        return {c.conn_id: c for c in s.scalars(select(Connection))}


def get_json(conn_id: str, capsys, *extra: str) -> dict:
    capsys.readouterr()
    assert main(["connections", "get", conn_id, "-o", "json", *extra]) == 0
    [row] = json.loads(capsys.readouterr().out)
    return row


def test_add_from_a_uri_get_masked_and_revealed(db: str, capsys) -> None:
    assert main(["connections", "add", "sales_db", "--conn-uri", URI]) == 0
    out = capsys.readouterr().out
    assert "Successfully added `conn_id`=sales_db" in out
    assert "s@fe-pw" not in out and "k123" not in out and "sslmode" in out
    row = stored(db)["sales_db"]
    assert row.is_encrypted and row.is_extra_encrypted
    assert "s@fe-pw" not in (row.password or "") and "k123" not in (row.extra or "")

    shown = get_json("sales_db", capsys)
    assert shown["password"] == "***"
    assert shown["extra_dejson"] == {"sslmode": "require", "api_key": "***"}
    assert shown["get_uri"] == ("postgres://me:***@db.local:5432/sales?sslmode=require&api_key=***")
    assert (shown["conn_type"], shown["host"], shown["port"], shown["schema"]) == (
        "postgres",
        "db.local",
        5432,
        "sales",
    )
    assert shown["is_encrypted"] is True
    revealed = get_json("sales_db", capsys, "--show-secrets")
    assert revealed["password"] == "s@fe-pw"
    assert revealed["extra_dejson"]["api_key"] == "k123"
    assert revealed["get_uri"] == URI

    assert main(["connections", "get", "sales_db"]) == 0
    table = capsys.readouterr().out
    assert "s@fe-pw" not in table and "***" in table


def test_add_from_fields_and_from_json_then_list_and_delete(db: str, capsys) -> None:
    assert (
        main(
            [
                "connections",
                "add",
                "api",
                "--conn-type",
                "http",
                "--conn-host",
                "api.example.com",
                "--conn-login",
                "bot",
                "--conn-password",
                "hunter22",
                "--conn-port",
                "443",
                "--conn-extra",
                '{"timeout": 5, "headers": {"Authorization": "Bearer x"}}',
                "--conn-description",
                "the API",
            ]
        )
        == 0
    )
    conn_json = json.dumps({"conn_type": "s3", "extra": {"region": "eu"}, "login": "AKIA"})
    assert main(["connections", "add", "files", "--conn-json", conn_json]) == 0
    assert main(["connections", "add", "plain", "--conn-type", "ftp"]) == 0
    api = get_json("api", capsys)
    assert api["description"] == "the API" and api["port"] == 443
    assert api["extra_dejson"] == {"timeout": 5, "headers": {"Authorization": "***"}}
    assert get_json("files", capsys)["extra_dejson"] == {"region": "eu"}
    assert get_json("plain", capsys)["password"] is None

    assert main(["connections", "list", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"conn_id": "api", "conn_type": "http"},
        {"conn_id": "files", "conn_type": "s3"},
        {"conn_id": "plain", "conn_type": "ftp"},
    ]
    assert main(["connections", "list", "--show-values", "-o", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["password"] for r in listed] == ["***", None, None]
    assert main(["connections", "list", "--show-values", "--show-secrets", "-o", "plain"]) == 0
    assert "hunter22" in capsys.readouterr().out
    assert main(["connections", "list", "--hide-sensitive"]) == 2

    assert main(["connections", "delete", "api"]) == 0
    assert "Successfully deleted connection with `conn_id`=api" in capsys.readouterr().out
    assert main(["connections", "delete", "api"]) == 1
    assert "Did not find a connection with `conn_id`=api" in capsys.readouterr().err
    assert main(["connections", "get", "api"]) == 1
    assert sorted(stored(db)) == ["files", "plain"]


def test_a_duplicate_conn_id_is_refused_and_changes_nothing(db: str, capsys) -> None:
    main(["connections", "add", "dup", "--conn-uri", "mysql://a:first-pw@h/db"])
    capsys.readouterr()
    assert main(["connections", "add", "dup", "--conn-uri", "mysql://b:second@h2/db"]) == 1
    assert "A connection with `conn_id`=dup already exists." in capsys.readouterr().err
    shown = get_json("dup", capsys, "--show-secrets")
    assert (shown["login"], shown["password"], shown["host"]) == ("a", "first-pw", "h")


BAD_INPUT = [
    (["--conn-uri", "mysql://h", "--conn-host", "x"], "cannot be combined with --conn-host"),
    (["--conn-uri", "mysql://h", "--conn-json", "{}"], "one of --conn-uri and --conn-json"),
    (["--conn-json", '{"conn_type": "x"}', "--conn-extra", "{}"], "--conn-extra"),
    (["--conn-json", "{not json"], "invalid JSON"),
    (["--conn-json", '{"host": "h"}'], "conn_type is required"),
    (["--conn-uri", "no-scheme"], "not a URI"),
    (["--conn-uri", "mysql://h:notaport/db"], "port"),
    (["--conn-type", "http", "--conn-extra", "[1, 2]"], "extra must be a JSON object"),
    (["--conn-type", "http", "--conn-extra", "{oops"], "extra is not valid JSON"),
    (["--conn-type", "http", "--conn-port", "70000"], "between 1 and 65535"),
    (["--conn-type", "with space"], "contains spaces"),
    (["--conn-host", "h"], "give --conn-uri, --conn-json, or --conn-type"),
]


def test_bad_input_is_refused_and_changes_nothing(db: str, capsys) -> None:
    for args, message in BAD_INPUT:
        assert main(["connections", "add", "c1", *args]) == 2, args
        assert message in capsys.readouterr().err
    assert stored(db) == {}


def test_an_invalid_conn_id_is_refused(db: str, capsys) -> None:
    assert main(["connections", "add", "bad/id", "--conn-type", "http"]) == 2
    assert "invalid conn_id" in capsys.readouterr().err
    assert stored(db) == {}


def test_secrets_need_a_key_but_plain_connections_do_not(db: str, monkeypatch, capsys) -> None:
    monkeypatch.delenv("TRADEWIND__CORE__FERNET_KEY")
    assert main(["connections", "add", "pw", "--conn-uri", "mysql://u:pw@h/db"]) == 2
    assert "no Fernet key is configured" in capsys.readouterr().err
    assert main(["connections", "add", "nopw", "--conn-uri", "mysql://u@h/db"]) == 0
    assert list(stored(db)) == ["nopw"]
    assert not stored(db)["nopw"].is_encrypted


def test_rotate_fernet_key_re_encrypts_everything_with_the_first_key(
    db: str, monkeypatch, capsys
) -> None:
    main(["connections", "add", "c", "--conn-uri", "mysql://u:pw-123@h/db?token=t"])
    main(["connections", "add", "bare", "--conn-type", "ftp"])
    main(["variables", "set", "v", "value-1"])
    with Session(get_engine(db)) as s, s.begin():  # one stored in clear, e.g. from elsewhere
        s.execute(
            update(Variable).where(Variable.key == "v").values(val="clear", is_encrypted=False)
        )
    new = generate_key()
    monkeypatch.setenv("TRADEWIND__CORE__FERNET_KEY", f"{new},{KEY}")
    capsys.readouterr()
    assert main(["connections", "rotate-fernet-key"]) == 0
    out = capsys.readouterr().out
    assert "Re-encrypted 1 connection(s) and 0 variable(s)" in out
    assert "Encrypted 0 connection(s) and 1 variable(s) that were stored in clear" in out

    monkeypatch.setenv("TRADEWIND__CORE__FERNET_KEY", new)  # the old key is gone
    assert get_json("c", capsys, "--show-secrets")["password"] == "pw-123"
    assert main(["variables", "get", "v"]) == 0
    assert capsys.readouterr().out == "clear\n"
    monkeypatch.setenv("TRADEWIND__CORE__FERNET_KEY", KEY)
    assert main(["connections", "get", "c"]) == 1
    assert "cannot decrypt the password of connection 'c'" in capsys.readouterr().err

    assert main(["rotate-fernet-key"]) == 1  # Airflow's top-level spelling; KEY opens nothing
    assert "cannot decrypt" in capsys.readouterr().err


def test_rotation_that_cannot_open_a_value_changes_nothing(db: str, monkeypatch, capsys) -> None:
    main(["variables", "set", "a", "1"])
    main(["connections", "add", "c", "--conn-uri", "mysql://u:pw@h/db"])
    before = {c.conn_id: c.password for c in stored(db).values()}
    monkeypatch.setenv("TRADEWIND__CORE__FERNET_KEY", generate_key())
    assert main(["connections", "rotate-fernet-key"]) == 1
    assert {c.conn_id: c.password for c in stored(db).values()} == before


def test_a_tampered_password_is_an_error_not_garbage(db: str, capsys) -> None:
    main(["connections", "add", "c", "--conn-uri", "mysql://u:pw@h/db"])
    with Session(get_engine(db)) as s, s.begin():
        row = s.scalar(select(Connection))
        assert row is not None and row.password is not None
        row.password = (
            row.password[:-6] + ("A" if row.password[-6] != "A" else "B") + row.password[-5:]
        )
    capsys.readouterr()
    assert main(["connections", "get", "c"]) == 1
    assert "altered" in capsys.readouterr().err
    assert main(["connections", "list"]) == 0  # ids and types need no decryption
