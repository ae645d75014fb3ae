"""Engines and sessions for the metadata DB.

The URL comes from ``database.url`` (``TRADEWIND__DATABASE__URL``); the default is SQLite
at ``$TRADEWIND_HOME/tradewind.db``. SQLite runs in WAL mode with foreign keys enforced
and a busy timeout, so the scheduler, the API and the CLI can share it.

>>> engine = get_engine("sqlite://")
>>> engine.dialect.name
'sqlite'
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def database_url() -> str:
    """The configured database URL (``postgresql://`` is read as psycopg 3)."""
    from tradewind import config

    url = config.get("database", "url")
    if not url:
        home = config.home()
        home.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{home / 'tradewind.db'}"
    url = str(url)
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL for this process."""
    url = url or database_url()
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                engine = create_engine(url, connect_args={"timeout": 30})
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (after a fork, or at the end of tests)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextlib.contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session committed at the end of the block, rolled back if it raises."""
    factory = sessionmaker(bind=get_engine(url), expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
