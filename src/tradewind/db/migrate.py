"""Schema migrations (Alembic), run from code: ``tradewind db migrate / check / reset``.

Only the commands that write or inspect the schema import this module (and Alembic with it);
the check every other command and service makes before it starts is
:mod:`tradewind.db.schema_version`, one plain ``SELECT``.

>>> from sqlalchemy import create_engine
>>> engine = create_engine("sqlite://")
>>> upgrade(engine)
>>> current_revision(engine) == head_revision()
True
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(connection: object | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration, as Alembic reads it from the scripts (equals
    :data:`tradewind.db.schema_version.HEAD_REVISION`, which a test pins)."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (idempotent)."""
    with engine.begin() as conn:
        command.upgrade(_config(conn), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    with engine.begin() as conn:
        command.downgrade(_config(conn), revision)


def pending_changes(engine: Engine) -> list[object]:
    """Differences between the models and the database schema (empty when in step)."""
    from alembic.autogenerate import compare_metadata

    from tradewind.db.models import Base

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))


def reset(engine: Engine) -> None:
    """Drop every table (ours and Alembic's) and migrate again from nothing."""
    from sqlalchemy import MetaData

    with engine.begin() as conn:
        meta = MetaData()
        meta.reflect(bind=conn)
        meta.drop_all(bind=conn)
    upgrade(engine)


def revision(engine: Engine, message: str) -> None:
    """Write a new migration from the difference between models and ``engine`` (dev tool)."""
    with engine.begin() as conn:
        command.revision(_config(conn), message=message, autogenerate=True)
