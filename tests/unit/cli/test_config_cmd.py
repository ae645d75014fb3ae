"""``tradewind config list | get-value``: effective values, their source, secrets masked."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from tradewind.cli import main as cli_main
from tradewind.cli.main import main
from tradewind.secrets.encryption import ensure_fernet_key, generate_key


@pytest.fixture(autouse=True)
def _wired(monkeypatch: pytest.MonkeyPatch) -> None:
    """Add the command group if cli/main.py does not yet (a no-op once it does)."""
    from tradewind.cli import config_cmd

    build = cli_main.build_parser

    def build_parser() -> argparse.ArgumentParser:
        parser = build()
        groups = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "config" not in groups.choices:
            config_cmd.add_parsers(groups)
        return parser

    monkeypatch.setattr(cli_main, "build_parser", build_parser)


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("TRADEWIND_HOME", str(tmp_path))
    return tmp_path


def settings(capsys, *args: str) -> dict[tuple[str, str], tuple[object, str]]:
    capsys.readouterr()
    assert main(["config", "list", "-o", "json", *args]) == 0
    return {
        (r["section"], r["key"]): (r["value"], r["source"])
        for r in json.loads(capsys.readouterr().out)
    }


def test_defaults_file_and_environment_in_that_order(home: Path, monkeypatch, capsys) -> None:
    (home / "tradewind.toml").write_text(
        '[core]\ndagbag_import_timeout = 12.5\ndefault_timezone = "Europe/Paris"\n'
        "[extra_section]\nanswer = 42\n"
    )
    monkeypatch.setenv("TRADEWIND__CORE__DEFAULT_TIMEZONE", "Asia/Tokyo")
    monkeypatch.setenv("TRADEWIND__WEBSERVER__PORT", "9090")
    found = settings(capsys)
    assert found[("core", "dags_folder")] == (str(Path.cwd() / "dags"), "default")
    assert found[("database", "url")] == (f"sqlite:///{home / 'tradewind.db'}", "default")
    assert found[("core", "dagbag_import_timeout")] == (12.5, str(home / "tradewind.toml"))
    assert found[("core", "default_timezone")] == (
        "Asia/Tokyo",
        "TRADEWIND__CORE__DEFAULT_TIMEZONE",
    )
    assert found[("extra_section", "answer")][0] == 42
    assert found[("webserver", "port")] == ("9090", "TRADEWIND__WEBSERVER__PORT")


def test_secrets_are_masked(home: Path, monkeypatch, capsys) -> None:
    key = generate_key()
    monkeypatch.setenv("TRADEWIND__CORE__FERNET_KEY", key)
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", "postgresql://tw:db-pw@pg:5432/tradewind")
    (home / "tradewind.toml").write_text(
        '[api]\nsecret_key = "flask-secret"\njwt_secret = "jwt-value"\n'
        '[celery]\nbroker_url = "redis://:redis-pw@cache:6379/0"\n'
        '[secrets]\nbackend_kwargs = "{\\"token\\": \\"t\\"}"\n'
    )
    capsys.readouterr()
    assert main(["config", "list"]) == 0
    out = capsys.readouterr().out
    for secret in [key, "db-pw", "flask-secret", "jwt-value", "redis-pw", '"t"']:
        assert secret not in out
    found = settings(capsys)
    assert found[("core", "fernet_key")][0] == "***"
    assert found[("database", "url")][0] == "postgresql://tw:***@pg:5432/tradewind"
    assert found[("celery", "broker_url")][0] == "redis://:***@cache:6379/0"
    assert found[("api", "secret_key")][0] == "***"


def test_the_key_file_shows_as_the_fernet_keys_source(home: Path, capsys) -> None:
    assert settings(capsys)[("core", "fernet_key")] == (None, "default")
    ensure_fernet_key()
    assert settings(capsys)[("core", "fernet_key")] == ("***", str(home / "fernet.key"))


def test_section_filter(home: Path, capsys) -> None:
    assert {s for s, _ in settings(capsys, "--section", "database")} == {"database"}
    assert main(["config", "list", "--section", "nope"]) == 2
    assert "no section 'nope'; sections: api, core, dag_processor, " in capsys.readouterr().err


def test_get_value_prints_one_value_unmasked(home: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", "postgresql://tw:db-pw@pg/tw")
    assert main(["config", "get-value", "database", "url"]) == 0
    assert main(["config", "get-value", "core", "dagbag_import_timeout"]) == 0
    assert main(["config", "get-value", "core", "dags_folder"]) == 0
    assert capsys.readouterr().out == f"postgresql://tw:db-pw@pg/tw\n30.0\n{Path.cwd() / 'dags'}\n"
    assert main(["config", "get-value", "core", "nope"]) == 1
    assert "no setting 'nope' in section 'core'" in capsys.readouterr().err


def test_an_invalid_toml_file_is_a_clear_error(home: Path, capsys) -> None:
    (home / "tradewind.toml").write_text("[core\n")
    assert main(["config", "list"]) == 2
    assert "tradewind.toml is not valid TOML" in capsys.readouterr().err
    assert main(["config", "get-value", "core", "dags_folder"]) == 2
