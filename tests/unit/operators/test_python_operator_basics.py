"""``PythonOperator`` and ``@task`` basics: arguments, templating, return values.

(Branching and short-circuiting are covered with ``operators/python.py``'s own tests.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tradewind.execution.client import InProcessClient
from tradewind.inprocess import run_dag
from tradewind.operators import PythonOperator
from tradewind.sdk import DAG, task
from tradewind.xcom.base import XComKey
from tradewind.xcom.memory import MemoryXComBackend

LOGICAL = datetime(2024, 3, 5, tzinfo=UTC)


def _run(dag: DAG, **kwargs: Any) -> tuple[Any, MemoryXComBackend]:
    backend = MemoryXComBackend()
    result = run_dag(dag, client=InProcessClient(backend), logical_date=LOGICAL, **kwargs)
    return result, backend


def _xcom(result: Any, backend: MemoryXComBackend, task_id: str, key: str = "return_value") -> Any:
    return backend.get(XComKey(result.dag_id, result.run_id, task_id, -1, key))


def test_op_args_and_op_kwargs_are_passed_and_rendered() -> None:
    with DAG("py_args") as dag:
        PythonOperator(
            task_id="t",
            python_callable=lambda a, b, c=None: [a, b, c],
            op_args=["{{ ds }}", 2],
            op_kwargs={"c": {"day": "{{ ds_nodash }}"}},
        )
    result, backend = _run(dag)
    assert _xcom(result, backend, "t") == ["2024-03-05", 2, {"day": "20240305"}]


def test_templates_dict_is_rendered_and_passed() -> None:
    with DAG("py_templates_dict") as dag:
        PythonOperator(
            task_id="t",
            python_callable=lambda templates_dict: templates_dict["when"],
            templates_dict={"when": "{{ ts }}"},
        )
    result, backend = _run(dag)
    assert _xcom(result, backend, "t") == "2024-03-05T00:00:00+00:00"


def test_return_value_is_logged() -> None:
    with DAG("py_log") as dag:
        PythonOperator(task_id="t", python_callable=lambda: {"rows": 3})
    result, _ = _run(dag)
    assert "Done. Returned value was: {'rows': 3}" in "\n".join(result.get("t").log)


def test_a_non_callable_is_refused_at_definition() -> None:
    with (
        pytest.raises(TypeError, match="python_callable of task 't' must be callable"),
        DAG("py_bad"),
    ):
        PythonOperator(task_id="t", python_callable="not callable")  # type: ignore[arg-type]


def test_taskflow_values_flow_between_tasks() -> None:
    with DAG("py_flow") as dag:

        @task
        def numbers() -> list[int]:
            return [1, 2, 3]

        @task
        def total(values: list[int], factor: int) -> int:
            return sum(values) * factor

        total(numbers(), factor=10)
    result, backend = _run(dag)
    assert result.state.value == "success"
    assert _xcom(result, backend, "total") == 60


def test_taskflow_string_arguments_are_templates_but_upstream_values_are_not() -> None:
    with DAG("py_flow_tpl") as dag:

        @task
        def upstream() -> str:
            return "{{ ds }}"

        @task
        def join(a: str, b: str) -> str:
            return f"{a}|{b}"

        join(upstream(), "{{ ds }}")
    result, backend = _run(dag)
    assert _xcom(result, backend, "join") == "{{ ds }}|2024-03-05"


def test_taskflow_multiple_outputs_keys_feed_downstream_tasks() -> None:
    with DAG("py_multi") as dag:

        @task(multiple_outputs=True)
        def split() -> Any:
            return {"left": 1, "right": 2}

        @task
        def add(a: int, b: int) -> int:
            return a + b

        parts = split()
        add(parts["left"], parts["right"])
    result, backend = _run(dag)
    assert _xcom(result, backend, "add") == 3


def test_xcom_pull_in_a_task_reads_an_upstream_value() -> None:
    with DAG("py_pull") as dag:
        first = PythonOperator(task_id="first", python_callable=lambda: "v1")
        second = PythonOperator(
            task_id="second", python_callable=lambda ti: ti.xcom_pull(task_ids="first") + "!"
        )
        first >> second
    result, backend = _run(dag)
    assert _xcom(result, backend, "second") == "v1!"
