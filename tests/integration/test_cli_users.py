"""``tradewind users ...`` through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from tradewind.api.auth.passwords import verify_password
from tradewind.cli.main import main
from tradewind.db import migrate
from tradewind.db.queries.users import find_user
from tradewind.db.session import get_engine


@pytest.fixture
def db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", db_url)
    migrate.upgrade(get_engine(db_url))
    yield db_url


def test_create_list_and_delete_a_user(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["users", "create", "-u", "ann", "-p", "long-enough-pw", "-r", "Op", "-r", "team_a",
         "--email", "ann@example.com"]
    )  # fmt: skip
    assert code == 0
    assert "User ann created with role(s) Op, team_a" in capsys.readouterr().out
    with Session(get_engine(db)) as session:
        row = find_user(session, "ann")
        assert row is not None and row.roles == ["Op", "team_a"]
        assert verify_password(row.password_hash, "long-enough-pw")
        assert "long-enough-pw" not in row.password_hash

    assert main(["users", "list", "-o", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(u["username"], u["roles"], u["email"]) for u in listed] == [
        ("ann", "Op, team_a", "ann@example.com")
    ]
    assert main(["users", "delete", "-u", "ann"]) == 0
    assert main(["users", "delete", "-u", "ann"]) == 1
    assert "User ann does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-u", "bad name", "-p", "long-enough-pw", "-r", "Op"], "invalid user name"),
        (["-u", "bob", "-p", "short", "-r", "Op"], "at least 8 characters"),
        (["-u", "bob", "-p", "long-enough-pw", "-r", "Op;drop"], "invalid role name"),
        (["-u", "bob", "-p", "x", "--use-random-password", "-r", "Op"], "give one of"),
    ],
)
def test_bad_input_is_refused_and_creates_nothing(
    db: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["users", "create", *args]) == 2
    assert message in capsys.readouterr().err
    with Session(get_engine(db)) as session:
        assert find_user(session, "bob") is None


def test_a_duplicate_user_is_refused(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["users", "create", "-u", "ann", "-p", "long-enough-pw", "-r", "Viewer"]) == 0
    assert main(["users", "create", "-u", "ann", "-p", "other-password", "-r", "Admin"]) == 1
    assert "already exists" in capsys.readouterr().err
    with Session(get_engine(db)) as session:
        row = find_user(session, "ann")
        assert row is not None and row.roles == ["Viewer"]


def test_a_random_password_is_printed_once_and_works(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["users", "create", "-u", "ci", "--use-random-password", "-r", "User"]) == 0
    password = capsys.readouterr().out.split("Password: ")[1].strip()
    with Session(get_engine(db)) as session:
        row = find_user(session, "ci")
        assert row is not None and verify_password(row.password_hash, password)


def test_revoke_tokens_replaces_the_signing_key(db: str) -> None:
    from tradewind.api.auth.tokens import read_or_create_key

    with Session(get_engine(db)) as session, session.begin():
        before = read_or_create_key(session)
    assert main(["users", "revoke-tokens"]) == 0
    with Session(get_engine(db)) as session:
        assert read_or_create_key(session) != before
