"""The schema is created, checked and reset through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from tradewind.cli.main import main
from tradewind.db import migrate
from tradewind.db.session import get_engine


@pytest.fixture
def configured(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", db_url)
    return db_url


def test_migrate_creates_every_table_and_is_idempotent(configured: str, capsys) -> None:
    assert main(["db", "migrate"]) == 0
    assert "migrated from an empty database" in capsys.readouterr().out
    tables = set(inspect(get_engine(configured)).get_table_names())
    assert {"dag", "dag_run", "task_instance", "xcom", "variable", "connection"} <= tables
    assert main(["db", "migrate"]) == 0
    assert "already at revision" in capsys.readouterr().out


def test_check_fails_before_migrate_and_passes_after(configured: str, capsys) -> None:
    assert main(["db", "check"]) == 1
    assert "run 'tradewind db migrate'" in capsys.readouterr().err
    main(["db", "migrate"])
    assert main(["db", "check"]) == 0
    assert "schema is current" in capsys.readouterr().out


def test_check_reports_a_schema_that_drifted(configured: str, capsys) -> None:
    main(["db", "migrate"])
    with get_engine(configured).begin() as conn:
        conn.execute(text("CREATE TABLE stray_table (id INTEGER PRIMARY KEY)"))
    assert main(["db", "check"]) == 1
    assert "stray_table" in capsys.readouterr().err


def test_reset_needs_confirmation_and_then_empties_the_database(configured: str, capsys) -> None:
    main(["db", "migrate"])
    with get_engine(configured).begin() as conn:
        conn.execute(
            text("INSERT INTO slot_pool (pool, slots, include_deferred) VALUES ('p', 3, false)")
        )
    assert main(["db", "reset"]) == 2
    assert "--yes" in capsys.readouterr().err
    with get_engine(configured).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM slot_pool")).scalar() == 2  # p + default
    assert main(["db", "reset", "--yes"]) == 0
    with get_engine(configured).connect() as conn:
        pools = conn.execute(text("SELECT pool, slots FROM slot_pool")).all()
    assert [tuple(p) for p in pools] == [("default_pool", 128)]
    assert migrate.current_revision(get_engine(configured)) == migrate.head_revision()


def test_migrations_downgrade_to_nothing_and_back(configured: str) -> None:
    engine = get_engine(configured)
    migrate.upgrade(engine)
    migrate.downgrade(engine)
    assert "dag_run" not in inspect(engine).get_table_names()
    migrate.upgrade(engine)
    assert migrate.pending_changes(engine) == []


def test_default_database_is_sqlite_in_tradewind_home(monkeypatch, tmp_path) -> None:
    from tradewind.db.session import database_url

    monkeypatch.setenv("TRADEWIND_HOME", str(tmp_path / "home"))
    assert database_url() == f"sqlite:///{tmp_path / 'home' / 'tradewind.db'}"
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", "postgresql://u:p@h/db")
    assert database_url() == "postgresql+psycopg://u:p@h/db"
