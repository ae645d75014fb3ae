"""Shared test fixtures.

Real databases: fixtures use a service at its URL from the environment (default: the
standard local port), create a database per test worker, and skip with the reason when the
service is absent, except under CI (``CI=true``), where a missing service fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from services import POSTGRES_ADMIN_URL, unavailable


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Every test gets its own $TRADEWIND_HOME and no TRADEWIND_* settings from outside."""
    import os

    for key in list(os.environ):
        if key.startswith(("TRADEWIND__", "TRADEWIND_VAR_", "TRADEWIND_CONN_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("TRADEWIND_HOME", str(tmp_path_factory.mktemp("home")))
    yield


pytest_plugins = ["object_storage", "api_server"]  # S3 and GCS servers; the API server


@pytest.fixture(scope="session")
def postgres_database(worker_id: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this test worker; its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    # Unique per test run too, so two suites running at once never share a database.
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:8] or f"p{os.getpid()}"
    name = f"tradewind_test_{run}_{worker_id}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as err:
        admin.dispose()
        unavailable(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {err}")
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    from tradewind.db.session import dispose_engines

    dispose_engines()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated-to-nothing database URL, once per supported database."""
    from sqlalchemy import MetaData

    from tradewind.db.session import get_engine

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tradewind.db'}"
        return
    url = request.getfixturevalue("postgres_database")
    engine = get_engine(url)
    with engine.begin() as conn:
        meta = MetaData()
        meta.reflect(bind=conn)
        meta.drop_all(bind=conn)
    yield url
