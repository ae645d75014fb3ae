"""``tradewind dag-processor``: one pass with ``--once``, or a service that stops cleanly."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tradewind.cli.dag_processor import run
from tradewind.db import migrate
from tradewind.db.models import DagModel, ImportError_, Job
from tradewind.db.session import get_engine

GOOD = """
from tradewind.sdk import DAG
from tradewind.operators import EmptyOperator
with DAG("cli_dag"):
    EmptyOperator(task_id="a")
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "good.py").write_text(textwrap.dedent(GOOD))
    (dags / "bad.py").write_text("# dag\nraise ImportError('nope')\n")
    return dags


def test_once_parses_the_folder_and_reports(
    db_url: str,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", db_url)
    args = argparse.Namespace(dags_folder=str(folder), once=True)
    assert run(args) == 2
    assert "tradewind db migrate" in capsys.readouterr().err

    migrate.upgrade(get_engine(db_url))
    assert run(args) == 0
    out, err = capsys.readouterr()
    assert "2 file(s), 1 DAG(s) (1 new, 1 new version(s))" in out
    assert "1 import error(s)" in out and "failed to import" in err
    with Session(get_engine(db_url)) as s:
        assert s.get(DagModel, "cli_dag") is not None
        [error] = s.scalars(select(ImportError_)).all()
        assert error.filename == str(folder / "bad.py")

    missing = argparse.Namespace(dags_folder=str(folder / "nope"), once=True)
    assert run(missing) == 2


def test_the_service_stops_on_sigterm_and_records_it(db_url: str, folder: Path) -> None:
    migrate.upgrade(get_engine(db_url))
    env = {**os.environ, "TRADEWIND__DATABASE__URL": db_url}
    code = (
        "import argparse, sys; from tradewind.cli.dag_processor import run; "
        f"sys.exit(run(argparse.Namespace(dags_folder={str(folder)!r}, once=False)))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            with Session(get_engine(db_url)) as s:
                if s.get(DagModel, "cli_dag") is not None:
                    break
            assert time.monotonic() < deadline, "the DAG never appeared"
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    with Session(get_engine(db_url)) as s:
        [job] = s.scalars(select(Job)).all()
        assert (job.job_type, job.state) == ("DagProcessorJob", "success")
