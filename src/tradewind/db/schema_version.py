"""Is the metadata DB at the schema this Tradewind needs? Answered without Alembic.

Every command over the metadata DB and every service checks the schema before it starts.
Importing Alembic for that costs more than the rest of a CLI command together (it pulls in
Mako and Pygments), so the check reads Alembic's ``alembic_version`` table with one plain
``SELECT`` and compares it with :data:`HEAD_REVISION`. Writing the schema (``tradewind db
migrate / check / reset``) stays with Alembic in :mod:`tradewind.db.migrate`; a test pins
:data:`HEAD_REVISION` to Alembic's head, so a new migration cannot be forgotten here.

>>> from sqlalchemy import create_engine
>>> engine = create_engine("sqlite://")
>>> current_revision(engine) is None
True
>>> from tradewind.db import migrate
>>> migrate.upgrade(engine)
>>> current_revision(engine) == HEAD_REVISION
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

#: The newest migration in ``db/migrations/versions``: the revision the code expects.
HEAD_REVISION = "0005"

#: Alembic's default version table (``migrations/env.py`` does not rename it).
VERSION_TABLE = "alembic_version"


def current_revision(bind: Engine | Connection) -> str | None:
    """The revision the database is at; ``None`` when it has no schema (no version table,
    or an empty one). Branched histories, which Tradewind does not make, read as their
    revisions joined by ``+`` so they never equal :data:`HEAD_REVISION`."""
    from sqlalchemy import Engine, inspect, text

    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return current_revision(conn)
    # Asking first, rather than catching the error of a SELECT on a missing table, keeps a
    # PostgreSQL transaction usable and tells "no schema" from "database unreachable".
    if not inspect(bind).has_table(VERSION_TABLE):
        return None
    rows = bind.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return "+".join(sorted(rows)) or None


def is_current(bind: Engine | Connection) -> bool:
    """Whether the database is at exactly :data:`HEAD_REVISION`."""
    return current_revision(bind) == HEAD_REVISION
