"""Dynamic task mapping: ``partial().expand()``, ``expand_kwargs``, lengths and elements."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tradewind.exceptions import DagDefinitionError
from tradewind.operators import BashOperator, EmptyOperator, PythonOperator
from tradewind.operators.python import PythonDecoratedOperator
from tradewind.sdk import DAG, TaskGroup, XComArg, task
from tradewind.sdk.mapping import (
    DictOfListsExpandInput,
    ListOfDictsExpandInput,
    MappedOperator,
    UnmappableInputError,
)
from tradewind.sdk.xcom_arg import PlainXComArg


class FakeTI:
    """Gives XComArgs their values, as the task runner's task instance does."""

    def __init__(self, values: dict[tuple[str, str], Any]) -> None:
        self.values = values

    def resolve_upstream_output(self, task_id: str, key: str) -> Any:
        return self.values[(task_id, key)]


def context(**values: Any) -> dict[str, Any]:
    """A context whose ``ti`` resolves ``<task_id>`` (return_value) to the given values."""
    return {"ti": FakeTI({(k, "return_value"): v for k, v in values.items()})}


def no_lengths(task_id: str, key: str) -> int | None:
    return None


def all_elements(expand_input: Any, ctx: dict[str, Any], n: int) -> list[dict[str, Any]]:
    return [expand_input.resolve(ctx, i) for i in range(n)]


# -- operators ----------------------------------------------------------------------------


def test_partial_expand_makes_a_mapped_task_with_the_literal_length() -> None:
    with DAG("op_map") as d:
        m = BashOperator.partial(task_id="echo", retries=2).expand(
            bash_command=["echo 1", "echo 2", "echo 3"]
        )
    assert isinstance(m, MappedOperator)
    assert m.is_mapped
    assert d.get_task("echo") is m
    assert m.retries == 2
    assert m.get_map_length(no_lengths) == 3


def test_a_mapped_task_builds_one_operator_per_element() -> None:
    with DAG("op_unmap"):
        m = BashOperator.partial(task_id="echo", env={"A": "1"}).expand(
            bash_command=["echo 1", "echo 2"]
        )
    ops = [m.unmap({}, i) for i in range(2)]
    assert [type(o) for o in ops] == [BashOperator, BashOperator]
    assert [o.bash_command for o in ops] == ["echo 1", "echo 2"]  # type: ignore[attr-defined]
    assert all(o.env == {"A": "1"} for o in ops)  # type: ignore[attr-defined]
    assert all(o.task_id == "echo" for o in ops)


def test_unmapping_does_not_add_tasks_to_the_dag() -> None:
    with DAG("op_unmap_detached") as d:
        m = BashOperator.partial(task_id="echo").expand(bash_command=["a", "b"])
    m.unmap({}, 1)
    assert d.task_ids == ["echo"]
    assert d.get_task("echo") is m


def test_mapped_tasks_are_prefixed_inside_groups() -> None:
    with DAG("op_map_group") as d, TaskGroup("g"):
        BashOperator.partial(task_id="echo").expand(bash_command=["a"])
    assert d.task_ids == ["g.echo"]


def test_mapped_tasks_take_the_dags_default_args() -> None:
    with DAG("op_map_defaults", default_args={"retries": 3, "pool": "p"}):
        m = BashOperator.partial(task_id="echo").expand(bash_command=["a"])
    assert (m.retries, m.pool) == (3, "p")


def test_an_argument_from_default_args_may_still_be_expanded() -> None:
    with DAG("op_map_defaults_expand", default_args={"env": {"A": "1"}}):
        m = BashOperator.partial(task_id="echo", bash_command="env").expand(
            env=[{"A": "2"}, {"A": "3"}]
        )
    assert [m.unmap({}, i).env for i in range(2)] == [{"A": "2"}, {"A": "3"}]  # type: ignore[attr-defined]


def test_scheduling_arguments_of_mapped_tasks_are_checked_at_definition() -> None:
    with DAG("op_map_checks"):
        with pytest.raises(DagDefinitionError, match="retries must be >= 0"):
            BashOperator.partial(task_id="a", retries=-1).expand(bash_command=["x"])
        with pytest.raises(DagDefinitionError, match="unknown trigger_rule 'nope'"):
            BashOperator.partial(task_id="b", trigger_rule="nope").expand(bash_command=["x"])
        m = BashOperator.partial(task_id="c", retry_delay=30).expand(bash_command=["x"])
    assert m.retry_delay == timedelta(seconds=30)


