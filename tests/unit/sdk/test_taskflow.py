"""TaskFlow: ``@task`` functions become tasks, their results XComArgs."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest

from tradewind.exceptions import DagDefinitionError
from tradewind.operators import EmptyOperator
from tradewind.operators.bash import BashDecoratedOperator
from tradewind.operators.python import (
    BranchPythonDecoratedOperator,
    PythonDecoratedOperator,
    ShortCircuitDecoratedOperator,
)
from tradewind.sdk import DAG, TriggerRule, XComArg, setup, task, teardown
from tradewind.sdk.mapping import MappedOperator
from tradewind.sdk.xcom_arg import PlainXComArg
from tradewind.sensors.python import DecoratedSensorOperator


def test_calling_a_task_function_adds_a_task_and_returns_an_xcomarg() -> None:
    with DAG("tf") as d:

        @task
        def extract() -> list[int]:
            return [1, 2]

        result = extract()
    assert isinstance(result, XComArg)
    assert isinstance(result, PlainXComArg)
    assert result.key == "return_value"
    op = d.get_task("extract")
    assert result.operator is op
    assert isinstance(op, PythonDecoratedOperator)
    assert op.python_callable is extract.function  # type: ignore[attr-defined]


def test_defining_a_task_function_adds_nothing_until_it_is_called() -> None:
    with DAG("tf_lazy") as d:

        @task
        def never() -> None:
            pass

    assert d.task_ids == []


def test_passing_a_result_to_another_task_links_them_and_hands_the_value_over() -> None:
    with DAG("tf_link") as d:

        @task
        def extract() -> int:
            return 1

        @task
        def load(value: int, extra: dict[str, Any]) -> None:
            pass

        first = extract()
        other = extract()
        load(first, extra={"nested": [other]})
    load_op = d.get_task("load")
    assert load_op.upstream_task_ids == {"extract", "extract__1"}
    assert load_op.op_args == [first]  # type: ignore[attr-defined]
    assert load_op.op_kwargs == {"extra": {"nested": [other]}}  # type: ignore[attr-defined]


def test_results_flow_between_tasks_when_the_dag_runs() -> None:
    seen: list[int] = []
    with DAG("tf_run") as d:

        @task
        def two() -> int:
            return 2

        @task
        def square(x: int) -> int:
            return x * x

        @task
        def record(x: int) -> None:
            seen.append(x)

        record(square(two()))
    assert d.test().state.value == "success"
    assert seen == [4]


def test_repeated_calls_get_unique_ids() -> None:
    with DAG("tf_ids") as d:

        @task
        def fn() -> None:
            pass

        fn()
        fn()
        fn()
    assert d.task_ids == ["fn", "fn__1", "fn__2"]


def test_override_changes_task_arguments_for_one_call() -> None:
    with DAG("tf_override") as d:

        @task(retries=1)
        def fn() -> None:
            pass

        fn.override(task_id="custom", retries=5)()
        fn()
    assert d.get_task("custom").retries == 5
    assert d.get_task("fn").retries == 1


def test_an_overridden_task_id_also_gets_a_suffix_when_repeated() -> None:
    with DAG("tf_override_ids") as d:

        @task
        def fn() -> None:
            pass

        fn.override(task_id="x")()
        fn.override(task_id="x")()
    assert d.task_ids == ["x", "x__1"]


def test_task_arguments_can_be_given_to_the_decorator() -> None:
    with DAG("tf_args") as d:

        @task(task_id="named", trigger_rule="all_done", pool="p")
        def fn() -> None:
            pass

        fn()
    op = d.get_task("named")
    assert op.trigger_rule is TriggerRule.ALL_DONE
    assert op.pool == "p"


def test_the_function_docstring_becomes_the_tasks_doc() -> None:
    with DAG("tf_doc") as d:

        @task
        def documented() -> None:
            """Loads things."""

        @task(doc_md="explicit")
        def explicit() -> None:
            """Ignored."""

        documented()
        explicit()
    assert d.get_task("documented").doc_md == "Loads things."  # type: ignore[attr-defined]
    assert d.get_task("explicit").doc_md == "explicit"  # type: ignore[attr-defined]


# -- multiple_outputs ---------------------------------------------------------------------


def test_multiple_outputs_is_off_by_default() -> None:
    with DAG("mo_default") as d:

        @task
        def plain() -> int:
            return 1

        plain()
    assert d.get_task("plain").multiple_outputs is False


def test_multiple_outputs_can_be_set_explicitly() -> None:
    with DAG("mo_explicit") as d:

        @task(multiple_outputs=True)
        def pair() -> Any:
            return {"a": 1}

        @task(multiple_outputs=False)
        def not_split() -> dict[str, int]:
            return {"a": 1}

        pair()
        not_split()
    assert d.get_task("pair").multiple_outputs is True
    assert d.get_task("not_split").multiple_outputs is False


class Totals(TypedDict):
    count: int


def test_multiple_outputs_is_inferred_from_a_dict_return_annotation() -> None:
    with DAG("mo_infer") as d:

        @task
        def typed() -> dict[str, int]:
            return {"a": 1}

        @task
        def bare_dict() -> dict:  # type: ignore[type-arg]
            return {}

        @task
        def typed_dict() -> Totals:
            return {"count": 1}

        @task
        def a_list() -> list[int]:
            return []

        @task
        def unannotated():  # type: ignore[no-untyped-def]
            return {}

        for fn in (typed, bare_dict, typed_dict, a_list, unannotated):
            fn()
    inferred = {t.task_id: t.multiple_outputs for t in d.tasks}
    assert inferred == {
        "typed": True,
        "bare_dict": True,
        "typed_dict": True,
        "a_list": False,
        "unannotated": False,
    }


def test_indexing_a_result_refers_to_one_key_and_still_links() -> None:
    with DAG("mo_key") as d:

        @task
        def stats() -> dict[str, int]:
            return {"count": 3}

        @task
        def use(n: int) -> None:
            pass

        result = stats()
        count = result["count"]
        use(count)
    assert isinstance(count, PlainXComArg)
    assert count.operator is result.operator  # type: ignore[attr-defined]
    assert count.key == "count"
    assert d.get_task("use").upstream_task_ids == {"stats"}


def test_multiple_outputs_keys_reach_consumers_when_the_dag_runs() -> None:
    seen: list[int] = []
    with DAG("mo_run") as d:

        @task
        def stats() -> dict[str, int]:
            return {"count": 3, "total": 10}

        @task
        def use(n: int, t: int) -> None:
            seen.extend([n, t])

        s = stats()
        use(s["count"], s["total"])
    assert d.test().state.value == "success"
    assert seen == [3, 10]


# -- checking calls -----------------------------------------------------------------------


def test_a_missing_argument_fails_at_definition() -> None:
    with DAG("bind_missing"):

        @task
        def fn(a: int, b: int) -> None:
            pass

        with pytest.raises(TypeError, match=r"fn\(\): missing required arguments 'a', 'b'"):
            fn()


def test_an_unexpected_argument_fails_at_definition() -> None:
    with DAG("bind_extra"):

        @task
        def fn(a: int) -> None:
            pass

        with pytest.raises(TypeError, match=r"fn\(\): .*unexpected keyword argument 'z'"):
            fn(1, z=2)
        with pytest.raises(TypeError, match=r"fn\(\): too many positional arguments"):
            fn(1, 2)


def test_context_named_parameters_may_be_left_out() -> None:
    with DAG("bind_context") as d:

        @task
        def fn(x: int, ti: Any = None, params: Any = None, **context: Any) -> None:
            pass

        @task
        def required_context(ds: str, x: int, logical_date: Any) -> None:
            pass

        fn(1)
        required_context(x=1)
    assert d.task_ids == ["fn", "required_context"]


def test_a_failed_call_adds_no_task() -> None:
    with DAG("bind_nothing") as d:

        @task
        def fn(a: int) -> None:
            pass

        with pytest.raises(TypeError):
            fn()
    assert d.task_ids == []


def test_bad_operator_arguments_in_the_decorator_fail_when_called() -> None:
    with DAG("bad_op_args"):

        @task(retries=-1)
        def fn() -> None:
            pass

        with pytest.raises(DagDefinitionError, match="retries must be >= 0"):
            fn()


# -- variants -----------------------------------------------------------------------------


def test_task_variants_make_the_right_operator_classes() -> None:
    with DAG("variants") as d:

        @task.python
        def py() -> None:
            pass

        @task.branch
        def choose() -> str:
            return "py"

        @task.short_circuit
        def check() -> bool:
            return True

        @task.sensor(poke_interval=1, timeout=5)
        def wait() -> bool:
            return True

        @task.bash
        def shell() -> str:
            return "echo hi"

        for fn in (py, choose, check, wait, shell):
            fn()
    kinds = {t.task_id: type(t) for t in d.tasks}
    assert kinds == {
        "py": PythonDecoratedOperator,
        "choose": BranchPythonDecoratedOperator,
        "check": ShortCircuitDecoratedOperator,
        "wait": DecoratedSensorOperator,
        "shell": BashDecoratedOperator,
    }
    assert d.get_task("choose").is_branching
    assert d.get_task("wait").poke_interval == 1  # type: ignore[attr-defined]


def test_task_with_empty_parentheses_is_the_same_as_without() -> None:
    with DAG("parens") as d:

        @task()
        def fn() -> None:
            pass

        @task.branch()
        def br() -> None:
            pass

        fn()
        br()
    assert isinstance(d.get_task("fn"), PythonDecoratedOperator)
    assert isinstance(d.get_task("br"), BranchPythonDecoratedOperator)


# -- setup / teardown ---------------------------------------------------------------------


def test_setup_and_teardown_decorators_mark_their_tasks() -> None:
    with DAG("st") as d:

        @setup
        @task
        def create() -> None:
            pass

        @teardown
        @task
        def delete() -> None:
            pass

        @task
        def work() -> None:
            pass

        create() >> work() >> delete()
    assert d.get_task("create").is_setup
    assert not d.get_task("create").is_teardown
    deleted = d.get_task("delete")
    assert deleted.is_teardown
    assert deleted.trigger_rule is TriggerRule.ALL_DONE_SETUP_SUCCESS
    assert not d.get_task("work").is_setup and not d.get_task("work").is_teardown


def test_setup_and_teardown_decorate_plain_functions_too() -> None:
    with DAG("st_plain") as d:

        @setup
        def create() -> None:
            pass

        @teardown(on_failure_fail_dagrun=True)
        def delete() -> None:
            pass

        create() >> delete()
    assert d.get_task("create").is_setup
    assert d.get_task("delete").is_teardown
    assert d.get_task("delete").on_failure_fail_dagrun is True


def test_setup_tasks_keep_override_and_every_call_is_a_setup() -> None:
    with DAG("st_override") as d:

        @setup
        @task
        def create() -> None:
            pass

        create.override(task_id="make_bucket")()
        create()
    assert d.get_task("make_bucket").is_setup
    assert d.get_task("create").is_setup


def test_as_teardown_links_the_setups_and_marks_them() -> None:
    with DAG("as_teardown") as d:
        create = EmptyOperator(task_id="create")
        work = EmptyOperator(task_id="work")
        delete = EmptyOperator(task_id="delete")
        create >> work >> delete.as_teardown(setups=create)
    assert d.get_task("create").is_setup
    assert delete.is_teardown
    assert delete.upstream_task_ids == {"create", "work"}
    assert delete.trigger_rule is TriggerRule.ALL_DONE_SETUP_SUCCESS


def test_as_teardown_works_on_taskflow_results() -> None:
    with DAG("as_teardown_tf") as d:

        @task
        def create() -> str:
            return "cluster"

        @task
        def work(cluster: str) -> None:
            pass

        @task
        def delete(cluster: str) -> None:
            pass

        cluster = create()
        result = work(cluster) >> delete(cluster).as_teardown(setups=cluster)
    assert isinstance(result, PlainXComArg)
    assert d.get_task("create").is_setup
    assert d.get_task("delete").is_teardown
    assert d.get_task("delete").upstream_task_ids == {"create", "work"}


def test_as_teardown_can_make_the_run_fail_when_the_teardown_fails() -> None:
    with DAG("as_teardown_fail"):
        t = EmptyOperator(task_id="t").as_teardown(on_failure_fail_dagrun=True)
    assert t.on_failure_fail_dagrun is True


def test_a_mapped_teardown_keeps_its_mark() -> None:
    with DAG("mapped_teardown") as d:

        @teardown
        @task
        def delete(name: str) -> None:
            pass

        delete.expand(name=["a", "b"])
    op = d.get_task("delete")
    assert isinstance(op, MappedOperator)
    assert op.is_teardown
