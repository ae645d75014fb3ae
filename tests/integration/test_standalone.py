"""``tradewind standalone`` as the README runs it: one command, everything up, a DAG file
dropped in the folder runs when triggered, edits are noticed, and SIGTERM stops it all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tradewind.db.models import DagModel, DagRun, ImportError_
from tradewind.db.session import get_engine

DAG_FILE = """
from tradewind.sdk import dag, task

@dag(dag_id="{dag_id}", schedule=None)
def pipeline():
    @task
    def one() -> int:
        return 1

    @task
    def plus(x: int) -> int:
        return x + 1

    plus(one())

pipeline()
"""


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tradewind.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _until(what: str, check: Callable[[], Any], proc: subprocess.Popen[str], limit=60.0) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"standalone exited while waiting for {what}"
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {limit:g} s")


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_standalone_runs_a_dag_follows_edits_and_stops_cleanly(tmp_path: Path, db_url: str) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "first.py").write_text(textwrap.dedent(DAG_FILE.format(dag_id="first")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWIND__")}
    env.update(
        TRADEWIND_HOME=str(tmp_path / "home"),
        TRADEWIND__DATABASE__URL=db_url,
        TRADEWIND__CORE__DAGS_FOLDER=str(dags),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradewind.cli.main", "standalone", "--port", "0", "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    engine = get_engine(db_url)

    def dag_ids() -> set[str]:
        try:
            with Session(engine) as s:
                return set(s.scalars(select(DagModel.dag_id).where(DagModel.is_stale.is_(False))))
        except Exception:
            return set()  # not migrated yet

    try:
        _until("first DAG parsed", lambda: "first" in dag_ids(), proc)
        _cli(env, "dags", "unpause", "first")
        _cli(env, "dags", "trigger", "first", "--run-id", "smoke")

        def run_state() -> str | None:
            with Session(engine) as s:
                state = s.scalar(select(DagRun.state).where(DagRun.run_id == "smoke"))
            return state if state in ("success", "failed") else None

        assert _until("run end", run_state, proc) == "success"

        # Files added while it runs: the folder is watched.
        (dags / "second.py").write_text(textwrap.dedent(DAG_FILE.format(dag_id="second")))
        (dags / "broken.py").write_text("# dag\nraise RuntimeError('broken on purpose')\n")
        _until("second DAG parsed", lambda: "second" in dag_ids(), proc)

        def import_error() -> str | None:
            with Session(engine) as s:
                return s.scalar(
                    select(ImportError_.stacktrace).where(
                        ImportError_.filename == str(dags / "broken.py")
                    )
                )

        assert "broken on purpose" in _until("import error", import_error, proc)
        (dags / "first.py").unlink()
        _until("first DAG stale", lambda: "first" not in dag_ids(), proc)
        helpers = _descendants(proc.pid)
        assert helpers, "standalone started no worker or parse server"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "DAG first from" in out  # the DAG processor's log is shown
    # Nothing it started outlives it: workers, the parse server, task processes.
    time.sleep(0.5)
    assert [pid for pid in helpers if _alive(pid)] == []