def test_an_unknown_partial_argument_fails_at_definition() -> None:
    with (
        DAG("op_map_unknown"),
        pytest.raises(TypeError, match=r"BashOperator.partial\(\).*\['bash_comand'\]"),
    ):
        BashOperator.partial(task_id="a", bash_comand="x").expand(env=[{}])


def test_an_unknown_expand_argument_fails_at_definition() -> None:
    with DAG("op_map_unknown_expand"):
        with pytest.raises(TypeError, match=r"BashOperator.expand\(\).*\['bash_comand'\]"):
            BashOperator.partial(task_id="a").expand(bash_comand=["x"])
        with pytest.raises(TypeError, match=r"BashOperator.expand_kwargs\(\).*\['nope'\]"):
            BashOperator.partial(task_id="b").expand_kwargs([{"nope": 1}])


def test_an_argument_given_to_both_partial_and_expand_fails() -> None:
    with (
        DAG("op_map_both"),
        pytest.raises(TypeError, match=r"both partial\(\) and expand\(\): \['bash_command'\]"),
    ):
        BashOperator.partial(task_id="a", bash_command="x").expand(bash_command=["y"])


def test_expand_needs_an_argument_and_partial_a_task_id() -> None:
    with DAG("op_map_empty"):
        with pytest.raises(TypeError, match="at least one argument"):
            BashOperator.partial(task_id="a").expand()
        with pytest.raises(TypeError, match="needs a task_id"):
            BashOperator.partial().expand(bash_command=["x"])


def test_a_partial_can_be_expanded_only_once() -> None:
    with DAG("op_map_once"):
        p = BashOperator.partial(task_id="a")
        p.expand(bash_command=["x"])
        with pytest.raises(TypeError, match="already expanded"):
            p.expand(bash_command=["y"])


def test_a_mapped_task_must_be_in_a_dag() -> None:
    with pytest.raises(DagDefinitionError, match="must be created inside a DAG"):
        BashOperator.partial(task_id="a").expand(bash_command=["x"])


@pytest.mark.parametrize("value", ["abc", 5, None, b"xy", 1.5])
def test_expanding_over_something_that_is_not_a_list_or_dict_fails(value: Any) -> None:
    with DAG("op_map_bad"), pytest.raises(UnmappableInputError) as err:
        BashOperator.partial(task_id="a").expand(bash_command=value)
    assert "expand() argument 'bash_command' must be a list, dict or XComArg, got " in str(
        err.value
    )


def test_expanding_over_an_upstream_result_links_and_waits_for_its_length() -> None:
    with DAG("op_map_xcom") as d:

        @task
        def commands() -> list[str]:
            return ["a", "b"]

        cmds = commands()
        m = BashOperator.partial(task_id="run").expand(bash_command=cmds)
    assert m.upstream_task_ids == {"commands"}
    assert d.get_task("commands").downstream_task_ids == {"run"}
    assert m.get_map_length(no_lengths) is None
    known = {("commands", "return_value"): 4}
    assert m.get_map_length(lambda tid, key: known.get((tid, key))) == 4
    assert m.unmap(context(commands=["x", "y"]), 1).bash_command == "y"  # type: ignore[attr-defined]


def test_partial_arguments_that_are_results_link_too() -> None:
    with DAG("op_map_partial_xcom"):

        @task
        def env() -> dict[str, str]:
            return {}

        m = BashOperator.partial(task_id="run", env=env()).expand(bash_command=["a"])
    assert m.upstream_task_ids == {"env"}


# -- cross product ------------------------------------------------------------------------


def test_several_expanded_arguments_make_the_cross_product_last_varying_fastest() -> None:
    expand_input = DictOfListsExpandInput({"x": [1, 2], "y": ["a", "b", "c"]})
    assert expand_input.get_length(no_lengths) == 6
    assert all_elements(expand_input, {}, 6) == [
        {"x": 1, "y": "a"},
        {"x": 1, "y": "b"},
        {"x": 1, "y": "c"},
        {"x": 2, "y": "a"},
        {"x": 2, "y": "b"},
        {"x": 2, "y": "c"},
    ]


