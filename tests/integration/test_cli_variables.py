"""``tradewind variables ...`` through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tradewind.cli import main as cli_main
from tradewind.cli.main import main
from tradewind.db import migrate
from tradewind.db.models import Variable
from tradewind.db.session import get_engine
from tradewind.secrets.encryption import generate_key

KEY = generate_key()


@pytest.fixture(autouse=True)
def _wired(monkeypatch: pytest.MonkeyPatch) -> None:
    """Add the command group if cli/main.py does not yet (a no-op once it does)."""
    from tradewind.cli import variables

    build = cli_main.build_parser

    def build_parser() -> argparse.ArgumentParser:
        parser = build()
        groups = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
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


def rows(url: str) -> dict[str, tuple[str | None, str | None, bool]]:
    with Session(get_engine(url)) as s:
        return {v.key: (v.val, v.description, v.is_encrypted) for v in s.scalars(select(Variable))}


def test_set_get_update_list_and_delete(db: str, capsys) -> None:
    assert main(["variables", "set", "region", "eu-west-1", "--description", "where"]) == 0
    assert main(["variables", "set", "smtp_password", "s3cret"]) == 0
    assert capsys.readouterr().out == "Variable region created\nVariable smtp_password created\n"
    stored = rows(db)
    assert stored["region"][2] and stored["region"][0] != "eu-west-1"  # encrypted at rest
    assert "s3cret" not in str(stored)

    assert main(["variables", "set", "region", "us-east-1"]) == 0
    assert capsys.readouterr().out == "Variable region updated\n"
    assert rows(db)["region"][1] == "where"  # description kept
    assert main(["variables", "get", "region"]) == 0
    assert capsys.readouterr().out == "us-east-1\n"

    assert main(["variables", "list", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"key": "region"}, {"key": "smtp_password"}]
    assert main(["variables", "list", "--show-values", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"key": "region", "val": "us-east-1", "description": "where"},
        {"key": "smtp_password", "val": "***", "description": None},
    ]
    assert main(["variables", "list", "--show-values", "--show-secrets", "-o", "plain"]) == 0
    assert "smtp_password\ts3cret" in capsys.readouterr().out
    assert main(["variables", "list", "--show-values", "--hide-sensitive", "-o", "yaml"]) == 0
    assert 'val: "us-east-1"' not in capsys.readouterr().out
    assert main(["variables", "list", "--show-secrets"]) == 2

    assert main(["variables", "delete", "region"]) == 0
    assert main(["variables", "get", "region"]) == 1
    assert "Variable region does not exist" in capsys.readouterr().err
    assert main(["variables", "delete", "region"]) == 1
    assert list(rows(db)) == ["smtp_password"]


def test_defaults_and_json_values(db: str, capsys) -> None:
    assert main(["variables", "get", "missing", "--default", "fallback"]) == 0
    assert capsys.readouterr().out == "fallback\n"
    assert main(["variables", "set", "cfg", '{"a": [1, 2]}', "--json"]) == 0
    assert main(["variables", "get", "cfg", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1]) == {"a": [1, 2]}
    assert main(["variables", "set", "cfg", "{not json", "--json"]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["variables", "set", "plain", "hello"]) == 0
    assert main(["variables", "get", "plain", "--json"]) == 1
    assert "not valid JSON" in capsys.readouterr().err


def test_bad_keys_are_refused_and_change_nothing(db: str, capsys) -> None:
    for key in ["has space", "../etc", "x" * 251, ""]:
        assert main(["variables", "set", key, "v"]) == 2
        assert "invalid variable key" in capsys.readouterr().err
    assert rows(db) == {}


def test_import_is_checked_whole_then_written_in_one_transaction(
    db: str, tmp_path: Path, capsys
) -> None:
    main(["variables", "set", "existing", "old"])
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(
            {
                "existing": "new",
                "number": 5,
                "obj": {"a": 1},
                "described": {"value": "v", "description": "d"},
            }
        )
    )
    capsys.readouterr()
    assert main(["variables", "import", str(good)]) == 0
    assert "4 of 4 variables imported: 3 created, 1 updated" in capsys.readouterr().out
    assert main(["variables", "get", "number"]) == 0
    assert main(["variables", "get", "described"]) == 0
    assert capsys.readouterr().out == "5\nv\n"
    assert rows(db)["described"][1] == "d"
    before = rows(db)

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"fine": "x", "bad key": "y", "w": {"value": 1, "oops": 2}}))
    assert main(["variables", "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "'bad key'" in err and "oops" in err and "nothing was imported" in err
    (tmp_path / "broken.json").write_text('{"a": ')
    assert main(["variables", "import", str(tmp_path / "broken.json")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    (tmp_path / "list.json").write_text("[1]")
    assert main(["variables", "import", str(tmp_path / "list.json")]) == 2
    assert main(["variables", "import", str(tmp_path / "missing.json")]) == 2
    assert "does not exist" in capsys.readouterr().err

    assert main(["variables", "import", str(good), "-a", "fail"]) == 1
    assert "already exist" in capsys.readouterr().err
    assert main(["variables", "import", str(good), "-a", "skip"]) == 0
    assert "4 skipped" in capsys.readouterr().out
    assert {k: v[:2] for k, v in rows(db).items()} == {k: v[:2] for k, v in before.items()}


def test_export_then_import_round_trips(db: str, tmp_path: Path, capsys) -> None:
    main(["variables", "set", "plain", "hello"])
    main(["variables", "set", "num", "42"])
    main(["variables", "set", "obj", '{"value": 1}', "--description", "tricky"])
    main(["variables", "set", "quoted", '"a string"'])
    out = tmp_path / "vars.json"
    capsys.readouterr()
    assert main(["variables", "export", str(out)]) == 0
    assert "4 variables exported" in capsys.readouterr().out
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    exported = json.loads(out.read_text())
    assert exported["num"] == 42
    assert exported["obj"] == {"value": {"value": 1}, "description": "tricky"}
    assert main(["variables", "export", "-"]) == 0
    assert json.loads(capsys.readouterr().out) == exported

    before = {k: v[:2] for k, v in rows(db).items()}
    with get_engine(db).begin() as conn:
        conn.execute(text("DELETE FROM variable"))
    assert main(["variables", "import", str(out)]) == 0
    capsys.readouterr()
    values = {}
    for key in before:
        main(["variables", "get", key])
        values[key] = capsys.readouterr().out
    assert values == {
        "plain": "hello\n",
        "num": "42\n",
        "obj": '{"value": 1}\n',
        "quoted": '"a string"\n',
    }
    assert rows(db)["obj"][1] == "tricky"


def test_without_a_key_values_are_not_stored(db: str, monkeypatch, tmp_path, capsys) -> None:
    main(["variables", "set", "kept", "v"])
    monkeypatch.delenv("TRADEWIND__CORE__FERNET_KEY")
    capsys.readouterr()
    assert main(["variables", "set", "k", "v"]) == 2
    err = capsys.readouterr().err
    assert "no Fernet key is configured" in err and "TRADEWIND__CORE__FERNET_KEY" in err
    (tmp_path / "f.json").write_text('{"k": "v"}')
    assert main(["variables", "import", str(tmp_path / "f.json")]) == 2
    assert main(["variables", "get", "kept"]) == 2
    assert "is encrypted, but no Fernet key" in capsys.readouterr().err
    assert main(["variables", "list"]) == 0  # keys need no key
    assert list(rows(db)) == ["kept"]


def test_a_wrong_key_is_a_clear_error(db: str, monkeypatch, capsys) -> None:
    main(["variables", "set", "k", "v"])
    other = generate_key()
    monkeypatch.setenv("TRADEWIND__CORE__FERNET_KEY", other)
    capsys.readouterr()
    assert main(["variables", "get", "k"]) == 1
    assert "cannot decrypt variable 'k'" in capsys.readouterr().err
    monkeypatch.setenv("TRADEWIND__CORE__FERNET_KEY", f"{other},{KEY}")
    assert main(["variables", "get", "k"]) == 0
    assert capsys.readouterr().out == "v\n"


def test_the_key_file_of_standalone_is_used(db: str, monkeypatch, capsys) -> None:
    from tradewind.secrets.encryption import ensure_fernet_key

    monkeypatch.delenv("TRADEWIND__CORE__FERNET_KEY")
    ensure_fernet_key()
    assert main(["variables", "set", "k", "v"]) == 0
    assert main(["variables", "get", "k"]) == 0
    assert capsys.readouterr().out.endswith("v\n")


def test_commands_say_to_migrate_first(db_url: str, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", db_url)
    monkeypatch.setenv("TRADEWIND__CORE__FERNET_KEY", KEY)
    assert main(["variables", "list"]) == 2
    assert "has no schema" in capsys.readouterr().err
    assert main(["variables", "set", "k", "v"]) == 2
    assert "run 'tradewind db migrate'" in capsys.readouterr().err
