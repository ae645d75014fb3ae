"""One task: the smallest DAG there is.

``@task`` turns a plain function into a task; calling it inside the DAG adds the task.
Run it with ``tradewind dags test example_single_task --dags-folder examples/dags``.
"""

from datetime import datetime

from tradewind.sdk import DAG, task

with DAG(
    "example_single_task",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example"],
) as dag:

    @task
    def say_hello() -> str:
        print("hello from tradewind")
        return "hello"

    say_hello()
