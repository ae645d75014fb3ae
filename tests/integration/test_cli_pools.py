"""``tradewind pools ...`` through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from tradewind.cli import main as cli_main
from tradewind.cli.main import main
from tradewind.db import migrate
from tradewind.db.queries.pools import ensure_default_pool
from tradewind.db.session import get_engine


@pytest.fixture(autouse=True)
def _wired(monkeypatch: pytest.MonkeyPatch) -> None:
    """Add the command group if cli/main.py does not yet (a no-op once it does)."""
    from tradewind.cli import pools

    build = cli_main.build_parser

    def build_parser() -> argparse.ArgumentParser:
        parser = build()
        groups = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "pools" not in groups.choices:
            pools.add_parsers(groups)
        return parser

    monkeypatch.setattr(cli_main, "build_parser", build_parser)


@pytest.fixture
def db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", db_url)
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    with Session(engine) as s, s.begin():
        ensure_default_pool(s)
    yield db_url


def listed(capsys) -> list[dict]:
    capsys.readouterr()
    assert main(["pools", "list", "-o", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_default_pool_exists_once_and_keeps_its_slots(db: str, capsys) -> None:
    default = {
        "pool": "default_pool",
        "slots": 128,
        "description": "Default pool",
        "include_deferred": False,
    }
    assert listed(capsys) == [default]
    assert main(["pools", "set", "default_pool", "16", "Default pool"]) == 0
    with Session(get_engine(db)) as s, s.begin():
        assert ensure_default_pool(s) is False
    assert listed(capsys) == [{**default, "slots": 16}]
    assert main(["pools", "delete", "default_pool"]) == 1
    assert "default_pool cannot be deleted" in capsys.readouterr().err
    assert [p["pool"] for p in listed(capsys)] == ["default_pool"]


def test_set_get_update_list_and_delete(db: str, capsys) -> None:
    assert main(["pools", "set", "etl", "5", "nightly loads"]) == 0
    assert capsys.readouterr().out == "Pool etl created\n"
    assert main(["pools", "set", "etl", "7", "nightly loads", "--include-deferred"]) == 0
    assert capsys.readouterr().out == "Pool etl updated\n"
    assert main(["pools", "set", "unlimited", "-1", "no cap"]) == 0
    assert main(["pools", "get", "etl", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == [
        {"pool": "etl", "slots": 7, "description": "nightly loads", "include_deferred": True}
    ]
    assert [(p["pool"], p["slots"]) for p in listed(capsys)] == [
        ("default_pool", 128),
        ("etl", 7),
        ("unlimited", -1),
    ]
    assert main(["pools", "list"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split(" | ") == [
        "pool        ",
        "slots",
        "description  ",
        "include_deferred",
    ]
    assert main(["pools", "delete", "etl"]) == 0
    assert capsys.readouterr().out == "Pool etl deleted\n"
    assert main(["pools", "delete", "etl"]) == 1
    assert main(["pools", "get", "etl"]) == 1
    assert "Pool etl does not exist" in capsys.readouterr().err


def test_bad_input_is_refused_and_changes_nothing(db: str, capsys) -> None:
    assert main(["pools", "set", "p", "-2", "d"]) == 2
    assert "slots must be a whole number >= 0, or -1" in capsys.readouterr().err
    assert main(["pools", "set", "bad name", "1", "d"]) == 2
    assert "invalid pool name" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["pools", "set", "p", "many", "d"])
    assert exc.value.code == 2
    assert [p["pool"] for p in listed(capsys)] == ["default_pool"]


def test_commands_say_to_migrate_first(db_url: str, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", db_url)
    assert main(["pools", "list"]) == 2
    assert "run 'tradewind db migrate'" in capsys.readouterr().err


def test_an_unreachable_database_is_a_clear_error(monkeypatch, capsys) -> None:
    monkeypatch.setenv(
        "TRADEWIND__DATABASE__URL", "postgresql://someone:hidden-pw@127.0.0.1:9/nowhere"
    )
    assert main(["pools", "list"]) == 1
    err = capsys.readouterr().err
    assert "cannot use the metadata database postgresql+psycopg://someone:***@" in err
    assert "hidden-pw" not in err
