"""``tradewind api-server`` as a user runs it: a real process serving until SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from tradewind.db import migrate
from tradewind.db.session import get_engine


def _env(home: Path, db_url: str, key: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWIND__")}
    env.update(TRADEWIND_HOME=str(home), TRADEWIND__DATABASE__URL=db_url)
    if key:
        env["TRADEWIND__CORE__FERNET_KEY"] = Fernet.generate_key().decode()
    return env


def _api_server(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tradewind.cli.main", "api-server", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_it_serves_until_sigterm(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'tw.db'}"
    migrate.upgrade(get_engine(db_url))
    proc = _api_server(_env(tmp_path, db_url), "--port", "0")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Tradewind API on http://127.0.0.1:"), line
        base = line.split()[3]
        health = httpx.get(f"{base}/api/v2/monitor/health", timeout=10)
        assert health.status_code == 200
        assert httpx.get(f"{base}/api/v2/dags", timeout=10).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    # uvicorn shuts down gracefully, then ends by the signal it caught, as a default handler.
    assert proc.returncode in (0, -signal.SIGTERM)
    assert "Shutting down" in err


def test_a_taken_port_or_a_missing_key_is_a_clear_error(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'tw.db'}"
    migrate.upgrade(get_engine(db_url))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        proc = _api_server(_env(tmp_path, db_url), "--port", port)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in err

    proc = _api_server(_env(tmp_path, db_url, key=False), "--port", "0")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "cannot start the API server" in err and "Fernet key" in err


def test_an_unmigrated_database_is_refused(tmp_path: Path) -> None:
    proc = _api_server(_env(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}"), "--port", "0")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "tradewind db migrate" in err
