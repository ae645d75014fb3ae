"""Mapped task groups: a whole chain of tasks, copied once per element of a list.

* ``process.expand(file=list_files())``: every task in the ``process`` group gets one copy
  per file (``process.extract[0]``, ``process.load[0]``, ...). Copy ``i`` of ``load`` waits
  for copy ``i`` of ``extract`` only, and gets its value, so one file's chain never waits
  for another's.
* ``audit`` does not use the mapped argument and is still copied once per file; it tells
  the copies apart by ``ti.map_index``.
* ``summarize(loaded)``: a task after the group gets the value of every copy of the group's
  last task, in map-index order (the "reduce" step).
* ``convert.partial(unit="kb").expand(size=[...])``: ``partial`` fixes the arguments that
  are the same for every copy of the group; ``expand`` gives the ones that vary.
* ``copy_table.expand_kwargs([...])``: one dict of arguments per copy of the group.
"""

from datetime import datetime
from typing import Any

from tradewind.sdk import DAG, task, task_group

# Stands in for the files' real sizes.
ROWS_PER_FILE = {"orders.csv": 120, "customers.csv": 80, "items.csv": 150}

with DAG(
    "example_mapped_task_group",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example"],
) as dag:

    @task
    def list_files() -> list[str]:
        return sorted(ROWS_PER_FILE)

    @task
    def extract(file: str) -> int:
        rows = ROWS_PER_FILE[file]
        print(f"{file}: {rows} rows")
        return rows

    @task
    def load(rows: int) -> int:
        print(f"loading {rows} rows")
        return rows

    @task
    def audit(ti: Any = None) -> int:
        print(f"auditing copy {ti.map_index}")
        return int(ti.map_index)

    @task_group
    def process(file: str) -> Any:
        loaded = load(extract(file))
        audit()
        return loaded

    @task
    def summarize(counts: list[int]) -> int:
        result = sum(counts)
        print(f"{len(counts)} files, {result} rows in all")
        if list(counts) != [ROWS_PER_FILE[f] for f in sorted(ROWS_PER_FILE)]:
            raise ValueError(f"unexpected row counts: {list(counts)}")
        return result

    summarize(process.expand(file=list_files()))

    @task
    def to_unit(size: int, unit: str) -> str:
        return f"{size // 1024} {unit}"

    @task_group
    def convert(size: int, unit: str) -> Any:
        return to_unit(size, unit)

    @task
    def check_converted(values: list[str]) -> None:
        print(f"converted: {list(values)}")
        if list(values) != ["1 kb", "2 kb"]:
            raise ValueError(f"expected ['1 kb', '2 kb'], got {list(values)}")

    check_converted(convert.partial(unit="kb").expand(size=[1024, 2048]))

    @task
    def copy(source: str, target: str) -> str:
        print(f"copying {source} -> {target}")
        return target

    @task_group
    def copy_table(source: str, target: str) -> Any:
        return copy(source, target)

    copy_table.expand_kwargs(
        [
            {"source": "raw.orders", "target": "clean.orders"},
            {"source": "raw.items", "target": "clean.items"},
        ]
    )
