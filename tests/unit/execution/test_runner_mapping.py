"""The runner's side of dynamic task mapping: producers' checks and mapped copies' rendering."""

from __future__ import annotations

from typing import Any

import pytest

from tradewind.execution.client import InProcessClient
from tradewind.inprocess import DagRunResult, run_dag
from tradewind.operators import BashOperator, PythonOperator
from tradewind.sdk import DAG, get_current_context, task
from tradewind.xcom.memory import MemoryXComBackend


class Run:
    def __init__(self, dag: DAG) -> None:
        self.backend = MemoryXComBackend()
        self.result: DagRunResult = run_dag(dag, client=InProcessClient(self.backend))

    @property
    def states(self) -> dict[str, str | None]:
        return self.result.task_states()

    def values(self, task_id: str) -> list[Any]:
        r = self.result
        return [v for _, v in self.backend.get_all(r.dag_id, r.run_id, task_id, "return_value")]

    def error(self, key: str) -> str:
        return self.result.get(key).error or ""


def test_copies_of_a_mapped_producer_may_return_any_value_or_none() -> None:
    with DAG("map_after_map") as dag:

        @task
        def label(i: int) -> str | None:
            return None if i == 2 else f"item-{i}"

        @task
        def shout(s: str) -> str:
            return s.upper()

        shout.expand(s=label.expand(i=[1, 2, 3]))
    run = Run(dag)
    assert run.states == {
        "label[0]": "success",
        "label[1]": "success",
        "label[2]": "success",
        "shout[0]": "success",
        "shout[1]": "success",
    }
    assert run.values("shout") == ["ITEM-1", "ITEM-3"]


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ("a string", "pushed an unmappable type 'str' under XCom 'return_value'"),
        (None, "did not push XCom 'return_value' for task mapping"),
    ],
)
def test_an_unmapped_producer_must_push_a_list_or_dict(returned: Any, message: str) -> None:
    with DAG("map_bad_input") as dag:
        produce = PythonOperator(task_id="produce", python_callable=lambda: returned)

        @task
        def use(x: Any) -> Any:
            return x

        use.expand(x=produce.output)
    run = Run(dag)
    assert run.states == {"produce": "failed", "use": "upstream_failed"}
    assert message in run.error("produce")


def test_an_unmapped_producer_without_xcom_push_fails_its_mapped_consumer() -> None:
    with DAG("map_no_push") as dag:
        produce = PythonOperator(task_id="produce", python_callable=lambda: [1], do_xcom_push=False)
        PythonOperator.partial(task_id="use", python_callable=lambda x: x).expand(
            op_args=produce.output.map(lambda v: [v])
        )
    run = Run(dag)
    assert run.states["produce"] == "failed"
    assert "did not push XCom 'return_value' for task mapping" in run.error("produce")


def test_a_producer_over_max_map_length_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND__CORE__MAX_MAP_LENGTH", "3")
    with DAG("map_too_long") as dag:

        @task
        def many() -> list[int]:
            return [1, 2, 3, 4]

        @task
        def use(x: int) -> int:
            return x

        use.expand(x=many())
    run = Run(dag)
    assert run.states == {"many": "failed", "use": "upstream_failed"}
    assert "pushed 4 elements under XCom 'return_value', more than max_map_length (3)" in run.error(
        "many"
    )


def test_an_explicitly_pushed_key_can_be_expanded_over() -> None:
    with DAG("map_pushed_key") as dag:

        def push_files(ti: Any) -> None:
            ti.xcom_push("files", ["a.csv", "b.csv"])

        lister = PythonOperator(task_id="lister", python_callable=push_files)

        @task
        def load(f: str) -> str:
            return f"loaded {f}"

        load.expand(f=lister.output["files"])
    run = Run(dag)
    assert run.states == {"lister": "success", "load[0]": "success", "load[1]": "success"}
    assert run.values("load") == ["loaded a.csv", "loaded b.csv"]


def test_mapped_copies_pushing_a_key_explicitly_are_counted() -> None:
    with DAG("map_copies_push_key") as dag:

        @task
        def part(i: int) -> None:
            get_current_context()["ti"].xcom_push("chunk", [i, i])

        @task
        def total(chunk: list[int]) -> int:
            return sum(chunk)

        parts = part.expand(i=[1, 2])
        total.expand(chunk=parts["chunk"])
    run = Run(dag)
    assert run.states["total[1]"] == "success"
    assert run.values("total") == [2, 4]


def test_mapped_arguments_from_xcom_are_not_rendered_but_literal_ones_are() -> None:
    with DAG("map_render_safety") as dag:

        @task
        def commands() -> list[str]:
            return ["echo '{{ 7*7 }}'"]

        cmds = commands()
        BashOperator.partial(task_id="from_xcom").expand(bash_command=cmds)
        BashOperator.partial(task_id="literal").expand(bash_command=["echo {{ 6*7 }}"])

        @task
        def show(text: str, suffix: str) -> str:
            return text + suffix

        show.partial(suffix="{{ ds_nodash[:2] }}").expand(text=cmds)
    run = Run(dag)
    assert run.values("from_xcom") == ["{{ 7*7 }}"]
    assert run.values("literal") == ["42"]
    assert run.values("show") == ["echo '{{ 7*7 }}'20"]


def test_expand_kwargs_rows_from_xcom_are_not_rendered_but_literal_rows_are() -> None:
    with DAG("map_kwargs_render") as dag:

        @task
        def rows() -> list[dict[str, str]]:
            return [{"bash_command": "echo '{{ 4*4 }}'"}]

        BashOperator.partial(task_id="from_xcom", env={"X": "{{ 1+1 }}"}).expand_kwargs(rows())
        BashOperator.partial(task_id="literal").expand_kwargs([{"bash_command": "echo {{ 5*5 }}"}])

        @task
        def args() -> list[dict[str, str]]:
            return [{"a": "{{ 3*3 }}"}]

        @task
        def join(a: str, b: str) -> str:
            return a + b

        join.partial(b="{{ 2*2 }}").expand_kwargs(args())
    run = Run(dag)
    assert run.values("from_xcom") == ["{{ 4*4 }}"]
    assert run.values("literal") == ["25"]
    assert run.values("join") == ["{{ 3*3 }}4"]


def test_xcom_values_inside_literal_expand_kwargs_rows_are_not_rendered() -> None:
    with DAG("map_kwargs_nested_xcom") as dag:

        @task
        def word() -> str:
            return "{{ 8*8 }}"

        BashOperator.partial(task_id="b").expand_kwargs(
            [{"bash_command": 'echo "$W" {{ 1+2 }}', "env": {"W": word()}}]
        )
    run = Run(dag)
    assert run.values("b") == ["{{ 8*8 }} 3"]
