"""Fan-out and fan-in when one branch fails, and how trigger rules decide what runs.

``start`` fans out to three independent fetches; ``fetch_c`` fails (``retries=0``, so at
once). Then:

* ``merge`` (``trigger_rule="all_done"``) runs once all three are finished, whatever their
  state, and merges what the successful ones returned (a failed task pushed nothing, so
  its pull gives ``None``).
* ``alert`` (``trigger_rule="one_failed"``) runs as soon as any fetch failed; had none
  failed, it would be skipped.
* ``publish`` (default ``all_success``) after ``merge``: runs, since ``merge`` succeeded.

The run's state is decided by its leaves, as in Airflow: ``alert`` and ``publish`` both
succeed, so the run succeeds even though ``fetch_c`` failed. Had a leaf used the default
``all_success`` directly after the fetches, it would be ``upstream_failed`` and the run
would fail.
"""

from datetime import datetime

from tradewind.operators import EmptyOperator
from tradewind.sdk import DAG, task

with DAG(
    "example_fan_out_fan_in_failure",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    default_args={"retries": 0},
    tags=["example"],
) as dag:
    start = EmptyOperator(task_id="start")

    @task
    def fetch_a() -> list[int]:
        return [1, 2]

    @task
    def fetch_b() -> list[int]:
        return [3]

    @task
    def fetch_c() -> list[int]:
        raise ConnectionError("source C is down")

    @task(trigger_rule="all_done")
    def merge(ti) -> list[int]:
        parts = ti.xcom_pull(task_ids=["fetch_a", "fetch_b", "fetch_c"])
        rows = [row for part in parts if part is not None for row in part]
        missing = sum(part is None for part in parts)
        print(f"merged {len(rows)} rows; {missing} source(s) missing")
        return rows

    @task(trigger_rule="one_failed")
    def alert() -> None:
        print("at least one source failed; paging the on-call")

    @task
    def publish(rows: list[int]) -> None:
        print(f"published {rows}")

    fetches = [fetch_a(), fetch_b(), fetch_c()]
    merged = merge()
    start >> fetches
    fetches >> merged
    fetches >> alert()
    publish(merged)
