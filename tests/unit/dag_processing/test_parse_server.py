"""Parsing through a parse server: the same results as parsing here, and a server that dies
or is left mid-request is replaced without losing a file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradewind.dag_processing.parse_server import ParseServer, ParseServerGone
from tradewind.dag_processing.parser import parse_files

GOOD = """
from tradewind.sdk import DAG
from tradewind.operators import EmptyOperator
with DAG("{dag_id}", tags=["t"]):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
"""


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture
def server() -> Iterator[ParseServer]:
    with ParseServer() as running:
        yield running


def by_path(results: Iterator) -> dict:  # type: ignore[type-arg]
    return {r.path: r for r in results}


def test_results_are_those_of_parsing_here(tmp_path: Path, server: ParseServer) -> None:
    files = [
        write(tmp_path, "good.py", GOOD.format(dag_id="one") + GOOD.format(dag_id="two")),
        write(tmp_path, "bad.py", "raise ImportError('nope')\n"),
        write(tmp_path, "dies.py", "import os\nos._exit(3)\n"),
        write(tmp_path, "hangs.py", "import time\ntime.sleep(60)\n"),
        write(tmp_path, "ünï cödé.py", "# ü\n" + GOOD.format(dag_id="three")),
    ]
    remote = by_path(server.parse_files(files, timeout=1, processes=3))
    local = by_path(parse_files(files, timeout=1, processes=3))
    assert sorted(remote) == sorted(local) == sorted(str(f) for f in files)
    for path, result in remote.items():
        assert result.source == local[path].source == Path(path).read_bytes()
        assert [(d.dag_id, d.hash, d.data) for d in result.dags] == [
            (d.dag_id, d.hash, d.data) for d in local[path].dags
        ]
        assert result.error == local[path].error
    assert [d.dag_id for d in remote[str(files[0])].dags] == ["one", "two"]
    assert "ImportError: nope" in (remote[str(files[1])].error or "")
    assert "exit code 3" in (remote[str(files[2])].error or "")
    assert "DagImportTimeout" in (remote[str(files[3])].error or "")


def test_the_dags_folder_is_on_the_files_path(tmp_path: Path, server: ParseServer) -> None:
    write(tmp_path, "helpers.py", "DAG_ID = 'from_helper'\n")
    path = write(tmp_path, "uses.py", "from helpers import DAG_ID\n" + GOOD.format(dag_id="x"))
    [result] = server.parse_files([path], timeout=10, sys_path=[tmp_path])
    assert result.ok, result.error


def test_a_killed_server_is_replaced_between_requests(tmp_path: Path, server: ParseServer) -> None:
    path = write(tmp_path, "good.py", GOOD.format(dag_id="one"))
    [first] = server.parse_files([path], timeout=10)
    pid = server.pid
    assert first.ok and pid is not None
    os.kill(pid, signal.SIGKILL)
    [again] = server.parse_files([path], timeout=10)
    assert again.ok and [d.dag_id for d in again.dags] == ["one"]
    assert server.pid not in (None, pid)


def test_a_server_killed_mid_request_loses_no_file(tmp_path: Path, server: ParseServer) -> None:
    first = write(tmp_path, "a.py", GOOD.format(dag_id="a"))
    slow = write(tmp_path, "b.py", "import time\ntime.sleep(1)\n" + GOOD.format(dag_id="b"))
    results = server.parse_files([first, slow], timeout=10, processes=1)
    assert next(results).path == str(first)
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    [rest] = list(results)
    assert rest.path == str(slow) and [d.dag_id for d in rest.dags] == ["b"]


def test_a_server_that_keeps_dying_is_an_error(
    tmp_path: Path, server: ParseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "good.py", GOOD.format(dag_id="one"))
    monkeypatch.setattr("tradewind.dag_processing.parse_server._BOOT", "import sys; sys.exit(5)")
    with pytest.raises(ParseServerGone):
        list(server.parse_files([path], timeout=10))


def test_stopping_mid_request_leaves_a_usable_server(tmp_path: Path, server: ParseServer) -> None:
    files = [write(tmp_path, f"f{i}.py", GOOD.format(dag_id=f"d{i}")) for i in range(4)]
    results = server.parse_files(files, timeout=10, processes=1)
    next(results)
    results.close()  # the DAG processor was told to stop
    assert server.pid is None
    assert len(list(server.parse_files(files, timeout=10))) == 4


def test_the_server_imports_no_database_code() -> None:
    # It exists to be small: SQLAlchemy and the drivers alone are about 40 MB.
    probe = (
        "import sys; from tradewind.dag_processing.parser import warm_up; warm_up(); "
        "import tradewind.dag_processing.parse_server; "
        "print(sorted(m for m in ('sqlalchemy', 'psycopg', 'alembic', 'fastapi') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_closing_stops_the_process(tmp_path: Path) -> None:
    server = ParseServer()
    list(server.parse_files([write(tmp_path, "g.py", GOOD.format(dag_id="g"))], timeout=10))
    pid = server.pid
    assert pid is not None
    assert server.close() == "exit code 0"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
