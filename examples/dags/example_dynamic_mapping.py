"""Dynamic task mapping: one task copy per item of a list only known at run time.

* ``count_rows.expand(file=list_files())``: ``list_files`` returns the list when it runs;
  ``count_rows`` gets one copy per file (``count_rows[0]``, ``count_rows[1]``, ...).
* ``total(counts)``: a task that takes a mapped task's output gets the list of all the
  copies' results, in map-index order: the "reduce" step.
* ``scale.partial(factor=10).expand(x=[1, 2, 3])``: ``partial`` fixes the arguments that
  are the same for every copy; ``expand`` gives the ones that vary.
* ``copy_table.expand_kwargs(plan_copies())``: one copy per dict of arguments, when several
  arguments vary together.
* ``BashOperator.partial(task_id=...).expand(bash_command=[...])``: classic operators map
  the same way, over their constructor arguments.
"""

from datetime import datetime

from tradewind.operators import BashOperator
from tradewind.sdk import DAG, task

# Stands in for the files' real sizes.
ROWS_PER_FILE = {"orders.csv": 120, "customers.csv": 80, "items.csv": 150, "returns.csv": 50}

with DAG(
    "example_dynamic_mapping",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example"],
) as dag:

    @task
    def list_files() -> list[str]:
        return sorted(ROWS_PER_FILE)

    @task
    def count_rows(file: str) -> int:
        rows = ROWS_PER_FILE[file]
        print(f"{file}: {rows} rows")
        return rows

    @task
    def total(counts: list[int]) -> int:
        result = sum(counts)
        print(f"{len(counts)} files, {result} rows in all")
        if len(counts) != len(ROWS_PER_FILE) or result != sum(ROWS_PER_FILE.values()):
            raise ValueError(f"unexpected row counts: {list(counts)}")
        return result

    total(count_rows.expand(file=list_files()))

    @task
    def scale(x: int, factor: int) -> int:
        return x * factor

    @task
    def check_scaled(values: list[int]) -> None:
        print(f"scaled: {list(values)}")
        if list(values) != [10, 20, 30]:
            raise ValueError(f"expected [10, 20, 30], got {list(values)}")

    check_scaled(scale.partial(factor=10).expand(x=[1, 2, 3]))

    @task
    def plan_copies() -> list[dict[str, str]]:
        return [
            {"source": "raw.orders", "target": "clean.orders"},
            {"source": "raw.items", "target": "clean.items"},
        ]

    @task
    def copy_table(source: str, target: str) -> str:
        print(f"copying {source} -> {target}")
        return target

    copy_table.expand_kwargs(plan_copies())

    BashOperator.partial(task_id="echo_region").expand(
        bash_command=["echo eu-west", "echo us-east"]
    )
