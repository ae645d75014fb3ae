"""The cheap schema check that commands and services run before they start, on SQLite and
PostgreSQL: it must agree with Alembic, which writes the schema."""

from __future__ import annotations

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from tradewind.cli.main import main
from tradewind.db import migrate
from tradewind.db.schema_version import HEAD_REVISION, current_revision, is_current
from tradewind.db.session import get_engine


def _scripts() -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.MIGRATIONS))
    return ScriptDirectory.from_config(cfg)


def test_head_revision_is_the_newest_migration() -> None:
    # A new migration must move HEAD_REVISION too, or every command would refuse a database
    # that 'tradewind db migrate' has just brought up to date.
    assert _scripts().get_heads() == [HEAD_REVISION]
    assert migrate.head_revision() == HEAD_REVISION


def test_reads_the_revision_alembic_wrote_at_every_step(db_url: str) -> None:
    engine = get_engine(db_url)
    assert current_revision(engine) is None
    assert not is_current(engine)
    for script in reversed(list(_scripts().walk_revisions())):
        migrate.upgrade(engine, script.revision)
        assert current_revision(engine) == migrate.current_revision(engine) == script.revision
    assert is_current(engine)
    migrate.downgrade(engine)
    assert current_revision(engine) is None  # the version table is there, and empty


def test_a_missing_schema_leaves_the_transaction_usable(db_url: str) -> None:
    # On PostgreSQL a failed statement would abort the transaction the command goes on with.
    with get_engine(db_url).begin() as conn:
        assert current_revision(conn) is None
        assert conn.execute(text("SELECT 1")).scalar() == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["dags", "trigger", "some_dag"],
        ["dags", "list-runs", "some_dag"],
        ["tasks", "states-for-dag-run", "some_dag", "some_run"],
    ],
)
def test_commands_refuse_a_schema_that_is_behind(
    db_url: str, argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    previous = _scripts().get_revision(HEAD_REVISION).down_revision
    if not isinstance(previous, str):
        pytest.skip("only one migration: no schema can be behind")
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", db_url)
    migrate.upgrade(get_engine(db_url), previous)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"is at schema revision {previous}, this Tradewind needs revision {HEAD_REVISION}" in err
    assert "run 'tradewind db migrate'" in err
    main(["db", "migrate"])
    capsys.readouterr()
    assert main(argv) == 1  # past the check: the DAG is not there
    assert "some_dag" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scheduler"], "the metadata database schema is not current"),
        (["dag-processor", "--once"], "the metadata database is not at the current schema"),
    ],
)
def test_services_refuse_to_start_on_a_database_without_the_schema(
    db_url: str, argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", db_url)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "run 'tradewind db migrate'" in err
