"""A real API server for tests: uvicorn on a free local port, over SQLite and PostgreSQL.

``api_service`` (one per test module and database) migrates a fresh database, makes one user
per built-in role (``admin``, ``op``, ``user``, ``viewer``, ``public``; password
:data:`PASSWORD`) and serves the app from a thread. ``api`` (per test) empties every table
but the users first, so tests start from nothing, and gives clients by role::

    def test_lists_pools(api: ApiTestEnv) -> None:
        response = api.client("viewer").get("/api/v2/pools")
        assert response.status_code == 200

DAGs come from files: ``api.add_dag_file("name.py", source)`` writes one into the DAGs folder
and parses the folder with the real DAG processor.
"""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, MetaData, create_engine, delete, text

PASSWORD = "password-123"
ROLE_USERS = {"admin": "Admin", "op": "Op", "user": "User", "viewer": "Viewer", "public": "Public"}
#: Tables ``api.reset()`` keeps: the schema version, users and the token key.
KEPT_TABLES = {"alembic_version", "api_user", "api_signing_key"}


@dataclass
class ApiTestEnv:
    base_url: str
    engine: Engine
    db_url: str
    dags_folder: Path
    _tokens: dict[str, str] = field(default_factory=dict)
    _clients: list[httpx.Client] = field(default_factory=list)

    def _client(self, headers: dict[str, str]) -> httpx.Client:
        client = httpx.Client(base_url=self.base_url, headers=headers, timeout=30)
        self._clients.append(client)
        return client

    def token(self, username: str) -> str:
        if username not in self._tokens:
            response = httpx.post(
                f"{self.base_url}/auth/token",
                json={"username": username, "password": PASSWORD},
                timeout=30,
            )
            assert response.status_code == 201, response.text
            self._tokens[username] = response.json()["access_token"]
        return self._tokens[username]

    def client(self, username: str = "admin") -> httpx.Client:
        """A client with a bearer token of ``username`` (``admin``, ``op``, ``user``,
        ``viewer``, ``public``, or one made with :meth:`add_user`)."""
        return self._client({"Authorization": f"Bearer {self.token(username)}"})

    def anonymous(self) -> httpx.Client:
        return self._client({})

    def add_user(self, username: str, roles: list[str]) -> None:
        from sqlalchemy.orm import Session

        from tradewind.api.auth.passwords import hash_password
        from tradewind.db.queries.users import create_user

        with Session(self.engine) as session, session.begin():
            create_user(session, username, hash_password(PASSWORD), roles)

    def add_dag_file(self, filename: str, source: str, *, paused: bool = False) -> None:
        """Write a DAG file and parse the DAGs folder into the DB (the real DAG processor)."""
        from sqlalchemy.orm import sessionmaker

        from tradewind.dag_processing.manager import DagProcessor

        (self.dags_folder / filename).write_text(textwrap.dedent(source))
        DagProcessor(
            self.dags_folder, sessionmaker(bind=self.engine), paused_by_default=paused
        ).process_once()

    def reset(self) -> None:
        """Empty every table but users and the schema version; make default_pool again."""
        from sqlalchemy.orm import Session

        from tradewind.db.queries.pools import ensure_default_pool

        meta = MetaData()
        meta.reflect(bind=self.engine)
        with self.engine.begin() as conn:
            for table in reversed(meta.sorted_tables):
                if table.name not in KEPT_TABLES:
                    conn.execute(delete(table))
        with Session(self.engine) as session, session.begin():
            ensure_default_pool(session)
        for path in self.dags_folder.glob("*"):
            if path.is_file():
                path.unlink()
        for client in self._clients:
            client.close()
        self._clients.clear()


def _database(kind: str, request: pytest.FixtureRequest, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'api.db'}"
        return
    from sqlalchemy.engine import make_url

    from services import POSTGRES_ADMIN_URL, unavailable

    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:8] or f"p{os.getpid()}"
    name = f"tradewind_api_{run}_{worker}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as err:
        admin.dispose()
        unavailable(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {err}")
    yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiTestEnv]:
    from sqlalchemy.orm import Session

    from tradewind.api.auth.passwords import hash_password
    from tradewind.api.server import ApiServer, bind
    from tradewind.api.settings import ApiSettings
    from tradewind.db import migrate
    from tradewind.db.queries.users import create_user
    from tradewind.db.session import get_engine

    tmp = tmp_path_factory.mktemp("api")
    dags = tmp / "dags"
    dags.mkdir()
    databases = _database(request.param, request, tmp)
    url = next(databases)
    engine = get_engine(url)
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        hashed = hash_password(PASSWORD)
        for username, role in ROLE_USERS.items():
            create_user(session, username, hashed, [role])
    settings = getattr(request.module, "API_SETTINGS", ApiSettings())
    server = ApiServer(engine, bind("127.0.0.1", 0), settings, access_log=False)
    thread = server.start_thread()
    deadline = time.monotonic() + 20
    while not server.server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API server did not start"
        time.sleep(0.01)
    env = ApiTestEnv(f"http://127.0.0.1:{server.port}", engine, url, dags)
    try:
        yield env
    finally:
        env.reset()
        server.stop()
        thread.join(timeout=10)
        engine.dispose()
        for _ in databases:
            pass


@pytest.fixture
def api(api_service: ApiTestEnv) -> Iterator[ApiTestEnv]:
    """The module's API server over an emptied database (users kept)."""
    api_service.reset()
    yield api_service


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
