"""Parsing a DAG file in a child process: whatever the file does, the parent gets a result."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from tradewind.dag_processing.loader import load_dag_file
from tradewind.dag_processing.parser import parse_file, parse_files
from tradewind.serialization.dag_json import SerializedDAG, dag_hash, serialize_dag

GOOD = """
from tradewind.sdk import DAG
from tradewind.operators import EmptyOperator
with DAG("{dag_id}", tags=["t"]):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
"""


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def test_a_good_file_gives_its_serialized_dags_hash_and_source(tmp_path: Path) -> None:
    path = write(tmp_path, "two.py", GOOD.format(dag_id="one") + GOOD.format(dag_id="two"))
    result = parse_file(path, timeout=10)
    assert result.ok and result.error is None
    assert [d.dag_id for d in result.dags] == ["one", "two"]
    assert result.source == path.read_bytes()
    assert result.source_text is not None and 'DAG("one"' in result.source_text
    for parsed in result.dags:
        assert parsed.hash == dag_hash(parsed.data)
        dag = SerializedDAG.from_dict(parsed.data)
        assert dag.fileloc == str(path)
        assert sorted(dag.task_dict["b"].upstream_task_ids) == ["a"]


def test_the_child_serializes_exactly_as_this_process_would(tmp_path: Path) -> None:
    path = write(tmp_path, "same.py", GOOD.format(dag_id="same"))
    [dag] = load_dag_file(path)
    dag.fileloc = str(path)
    [parsed] = parse_file(path, timeout=10).dags
    assert parsed.hash == dag_hash(serialize_dag(dag))


def test_an_exception_is_an_import_error_with_the_files_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.py", "# dag\nx = 1\nraise RuntimeError('boom')\n")
    result = parse_file(path, timeout=10)
    assert not result.ok and result.dags == []
    assert result.error is not None
    assert result.error.startswith("Traceback")
    assert f'File "{path}", line 3' in result.error
    assert "RuntimeError: boom" in result.error
    assert "loader.py" not in result.error and "<frozen" not in result.error
    assert result.source == path.read_bytes()


def test_a_broken_dag_is_reported_by_its_message(tmp_path: Path) -> None:
    source = """
    from tradewind.sdk import DAG
    from tradewind.operators import EmptyOperator
    with DAG("cyclic"):
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        a >> b >> a
    """
    result = parse_file(write(tmp_path, "cyclic.py", source), timeout=10)
    assert result.error == "DagCycleError: DAG 'cyclic' has a cycle: a >> b >> a"


def test_sys_exit_and_duplicate_dag_ids_are_import_errors(tmp_path: Path) -> None:
    exits = write(tmp_path, "exits.py", "# dag\nimport sys\nsys.exit(4)\n")
    dup = write(tmp_path, "dup.py", GOOD.format(dag_id="twice") + GOOD.format(dag_id="twice"))
    results = {r.path: r for r in parse_files([exits, dup], timeout=10)}
    assert "SystemExit: 4" in (results[str(exits)].error or "")
    assert "'twice' is defined more than once" in (results[str(dup)].error or "")


def test_a_file_that_kills_its_interpreter_is_an_import_error(tmp_path: Path) -> None:
    exits = write(tmp_path, "exit.py", "# dag\nimport os\nos._exit(3)\n")
    segv = write(tmp_path, "segv.py", "# dag\nimport ctypes\nctypes.string_at(0)\n")
    results = {r.path: r for r in parse_files([exits, segv], timeout=10)}
    assert "exit code 3" in (results[str(exits)].error or "")
    assert "SIGSEGV" in (results[str(segv)].error or "")


def test_a_hanging_file_is_stopped_at_the_time_limit(tmp_path: Path) -> None:
    path = write(tmp_path, "hang.py", "# dag\nimport time\nwhile True:\n    time.sleep(0.01)\n")
    started = time.monotonic()
    result = parse_file(path, timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert result.error is not None and "took longer than 0.3 seconds" in result.error


def test_a_file_that_ignores_the_alarm_is_killed(tmp_path: Path) -> None:
    source = (
        "# dag\nimport signal, time\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])\n"
        "while True:\n    time.sleep(0.01)\n"
    )
    path = write(tmp_path, "stubborn.py", source)
    started = time.monotonic()
    result = parse_file(path, timeout=0.2)
    assert time.monotonic() - started < 3
    assert result.error is not None and "was killed" in result.error


def test_many_files_in_parallel_each_get_their_own_result(tmp_path: Path) -> None:
    paths = [write(tmp_path, f"d{i}.py", GOOD.format(dag_id=f"d{i}")) for i in range(6)]
    paths.append(write(tmp_path, "hang.py", "# dag\nimport time\ntime.sleep(30)\n"))
    started = time.monotonic()
    results = list(parse_files(paths, timeout=0.5, processes=3))
    assert time.monotonic() - started < 3
    by_path = {r.path: r for r in results}
    assert len(results) == 7 and set(by_path) == {str(p) for p in paths}
    assert all(by_path[str(p)].ok for p in paths[:-1])
    assert not by_path[str(paths[-1])].ok


def test_files_can_import_helpers_from_the_dags_folder(tmp_path: Path) -> None:
    write(tmp_path, "common/__init__.py", "NAME = 'from_helper'\n")
    source = """
    from common import NAME
    from tradewind.sdk import DAG
    from tradewind.operators import EmptyOperator
    with DAG(NAME):
        EmptyOperator(task_id="a")
    """
    result = parse_file(write(tmp_path, "uses_helper.py", source), timeout=10, sys_path=[tmp_path])
    assert result.error is None
    assert [d.dag_id for d in result.dags] == ["from_helper"]


def test_the_parent_is_untouched_by_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "env.py", "# dag\nimport os\nos.environ['TW_PARSER_LEAK'] = '1'\n")
    result = parse_file(path, timeout=10)
    assert result.ok and result.dags == []
    assert "TW_PARSER_LEAK" not in os.environ


def test_a_missing_file_is_an_import_error(tmp_path: Path) -> None:
    result = parse_file(tmp_path / "nope.py", timeout=10)
    assert result.source is None
    assert result.error is not None and "nope.py" in result.error


def test_the_time_limit_comes_from_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND__CORE__DAGBAG_IMPORT_TIMEOUT", "0.2")
    path = write(tmp_path, "slow.py", "# dag\nimport time\ntime.sleep(5)\n")
    result = parse_file(path)
    assert result.error is not None and "0.2 seconds" in result.error
