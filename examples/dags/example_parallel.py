"""Two tasks in parallel, then a join: ``start >> [left, right] >> join``.

``left`` and ``right`` do not depend on each other, so they run side by side; ``join``
waits for both.
"""

import time
from datetime import datetime

from tradewind.operators import EmptyOperator
from tradewind.sdk import DAG, task

with DAG(
    "example_parallel",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example"],
) as dag:
    start = EmptyOperator(task_id="start")
    join = EmptyOperator(task_id="join")

    @task
    def left() -> str:
        time.sleep(0.1)
        return "left done"

    @task
    def right() -> str:
        time.sleep(0.1)
        return "right done"

    start >> [left(), right()] >> join
