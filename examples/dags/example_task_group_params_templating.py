"""Task groups, validated params, and Jinja templating.

* ``Param(5, type="integer", minimum=1)``: ``days`` defaults to 5; a run triggered with
  ``--conf '{"days": 0}'`` is rejected before any task starts. Tasks read params as
  ``params.days`` in templates or ``params["days"]`` in Python.
* ``TaskGroup("extract")`` groups tasks visually and prefixes their ids:
  ``extract.orders``, ``extract.customers``. Dependencies on the group apply to all its
  first/last tasks. ``@task_group`` does the same for a function.
* Templated fields (``bash_command``, ``env``, ``op_kwargs``...) are rendered just before
  the task runs: ``{{ ds }}`` is the logical date (``YYYY-MM-DD``),
  ``{{ macros.ds_add(ds, -params.days) }}`` the start of the window,
  ``{{ params.region }}`` a param.
"""

from datetime import datetime

from tradewind.operators import BashOperator, PythonOperator
from tradewind.sdk import DAG, Param, TaskGroup, task, task_group


def summarise(start: str, end: str, days: str) -> str:
    text = f"window {start} .. {end} ({days} days)"
    print(text)
    return text


with DAG(
    "example_task_group_params_templating",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    params={
        "days": Param(5, type="integer", minimum=1, description="How many days to look back"),
        "region": Param("eu", enum=["eu", "us"]),
    },
    tags=["example"],
) as dag:
    with TaskGroup("extract") as extract:
        BashOperator(
            task_id="orders",
            bash_command='echo "orders for $REGION from {{ ds }}"',
            env={"REGION": "{{ params.region }}"},
            append_env=True,
        )
        BashOperator(
            task_id="customers",
            bash_command="echo customers since {{ macros.ds_add(ds, -params.days) }}",
        )

    @task_group
    def transform():
        @task
        def deduplicate(params) -> int:
            return params["days"] * 100

        @task
        def aggregate(rows: int) -> int:
            return rows // 2

        aggregate(deduplicate())

    window = PythonOperator(
        task_id="window",
        python_callable=summarise,
        op_kwargs={
            "start": "{{ macros.ds_add(ds, -params.days) }}",
            "end": "{{ ds }}",
            "days": "{{ params.days }}",
        },
    )

    extract >> transform() >> window