def test_a_dict_expands_to_key_value_tuples_in_insertion_order() -> None:
    expand_input = DictOfListsExpandInput({"item": {"b": 2, "a": 1}})
    assert expand_input.get_length(no_lengths) == 2
    assert all_elements(expand_input, {}, 2) == [{"item": ("b", 2)}, {"item": ("a", 1)}]


def test_three_way_cross_product_with_a_dict() -> None:
    expand_input = DictOfListsExpandInput({"a": [0, 1], "b": {"k": "v"}, "c": (True, False)})
    assert expand_input.get_length(no_lengths) == 4
    assert all_elements(expand_input, {}, 4) == [
        {"a": 0, "b": ("k", "v"), "c": True},
        {"a": 0, "b": ("k", "v"), "c": False},
        {"a": 1, "b": ("k", "v"), "c": True},
        {"a": 1, "b": ("k", "v"), "c": False},
    ]


def test_an_empty_list_gives_zero_copies() -> None:
    assert DictOfListsExpandInput({"x": [], "y": [1, 2]}).get_length(no_lengths) == 0


def test_cross_product_with_an_upstream_result_uses_its_length() -> None:
    with DAG("cross_xcom"):

        @task
        def names() -> list[str]:
            return []

        arg = names()
    expand_input = DictOfListsExpandInput({"n": arg, "i": [1, 2]})
    lengths = {("names", "return_value"): 3}
    assert expand_input.get_length(lambda t, k: lengths.get((t, k))) == 6
    assert expand_input.get_length(no_lengths) is None
    ctx = context(names=["p", "q", "r"])
    assert expand_input.resolve(ctx, 3) == {"n": "q", "i": 2}


def test_a_result_that_is_not_a_list_fails_when_resolved() -> None:
    with DAG("unmappable_result"):

        @task
        def one() -> str:
            return "abc"

        arg = one()
    expand_input = DictOfListsExpandInput({"x": arg})
    with pytest.raises(UnmappableInputError, match="must be a list, dict or XComArg, got str"):
        expand_input.resolve(context(one="abc"), 0)


# -- expand_kwargs ------------------------------------------------------------------------


def test_expand_kwargs_makes_one_copy_per_dict() -> None:
    with DAG("ek") as d:
        m = BashOperator.partial(task_id="run").expand_kwargs(
            [{"bash_command": "a", "env": {"X": "1"}}, {"bash_command": "b"}]
        )
    assert d.get_task("run") is m
    assert m.get_map_length(no_lengths) == 2
    first, second = (m.unmap({}, i) for i in range(2))
    assert (first.bash_command, first.env) == ("a", {"X": "1"})  # type: ignore[attr-defined]
    assert (second.bash_command, second.env) == ("b", None)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"bash_command": "a"}, "expects a list\\[dict\\] or an XComArg that gives one, not dict"),
        ("abc", "not str"),
        ([{"bash_command": "a"}, "b"], "element 1 is a str"),
        ([{1: "a"}], "non-str keys \\[1\\]"),
    ],
)
def test_expand_kwargs_rejects_what_is_not_a_list_of_dicts(value: Any, message: str) -> None:
    with DAG("ek_bad"), pytest.raises(UnmappableInputError, match=message):
        BashOperator.partial(task_id="run").expand_kwargs(value)


def test_expand_kwargs_over_an_upstream_result() -> None:
    with DAG("ek_xcom"):

        @task
        def rows() -> list[dict[str, str]]:
            return []

        m = BashOperator.partial(task_id="run").expand_kwargs(rows())
    assert m.upstream_task_ids == {"rows"}
    op = m.unmap(context(rows=[{"bash_command": "x"}, {"bash_command": "y"}]), 1)
    assert op.bash_command == "y"  # type: ignore[attr-defined]
    expand_input = ListOfDictsExpandInput(PlainXComArg(m.upstream_list[0]))
    with pytest.raises(UnmappableInputError, match="element 0 is a str, not a dict"):
        expand_input.resolve(context(rows=["oops"]), 0)


# -- TaskFlow -----------------------------------------------------------------------------


