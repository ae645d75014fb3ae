"""Defining DAGs: the context manager, ``@dag``, and ``default_args``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tradewind.exceptions import DagDefinitionError
from tradewind.operators import BashOperator, EmptyOperator, PythonOperator
from tradewind.sdk import DAG, BaseOperator, Param, TaskGroup, dag, task
from tradewind.sdk.dag import DagContext
from tradewind.sdk.params import DagParam
from tradewind.sdk.trigger_rule import TriggerRule


class Echo(BaseOperator):
    """An operator with an argument of its own, to see which default_args it receives."""

    def __init__(self, *, message: str = "hi", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message

    def execute(self, context: Any) -> str:
        return self.message


# -- the context manager ------------------------------------------------------------------


def test_tasks_created_inside_a_dag_block_join_that_dag() -> None:
    with DAG("ctx") as d:
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
    assert d.task_ids == ["a", "b"]
    assert a.dag is d and b.dag is d
    assert d.get_task("a") is a


def test_a_task_created_after_the_block_is_not_in_the_dag() -> None:
    with DAG("closed") as d:
        EmptyOperator(task_id="inside")
    outside = EmptyOperator(task_id="outside")
    assert d.task_ids == ["inside"]
    assert outside.dag is None


def test_nested_dag_blocks_give_tasks_to_the_innermost_dag() -> None:
    with DAG("outer") as outer:
        EmptyOperator(task_id="o")
        with DAG("inner") as inner:
            EmptyOperator(task_id="i")
        EmptyOperator(task_id="o2")
    assert outer.task_ids == ["o", "o2"]
    assert inner.task_ids == ["i"]


def test_a_task_can_name_its_dag_explicitly() -> None:
    d = DAG("explicit")
    t = EmptyOperator(task_id="t", dag=d)
    assert d.task_dict == {"t": t}


def test_get_task_names_the_dag_when_the_task_is_missing() -> None:
    with DAG("lookup") as d:
        EmptyOperator(task_id="a")
    with pytest.raises(KeyError, match="'nope' not found in DAG 'lookup'"):
        d.get_task("nope")


def test_dag_defaults_follow_airflow_3() -> None:
    d = DAG("defaults")
    assert d.schedule is None
    assert d.catchup is False
    assert d.max_active_runs == 16
    assert d.max_active_tasks == 16
    assert d.params == {}
    assert d.dag_display_name == "defaults"


def test_naive_start_date_is_read_as_utc_and_aware_ones_are_kept() -> None:
    naive = DAG("naive", start_date=datetime(2024, 1, 1))
    assert naive.start_date == datetime(2024, 1, 1, tzinfo=UTC)
    paris = ZoneInfo("Europe/Paris")
    aware = DAG("aware", start_date=datetime(2024, 1, 1, tzinfo=paris))
    assert aware.start_date is not None and aware.start_date.tzinfo is paris


def test_start_date_may_come_from_default_args() -> None:
    d = DAG("sd", default_args={"start_date": datetime(2024, 5, 1)})
    assert d.start_date == datetime(2024, 5, 1, tzinfo=UTC)


def test_roots_leaves_and_topological_order() -> None:
    with DAG("shape") as d:
        a, b, c, e = (EmptyOperator(task_id=x) for x in "abce")
        a >> [b, c] >> e
    assert [t.task_id for t in d.roots] == ["a"]
    assert [t.task_id for t in d.leaves] == ["e"]
    order = [t.task_id for t in d.topological_sort()]
    assert order.index("a") < order.index("b") < order.index("e")
    assert order.index("c") < order.index("e")


def test_defined_dags_are_collected_for_the_loader() -> None:
    DagContext.collect()
    first = DAG("collected_1")
    second = DAG("collected_2")
    DAG("not_collected", auto_register=False)
    assert DagContext.collect() == [first, second]
    assert DagContext.collect() == []


# -- @dag ---------------------------------------------------------------------------------


def test_dag_decorator_uses_the_function_name_as_dag_id() -> None:
    @dag(schedule=None)
    def my_pipeline() -> None:
        EmptyOperator(task_id="t")

    d = my_pipeline()
    assert isinstance(d, DAG)
    assert d.dag_id == "my_pipeline"
    assert d.task_ids == ["t"]


def test_dag_decorator_without_parentheses_and_with_an_explicit_id() -> None:
    @dag
    def bare() -> None:
        pass

    @dag("renamed")
    def original() -> None:
        pass

    @dag(dag_id="by_keyword")
    def other() -> None:
        pass

    assert bare().dag_id == "bare"
    assert original().dag_id == "renamed"
    assert other().dag_id == "by_keyword"


def test_dag_decorator_passes_dag_arguments_through() -> None:
    @dag(schedule="@daily", start_date=datetime(2024, 1, 1), tags=["x"], max_active_runs=2)
    def configured() -> None:
        pass

    d = configured()
    assert d.schedule == "@daily"
    assert d.tags == ["x"]
    assert d.max_active_runs == 2


def test_dag_decorator_turns_the_docstring_into_doc_md() -> None:
    @dag
    def documented() -> None:
        """Loads the sales.

        Every night.
        """

    assert documented().doc_md == "Loads the sales.\n\nEvery night."


def test_an_explicit_doc_md_wins_over_the_docstring() -> None:
    @dag(doc_md="explicit")
    def documented() -> None:
        """Docstring."""

    assert documented().doc_md == "explicit"


def test_dag_function_parameters_become_params_with_their_defaults() -> None:
    @dag
    def parametrised(greeting: str = "hi", times: int = 2) -> None:
        pass

    d = parametrised()
    assert dict(d.params) == {"greeting": "hi", "times": 2}


def test_arguments_given_to_the_dag_factory_become_the_param_values() -> None:
    @dag
    def parametrised(greeting: str = "hi") -> None:
        pass

    assert parametrised("hello").params["greeting"] == "hello"
    assert parametrised(greeting="hey").params["greeting"] == "hey"


def test_function_defaults_are_checked_against_a_schema_given_in_params() -> None:
    @dag(params={"n": Param(5, type="integer", minimum=1)})
    def valid(n: int = 3) -> None:
        pass

    @dag(params={"n": Param(5, type="integer", minimum=1)})
    def invalid(n: int = 0) -> None:
        pass

    d = valid()
    assert d.params["n"] == 3
    assert d.params.get_param("n").schema == {"type": "integer", "minimum": 1}
    with pytest.raises(
        DagDefinitionError, match="Invalid input for param n: 0 is less than the minimum of 1"
    ):
        invalid()


def test_calling_a_dag_factory_without_a_required_argument_fails_clearly() -> None:
    @dag
    def needs_region(region: str) -> None:
        pass

    with pytest.raises(TypeError, match=r"needs_region.*missing a required argument: 'region'"):
        needs_region()
    assert needs_region("eu").params["region"] == "eu"


def test_inside_a_dag_function_parameters_stand_for_the_runs_param_value() -> None:
    seen: dict[str, Any] = {}

    @dag
    def greeter(name: str = "world") -> None:
        seen["name"] = name

        @task
        def greet(who: str) -> str:
            return f"hello {who}"

        greet(name)

    d = greeter()
    param = seen["name"]
    assert isinstance(param, DagParam)
    op = d.get_task("greet")
    assert op.op_args == [param]  # type: ignore[attr-defined]
    assert param.resolve({"params": {"name": "Ada"}}) == "Ada"


def test_a_dag_param_resolves_to_the_conf_value_when_the_dag_runs() -> None:
    results: list[str] = []

    @dag
    def greeter(name: str = "world") -> None:
        @task
        def greet(who: str) -> None:
            results.append(who)

        greet(name)

    d = greeter()
    assert d.test().state.value == "success"
    assert d.test(conf={"name": "Ada"}).state.value == "success"
    assert results == ["world", "Ada"]


def test_each_dag_factory_call_makes_a_new_dag() -> None:
    @dag
    def factory_dag() -> None:
        EmptyOperator(task_id="t")

    assert factory_dag() is not factory_dag()


# -- default_args -------------------------------------------------------------------------


def test_default_args_fill_operator_arguments_not_given() -> None:
    with DAG("defaults_apply", default_args={"retries": 3, "owner": "data"}):
        t = EmptyOperator(task_id="t")
        explicit = EmptyOperator(task_id="explicit", retries=1)
    assert (t.retries, t.owner) == (3, "data")
    assert explicit.retries == 1


def test_default_args_reach_an_operators_own_arguments() -> None:
    with DAG("own_args", default_args={"message": "from defaults"}):
        e = Echo(task_id="e")
    assert e.message == "from defaults"


def test_default_args_an_operator_does_not_accept_are_ignored() -> None:
    with DAG("ignored", default_args={"message": "x", "bash_command": "echo", "retries": 2}):
        t = EmptyOperator(task_id="t")
        b = BashOperator(task_id="b")
    assert t.retries == 2
    assert not hasattr(t, "message")
    assert b.bash_command == "echo"


def test_default_args_reach_taskflow_tasks() -> None:
    with DAG("tf_defaults", default_args={"retries": 4, "retry_delay": timedelta(seconds=5)}) as d:

        @task
        def work() -> None:
            pass

        work()
    op = d.get_task("work")
    assert op.retries == 4
    assert op.retry_delay == timedelta(seconds=5)


def test_group_default_args_override_the_dags() -> None:
    with DAG("grp_defaults", default_args={"retries": 1, "owner": "dag"}) as d:
        with TaskGroup("g", default_args={"retries": 5}):
            inner = EmptyOperator(task_id="inner")
            with TaskGroup("h", default_args={"owner": "h"}):
                deeper = EmptyOperator(task_id="deeper")
        outer = EmptyOperator(task_id="outer")
    assert (inner.retries, inner.owner) == (5, "dag")
    assert (deeper.retries, deeper.owner) == (5, "h")
    assert (outer.retries, outer.owner) == (1, "dag")
    assert d.get_task("g.h.deeper") is deeper


def test_an_operators_own_default_args_win_over_the_dags() -> None:
    with DAG("own_defaults", default_args={"retries": 1}):
        t = EmptyOperator(task_id="t", default_args={"retries": 7})
    assert t.retries == 7


def test_default_args_trigger_rule_is_checked_like_an_explicit_one() -> None:
    with DAG("tr_defaults", default_args={"trigger_rule": "all_done"}):
        t = EmptyOperator(task_id="t")
    assert t.trigger_rule is TriggerRule.ALL_DONE


def test_default_args_params_become_dag_params_and_win_over_params() -> None:
    given = {"params": {"x": 1}, "retries": 1}
    d = DAG("dp", params={"x": 0, "y": 2}, default_args=given)
    assert dict(d.params) == {"x": 1, "y": 2}
    assert "params" not in d.default_args
    assert given == {"params": {"x": 1}, "retries": 1}  # the caller's dict is left alone


def test_default_args_params_are_checked_against_the_dags_param_schema() -> None:
    with pytest.raises(DagDefinitionError, match="Invalid input for param n: 'x' is not of"):
        DAG("dp_bad", params={"n": Param(1, type="integer")}, default_args={"params": {"n": "x"}})


def test_default_args_apply_to_python_operator_keyword_arguments() -> None:
    with DAG("py_defaults", default_args={"op_kwargs": {"a": 1}}):
        p = PythonOperator(task_id="p", python_callable=lambda a: a)
    assert p.op_kwargs == {"a": 1}


def test_dag_files_defined_in_two_threads_at_once_keep_their_own_dags() -> None:
    import threading

    from tradewind.operators import EmptyOperator
    from tradewind.sdk.dag import DagContext

    barrier = threading.Barrier(2)
    found: dict[str, list[str]] = {}

    def define(name: str) -> None:
        DagContext.collect()
        with DAG(name):
            barrier.wait()
            EmptyOperator(task_id=f"{name}_task")
            barrier.wait()
        found[name] = [d.dag_id for d in DagContext.collect()]

    threads = [threading.Thread(target=define, args=(n,)) for n in ("left", "right")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert found == {"left": ["left"], "right": ["right"]}
