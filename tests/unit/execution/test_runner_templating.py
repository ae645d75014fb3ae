"""Rendering of template fields before a task runs, with Airflow's Jinja environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tradewind.operators import BashOperator, PythonOperator
from tradewind.sdk import DAG, BaseOperator, task
from tradewind.states import TaskInstanceState as TI


def _echo(task_id: str, value: Any, **kwargs: Any) -> PythonOperator:
    """A task that returns its one (templated) argument as its XCom."""
    return PythonOperator(task_id=task_id, python_callable=lambda v: v, op_args=[value], **kwargs)


def _rendered(harness: Any, dag: DAG, task_id: str, **run_kwargs: Any) -> Any:
    outcome = harness.run(dag.get_task(task_id), **run_kwargs)
    assert outcome.state is TI.SUCCESS, outcome.error
    return harness.xcom(task_id)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ ds }}", "2024-03-05"),
        ("{{ ds_nodash }}/{{ ts_nodash }}", "20240305/20240305T000000"),
        ("{{ params.x }}", "10"),
        ("{{ dag_run.conf['k'] }}", "from-conf"),
        ("{{ macros.ds_add(ds, 5) }}", "2024-03-10"),
        ("{{ macros.ds_add(ds, -5) }}", "2024-02-29"),
        ("{{ macros.ds_format(ds, '%Y-%m-%d', '%d/%m/%Y') }}", "05/03/2024"),
        ("{{ (macros.datetime(2024, 1, 1) + macros.timedelta(days=2)).day }}", "3"),
        ("{{ logical_date | ds }} {{ logical_date | ds_nodash }}", "2024-03-05 20240305"),
        ("{{ logical_date | ts_nodash_with_tz }}", "20240305T000000+0000"),
        ("{{ task.task_id }}|{{ ti.try_number }}|{{ run_id[:6] }}", "t|1|manual"),
        ("{% do params.update({'y': 2}) %}{{ params.y }}", "2"),
    ],
)
def test_template_renders_context_values(harness: Any, template: str, expected: str) -> None:
    with DAG("tpl", params={"x": 10}) as dag:
        _echo("t", template)
    assert _rendered(harness, dag, "t", conf={"k": "from-conf"}) == expected


def test_variables_render_from_environment(harness: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND_VAR_BUCKET", "raw-data")
    monkeypatch.setenv("TRADEWIND_VAR_SETTINGS", '{"limits": {"rows": 50}}')
    with DAG("tpl_var") as dag:
        _echo("t", "{{ var.value.bucket }}:{{ var.json.settings.limits.rows }}")
        _echo("default", "{{ var.value.get('nope', 'fallback') }}")
    assert _rendered(harness, dag, "t") == "raw-data:50"
    assert _rendered(harness, dag, "default") == "fallback"


def test_connection_fields_render(harness: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND_CONN_MY_CONN", "postgres://me:pw@db.example:6543/sales")
    with DAG("tpl_conn") as dag:
        _echo("t", "{{ conn.my_conn.host }}:{{ conn.my_conn.port }}/{{ conn.my_conn.schema }}")
    assert _rendered(harness, dag, "t") == "db.example:6543/sales"


def test_user_defined_macros_and_filters(harness: Any) -> None:
    with DAG(
        "tpl_user",
        user_defined_macros={"project": "atlas", "shout": lambda s: s + "!"},
        user_defined_filters={"reverse_str": lambda s: s[::-1]},
    ) as dag:
        _echo("t", "{{ shout(project) }} {{ project | reverse_str }}")
    assert _rendered(harness, dag, "t") == "atlas! salta"


def test_undefined_name_fails_naming_task_and_field(harness: Any) -> None:
    with DAG("tpl_undefined") as dag:
        BashOperator(task_id="b", bash_command="echo {{ not_a_thing }}", retries=2)
    outcome = harness.run(dag.get_task("b"))
    assert outcome.state is TI.UP_FOR_RETRY
    assert "TemplateError: task 'b': cannot render field 'bash_command'" in outcome.error
    assert "'not_a_thing' is undefined" in outcome.error


def test_template_syntax_error_names_task_and_field(harness: Any) -> None:
    with DAG("tpl_syntax") as dag:
        _echo("t", "{{ ds ")
    outcome = harness.run(dag.get_task("t"))
    assert outcome.state is TI.FAILED
    assert "task 't': template syntax error in field 'op_args'" in outcome.error


def test_conf_values_are_data_and_never_rendered(harness: Any) -> None:
    with DAG("tpl_conf_safety", params={"p": "default"}) as dag:
        _echo("conf", "{{ dag_run.conf['k'] }}")
        _echo("param", "{{ params.p }}")
        BashOperator(task_id="bash", bash_command="echo '{{ dag_run.conf[\"k\"] }}'")
    hostile = {"k": "{{ 7*7 }}", "p": "{{ ds }}"}
    assert _rendered(harness, dag, "conf", conf=hostile) == "{{ 7*7 }}"
    assert _rendered(harness, dag, "param", conf=hostile) == "{{ ds }}"
    assert _rendered(harness, dag, "bash", conf=hostile) == "{{ 7*7 }}"


def test_nested_containers_are_rendered_item_by_item(harness: Any) -> None:
    value = {
        "list": ["{{ ds }}", 1, None],
        "tuple": ("{{ ds_nodash }}",),
        "set": {"{{ params.x }}"},
        "deep": {"k": [{"kk": "{{ task.task_id }}"}]},
    }
    with DAG("tpl_nested", params={"x": "p"}) as dag:
        original = _echo("t", value)
    assert _rendered(harness, dag, "t") == {
        "list": ["2024-03-05", 1, None],
        "tuple": ("20240305",),
        "set": {"p"},
        "deep": {"k": [{"kk": "t"}]},
    }
    # Rendering happens on a copy: the DAG's task keeps its templates for the next run.
    assert original.op_args == [value]


def test_objects_with_their_own_template_fields_are_rendered_on_a_copy(harness: Any) -> None:
    class Query:
        template_fields = ("sql",)

        def __init__(self, sql: str) -> None:
            self.sql = sql

    query = Query("select * from t where day = '{{ ds }}'")
    with DAG("tpl_nested_obj") as dag:
        PythonOperator(task_id="t", python_callable=lambda q: q.sql, op_args=[query])
    assert _rendered(harness, dag, "t") == "select * from t where day = '2024-03-05'"
    assert query.sql == "select * from t where day = '{{ ds }}'"


def test_xcomarg_in_a_templated_field_is_resolved_not_rendered(harness: Any) -> None:
    with DAG("tpl_xcomarg") as dag:

        @task
        def produce() -> str:
            return "{{ 7*7 }}"

        out = produce()
        BashOperator(task_id="b", bash_command='echo "$V"', env={"V": out})
        _echo("nested", {"got": [out]})
    assert harness.run(dag.get_task("produce")).state is TI.SUCCESS
    assert _rendered(harness, dag, "b") == "{{ 7*7 }}"
    assert _rendered(harness, dag, "nested") == {"got": ["{{ 7*7 }}"]}


def test_render_template_as_native_obj_gives_native_values(harness: Any) -> None:
    with DAG("tpl_native", render_template_as_native_obj=True, params={"n": 4}) as dag:
        PythonOperator(
            task_id="t",
            python_callable=lambda a, b, c: [a, type(a).__name__, b, type(b).__name__, c],
            op_args=["{{ [1, 2] + [3] }}", "{{ {'k': params.n} }}", "{{ params.n * 2 }}"],
        )
    assert _rendered(harness, dag, "t") == [[1, 2, 3], "list", {"k": 4}, "dict", 8]


def test_without_native_rendering_templates_give_strings(harness: Any) -> None:
    with DAG("tpl_str") as dag:
        _echo("t", "{{ [1, 2] }}")
    assert _rendered(harness, dag, "t") == "[1, 2]"


def test_template_file_is_found_on_template_searchpath(harness: Any, tmp_path: Path) -> None:
    (tmp_path / "report.sh").write_text("echo report for {{ ds }} {{ params.team }}\n")
    with DAG("tpl_file", template_searchpath=str(tmp_path), params={"team": "ops"}) as dag:
        BashOperator(task_id="b", bash_command="report.sh")
    assert _rendered(harness, dag, "b") == "report for 2024-03-05 ops"


def test_template_file_is_found_beside_the_dag_file(harness: Any, tmp_path: Path) -> None:
    (tmp_path / "beside.bash").write_text("echo beside {{ ds_nodash }}\n")
    with DAG("tpl_beside") as dag:
        BashOperator(task_id="b", bash_command="beside.bash")
    dag.fileloc = str(tmp_path / "my_dag.py")
    assert _rendered(harness, dag, "b") == "beside 20240305"


def test_missing_template_file_fails_with_where_it_looked(harness: Any, tmp_path: Path) -> None:
    with DAG("tpl_missing", template_searchpath=str(tmp_path)) as dag:
        BashOperator(task_id="b", bash_command="nowhere.sh")
    outcome = harness.run(dag.get_task("b"))
    assert outcome.state is TI.FAILED
    assert "template file 'nowhere.sh' for field 'bash_command' was not found" in outcome.error
    assert str(tmp_path) in outcome.error


def test_custom_operator_template_fields_are_rendered(harness: Any) -> None:
    class Greet(BaseOperator):
        template_fields = ("name", "greeting")

        def __init__(self, *, name: str, greeting: str = "hi", **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.name = name
            self.greeting = greeting

        def execute(self, context: Any) -> str:
            return f"{self.greeting} {self.name}"

    with DAG("tpl_custom") as dag:
        Greet(task_id="g", name="{{ params.who }}", greeting="{{ ds }}", params={"who": "ann"})
    assert _rendered(harness, dag, "g") == "2024-03-05 ann"


def test_a_template_field_that_is_not_an_attribute_fails_clearly(harness: Any) -> None:
    class Broken(BaseOperator):
        template_fields = ("missing",)

        def execute(self, context: Any) -> None:
            return None

    with DAG("tpl_broken") as dag:
        Broken(task_id="b")
    outcome = harness.run(dag.get_task("b"))
    assert outcome.state is TI.FAILED
    assert "template field 'missing' is not an attribute of Broken" in outcome.error
