"""Data between neighbours with TaskFlow: return a value, pass it to the next task.

Each return value is stored as the task's XCom; passing it as an argument both wires the
dependency (``extract >> transform >> load``) and hands the value over at run time.
A function annotated ``-> dict[...]`` pushes each key separately too
(``multiple_outputs``), so ``summary["total"]`` can feed a task on its own.
Keep these values small (ids, counts, short lists); see
``example_large_data_by_reference.py`` for big ones.
"""

from datetime import datetime

from tradewind.sdk import dag, task


@dag(schedule=None, start_date=datetime(2024, 1, 1), tags=["example"])
def example_taskflow_data():
    @task
    def extract() -> list[int]:
        return [3, 1, 4, 1, 5]

    @task
    def transform(orders: list[int]) -> dict[str, int]:
        return {"count": len(orders), "total": sum(orders)}

    @task
    def load(total: int) -> None:
        print(f"loaded total={total}")
        if total != 14:
            raise ValueError(f"expected a total of 14, got {total}")

    summary = transform(extract())
    load(summary["total"])


example_taskflow_data()