def test_taskflow_expand_maps_function_arguments() -> None:
    with DAG("tf_map") as d:

        @task
        def add(x: int, y: int) -> int:
            return x + y

        result = add.partial(y=10).expand(x=[1, 2, 3])
    assert isinstance(result, XComArg)
    m = d.get_task("add")
    assert isinstance(m, MappedOperator)
    assert m.get_map_length(no_lengths) == 3
    op = m.unmap({}, 2)
    assert isinstance(op, PythonDecoratedOperator)
    assert op.op_kwargs == {"y": 10, "x": 3}


def test_taskflow_expand_without_partial() -> None:
    with DAG("tf_map_direct") as d:

        @task
        def double(x: int) -> int:
            return 2 * x

        double.expand(x=[1, 2])
        double.expand(x=[3])
    assert d.task_ids == ["double", "double__1"]


def test_taskflow_expand_links_to_upstream_results() -> None:
    with DAG("tf_map_links") as d:

        @task
        def numbers() -> list[int]:
            return [1, 2]

        @task
        def offset() -> int:
            return 1

        @task
        def add(x: int, y: int) -> int:
            return x + y

        add.partial(y=offset()).expand(x=numbers())
    assert d.get_task("add").upstream_task_ids == {"numbers", "offset"}


def test_taskflow_expand_kwargs() -> None:
    with DAG("tf_map_kwargs") as d:

        @task
        def add(x: int, y: int) -> int:
            return x + y

        add.expand_kwargs([{"x": 1, "y": 2}, {"x": 3, "y": 4}])
    m = d.get_task("add")
    assert m.get_map_length(no_lengths) == 2
    assert m.unmap({}, 1).op_kwargs == {"x": 3, "y": 4}  # type: ignore[attr-defined]


def test_taskflow_mapping_checks_arguments_at_definition() -> None:
    with DAG("tf_map_checks"):

        @task
        def add(x: int, y: int) -> int:
            return x + y

        with pytest.raises(TypeError, match="missing required argument 'y'"):
            add.expand(x=[1])
        with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
            add.partial(y=1).expand(z=[1])
        with pytest.raises(TypeError, match=r"both partial\(\) and expand\(\): \['x'\]"):
            add.partial(x=1, y=1).expand(x=[1])
        with pytest.raises(TypeError, match="missing required argument 'y'"):
            add.expand_kwargs([{"x": 1}])
        with pytest.raises(UnmappableInputError):
            add.partial(y=1).expand(x=5)


def test_taskflow_cannot_map_over_context_variables() -> None:
    with DAG("tf_map_ctx"):

        @task
        def fn(x: int, ti: Any = None) -> None:
            pass

        with pytest.raises(ValueError, match="context variables \\['ti'\\]"):
            fn.expand(x=[1], ti=[1])


def test_taskflow_override_then_expand() -> None:
    with DAG("tf_map_override") as d:

        @task
        def fn(x: int) -> None:
            pass

        fn.override(task_id="custom", retries=2).expand(x=[1])
    m = d.get_task("custom")
    assert m.is_mapped and m.retries == 2


def test_python_operator_maps_over_op_kwargs() -> None:
    with DAG("py_map"):
        m = PythonOperator.partial(task_id="p", python_callable=lambda **kw: kw).expand(
            op_kwargs=[{"a": 1}, {"a": 2}]
        )
    assert m.unmap({}, 1).op_kwargs == {"a": 2}  # type: ignore[attr-defined]


def test_mapped_tasks_link_downstream_like_other_tasks() -> None:
    with DAG("map_links") as d:
        m = BashOperator.partial(task_id="m").expand(bash_command=["a"])
        end = EmptyOperator(task_id="end")
        m >> end
    assert d.get_task("end").upstream_task_ids == {"m"}
    assert d.get_task("m").downstream_task_ids == {"end"}


def test_mapped_tasks_run_once_per_element() -> None:
    seen: list[tuple[int, str]] = []
    with DAG("map_run") as d:

        @task
        def record(n: int, s: str) -> None:
            seen.append((n, s))

        record.expand(n=[1, 2], s=["a", "b"])
    assert d.test(max_workers=1).state.value == "success"
    assert sorted(seen) == [(1, "a"), (1, "b"), (2, "a"), (2, "b")]
