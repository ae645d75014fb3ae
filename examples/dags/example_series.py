"""Two tasks in series: ``extract >> load``.

Classic operators wired with ``>>``: ``load`` starts only after ``extract`` succeeded
(the default trigger rule, ``all_success``).
"""

from datetime import datetime

from tradewind.operators import BashOperator, PythonOperator
from tradewind.sdk import DAG


def load_rows() -> int:
    print("loading rows into the warehouse")
    return 42


with DAG(
    "example_series",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example"],
) as dag:
    extract = BashOperator(task_id="extract", bash_command="echo extracting")
    load = PythonOperator(task_id="load", python_callable=load_rows)

    extract >> load
