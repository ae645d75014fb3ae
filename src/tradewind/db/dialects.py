"""Where SQLite and PostgreSQL differ, in one place.

>>> from sqlalchemy import create_engine
>>> supports_skip_locked(create_engine("sqlite://"))
False
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session


def dialect_name(bind: Engine | Connection | Session) -> str:
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return str(engine.dialect.name)


def supports_skip_locked(bind: Engine | Session) -> bool:
    """``SELECT ... FOR UPDATE SKIP LOCKED``: PostgreSQL yes; SQLite has one writer anyway."""
    return dialect_name(bind) == "postgresql"


def for_update_skip_locked(query: Any, bind: Engine | Session) -> Any:
    """Lock the selected rows so two schedulers never take the same ones (PostgreSQL)."""
    if supports_skip_locked(bind):
        return query.with_for_update(skip_locked=True)
    return query
