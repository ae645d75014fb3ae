"""Small data between far-apart tasks: push under a named key, pull it several tasks later.

``start_batch`` pushes a batch id with ``ti.xcom_push(key="batch_id", ...)``; the tasks in
between neither take nor return it; ``publish`` pulls it with
``ti.xcom_pull(task_ids="start_batch", key="batch_id")``. A named key avoids threading
a value through every task's arguments when only the first and the last care about it.
The pull does not add a dependency: ``publish`` must be downstream of the pusher anyway
(here through the chain), or the value may not exist yet.
"""

from datetime import datetime

from tradewind.sdk import DAG, chain, task

with DAG(
    "example_xcom_far_apart",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example"],
) as dag:

    @task
    def start_batch(ti, ts_nodash):
        batch_id = f"batch-{ts_nodash}"
        ti.xcom_push(key="batch_id", value=batch_id)
        ti.xcom_push(key="source", value="orders")
        print(f"started {batch_id}")

    @task
    def clean():
        print("cleaning")

    @task
    def enrich():
        print("enriching")

    @task
    def validate():
        print("validating")

    @task
    def publish(ti):
        batch_id = ti.xcom_pull(task_ids="start_batch", key="batch_id")
        source = ti.xcom_pull(task_ids="start_batch", key="source")
        if not batch_id or source != "orders":
            raise ValueError(f"missing XCom from start_batch: {batch_id!r}, {source!r}")
        print(f"published {source} {batch_id}")

    chain(start_batch(), clean(), enrich(), validate(), publish())
