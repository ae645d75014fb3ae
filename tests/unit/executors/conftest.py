"""DAG files and workloads for executor tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tradewind.executors.workload import ExecuteTask, RunData

T = datetime(2024, 3, 5, tzinfo=UTC)

PIPELINE = """
from datetime import timedelta
from tradewind.sdk import dag, task

@dag(schedule=None)
def pipeline():
    @task
    def produce():
        print("producing")
        return {"rows": [1, 2, 3]}

    @task
    def consume(data):
        return sum(data["rows"])

    @task(retries=2, retry_delay=timedelta(seconds=30))
    def flaky():
        raise ValueError("boom")

    consume(produce())
    flaky()

pipeline()
"""


class Workloads:
    """Makes workloads for tasks of one DAG file, with fresh ids."""

    def __init__(self, path: Path, dag_id: str) -> None:
        self.path = path
        self.dag_id = dag_id
        self.n = 0

    def __call__(self, task_id: str, **fields: Any) -> ExecuteTask:
        self.n += 1
        values: dict[str, Any] = {
            "ti_id": f"ti-{task_id}-{self.n}",
            "dag_id": self.dag_id,
            "run_id": "manual__2024-03-05T00:00:00+00:00",
            "task_id": task_id,
            "try_number": 1,
            "dag_file": str(self.path),
            "dag_file_hash": "h1",
            "run": RunData(logical_date=T, data_interval_start=T, data_interval_end=T, run_after=T),
        }
        values.update(fields)
        return ExecuteTask.make(**values)


def write_dag(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


DagFactory = Callable[..., Workloads]


@pytest.fixture
def dag_file(tmp_path: Path) -> DagFactory:
    """``dag_file(dag_id, source)``: writes ``<dag_id>.py``; its :class:`Workloads`."""

    def make(dag_id: str, source: str = PIPELINE) -> Workloads:
        return Workloads(write_dag(tmp_path, f"{dag_id}.py", source), dag_id)

    return make


@pytest.fixture
def pipeline(dag_file: DagFactory) -> Workloads:
    return dag_file("pipeline")
