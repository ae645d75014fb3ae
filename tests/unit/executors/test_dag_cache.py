"""Workers import a DAG file once per content hash and reuse it for every try."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tradewind.exceptions import UnknownDagError
from tradewind.execution.dag_cache import DagFileCache

COUNTING = """
import os
from tradewind.sdk import DAG
from tradewind.operators import EmptyOperator
with open(os.environ["IMPORTS_FILE"], "a") as fh:
    fh.write("imported\\n")
with DAG("counted"):
    EmptyOperator(task_id="only")
"""


def test_a_file_is_imported_once_per_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dag_file: Any
) -> None:
    imports = tmp_path / "imports.txt"
    monkeypatch.setenv("IMPORTS_FILE", str(imports))
    path = str(dag_file("counted", COUNTING).path)
    cache = DagFileCache()
    first = cache.get_dag(path, "h1", "counted")
    assert cache.get_dag(path, "h1", "counted") is first
    assert imports.read_text().count("imported") == 1
    assert cache.get_dag(path, "h2", "counted") is not first  # the file changed: again
    assert (cache.imports, imports.read_text().count("imported")) == (2, 2)


def test_least_recently_used_files_are_dropped(pipeline: Any) -> None:
    path = str(pipeline.path)
    cache = DagFileCache(max_files=2)
    for h in ("a", "b", "a", "c"):
        cache.get_dag(path, h, "pipeline")
    assert cache.is_cached(path, "a") and cache.is_cached(path, "c")
    assert not cache.is_cached(path, "b")


def test_without_a_hash_the_file_on_disk_is_the_key(pipeline: Any) -> None:
    path = str(pipeline.path)
    cache = DagFileCache()
    cache.get_dag(path, "", "pipeline")
    cache.get_dag(path, "", "pipeline")
    assert cache.imports == 1


def test_a_dag_the_file_does_not_define_is_a_clear_error(pipeline: Any) -> None:
    path = str(pipeline.path)
    with pytest.raises(UnknownDagError, match="found: pipeline"):
        DagFileCache().get_dag(path, "h", "nope")


def test_mapped_task_ids_are_known(dag_file: Any) -> None:
    source = """
    from tradewind.sdk import dag, task
    @dag(schedule=None)
    def fan():
        @task
        def square(x):
            return x * x
        square.expand(x=[1, 2])
    fan()
    """
    dag = DagFileCache().get_dag(str(dag_file("fan", source).path), "h", "fan")
    assert DagFileCache().mapped_task_ids(dag) == frozenset({"square"})
