"""Branching with ``@task.branch`` and a join that tolerates the skipped path.

``choose_load`` returns the task id to follow, from the ``load_type`` param
(``"full"`` by default; trigger with ``--conf '{"load_type": "incremental"}'`` for the
other path). The direct downstream task not chosen is *skipped*. ``report`` joins the two
paths with ``trigger_rule="none_failed_min_one_success"``: it runs when nothing upstream
failed and at least one succeeded. With the default ``all_success`` it would be skipped
too, because one of its upstreams always is.
"""

from datetime import datetime

from tradewind.sdk import DAG, Label, Param, task

with DAG(
    "example_branch",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    params={"load_type": Param("full", enum=["full", "incremental"])},
    tags=["example"],
) as dag:

    @task.branch
    def choose_load(params) -> str:
        return "full_load" if params["load_type"] == "full" else "incremental_load"

    @task
    def full_load() -> str:
        return "reloaded every row"

    @task
    def incremental_load() -> str:
        return "loaded new rows"

    @task(trigger_rule="none_failed_min_one_success")
    def report(ti) -> None:
        done = ti.xcom_pull(task_ids=["full_load", "incremental_load"])
        print(f"load finished: {[d for d in done if d]}")

    branch = choose_load()
    join = report()
    branch >> Label("full") >> full_load() >> join
    branch >> Label("incremental") >> incremental_load() >> join
