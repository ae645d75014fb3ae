"""Retries: a flaky task fails on its first try and succeeds on the second.

``retries=2`` allows up to three tries; ``retry_delay`` is how long to wait between them
(Airflow's default is 5 minutes; tiny here). ``ti.try_number`` is 1 on the first try, so
the task can tell which try it is on. A task that must not be retried can raise
``TradewindFailException`` to fail at once whatever ``retries`` says.
"""

from datetime import datetime, timedelta

from tradewind.sdk import DAG, task

with DAG(
    "example_retries",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example"],
) as dag:

    @task(retries=2, retry_delay=timedelta(seconds=0.1))
    def call_flaky_api(ti) -> str:
        print(f"try {ti.try_number} of {ti.max_tries + 1}")
        if ti.try_number < 2:
            raise TimeoutError("the API timed out")
        return "200 OK"

    @task
    def use_response(response: str) -> None:
        print(f"got {response}")

    use_response(call_flaky_api())
