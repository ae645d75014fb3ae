"""Loading DAG files: each file's failure stays its own, the rest keep working."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tradewind.dag_processing.loader import DagBag
from tradewind.exceptions import UnknownDagError

GOOD = """
from tradewind.sdk import DAG
from tradewind.operators import EmptyOperator
with DAG("{dag_id}"):
    EmptyOperator(task_id="only")
"""


def write(folder: Path, name: str, source: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))


def test_collects_dags_from_nested_files_without_assignment(tmp_path: Path) -> None:
    write(tmp_path, "a.py", GOOD.format(dag_id="a"))
    write(tmp_path, "sub/b.py", GOOD.format(dag_id="b"))
    bag = DagBag.from_folder(tmp_path)
    assert sorted(bag.dags) == ["a", "b"]
    assert bag.import_errors == {}
    assert bag.dags["b"].fileloc == str((tmp_path / "sub" / "b.py").resolve())


def test_a_file_that_raises_is_an_import_error_with_the_traceback(tmp_path: Path) -> None:
    write(tmp_path, "good.py", GOOD.format(dag_id="good"))
    write(tmp_path, "bad.py", "# a dag file\nimport no_such_module_here\n")
    bag = DagBag.from_folder(tmp_path)
    assert list(bag.dags) == ["good"]
    [(path, error)] = bag.import_errors.items()
    assert path.endswith("bad.py")
    assert "ModuleNotFoundError" in error and "no_such_module_here" in error


def test_a_hanging_file_times_out_and_others_load(tmp_path: Path) -> None:
    write(tmp_path, "good.py", GOOD.format(dag_id="good"))
    write(tmp_path, "hang.py", "# dag\nimport time\nwhile True:\n    time.sleep(0.01)\n")
    bag = DagBag.from_folder(tmp_path, timeout=0.5)
    assert list(bag.dags) == ["good"]
    assert "took longer than 0.5 seconds" in bag.import_errors[str(tmp_path / "hang.py")]


def test_duplicate_task_id_is_reported_precisely(tmp_path: Path) -> None:
    write(
        tmp_path,
        "dup.py",
        """
        from tradewind.sdk import DAG
        from tradewind.operators import EmptyOperator
        with DAG("dup"):
            EmptyOperator(task_id="same")
            EmptyOperator(task_id="same")
        """,
    )
    error = DagBag.from_folder(tmp_path).import_errors[str(tmp_path / "dup.py")]
    assert "DuplicateTaskIdError" in error and "'same'" in error


def test_the_same_dag_id_in_two_files_is_an_error_for_the_second(tmp_path: Path) -> None:
    write(tmp_path, "one.py", GOOD.format(dag_id="twin"))
    write(tmp_path, "two.py", GOOD.format(dag_id="twin"))
    bag = DagBag.from_folder(tmp_path)
    assert list(bag.dags) == ["twin"]
    assert "defined in both" in bag.import_errors[str(tmp_path / "two.py")]


def test_files_without_dag_and_ignored_files_are_not_imported(tmp_path: Path) -> None:
    write(tmp_path, "helper.py", "raise RuntimeError('must not be imported')\n")
    write(tmp_path, "skip_me.py", "# dag\nraise RuntimeError('ignored')\n")
    write(tmp_path, ".tradewindignore", "skip_*.py\n")
    write(tmp_path, "real.py", GOOD.format(dag_id="real"))
    bag = DagBag.from_folder(tmp_path)
    assert list(bag.dags) == ["real"]
    assert bag.import_errors == {}


def test_dag_files_can_import_modules_beside_them(tmp_path: Path) -> None:
    write(tmp_path, "shared_helpers_xyz.py", "TASK_ID = 'from_helper'\n")
    write(
        tmp_path,
        "uses_helper.py",
        """
        from shared_helpers_xyz import TASK_ID
        from tradewind.sdk import DAG
        from tradewind.operators import EmptyOperator
        with DAG("uses_helper"):
            EmptyOperator(task_id=TASK_ID)
        """,
    )
    bag = DagBag.from_folder(tmp_path)
    assert bag.dags["uses_helper"].task_ids == ["from_helper"]


def test_unknown_dag_error_lists_what_is_there(tmp_path: Path) -> None:
    write(tmp_path, "a.py", GOOD.format(dag_id="alpha"))
    with pytest.raises(UnknownDagError, match="available: alpha"):
        DagBag.from_folder(tmp_path).get_dag("beta")


def test_a_single_file_can_be_loaded(tmp_path: Path) -> None:
    write(tmp_path, "a.py", GOOD.format(dag_id="alpha"))
    write(tmp_path, "b.py", GOOD.format(dag_id="beta"))
    assert list(DagBag.from_folder(tmp_path / "a.py").dags) == ["alpha"]
