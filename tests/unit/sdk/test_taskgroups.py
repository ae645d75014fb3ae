"""Task groups: id prefixes, nesting, ``@task_group``, and linking a group as one node."""

from __future__ import annotations

import pytest

from tradewind.exceptions import DagDefinitionError
from tradewind.operators import EmptyOperator
from tradewind.sdk import DAG, TaskGroup, setup, task, task_group, teardown
from tradewind.sdk.abstractoperator import AbstractOperator


def edges(d: DAG) -> set[tuple[str, str]]:
    return {(t.task_id, down) for t in d.tasks for down in t.downstream_task_ids}


def test_a_group_prefixes_the_ids_of_its_tasks() -> None:
    with DAG("prefix") as d, TaskGroup("extract") as g:
        t = EmptyOperator(task_id="users")
    assert t.task_id == "extract.users"
    assert t.label == "users"
    assert t.task_group is g
    assert d.task_ids == ["extract.users"]
    assert g.group_id == "extract"


def test_nested_groups_prefix_with_every_enclosing_group() -> None:
    with DAG("nested") as d, TaskGroup("a") as a, TaskGroup("b") as b:
        t = EmptyOperator(task_id="t")
    assert b.group_id == "a.b"
    assert b.parent_group is a
    assert t.task_id == "a.b.t"
    assert t.label == "t"
    assert d.task_ids == ["a.b.t"]


def test_a_group_without_prefix_leaves_its_tasks_ids_alone() -> None:
    with DAG("no_prefix") as d, TaskGroup("outer"), TaskGroup("plain", prefix_group_id=False):
        t = EmptyOperator(task_id="t")
    # The outer group still prefixes; the inner one does not add its own id.
    assert t.task_id == "outer.t"
    assert d.task_ids == ["outer.t"]


def test_a_top_level_group_without_prefix_keeps_bare_ids() -> None:
    with DAG("bare_ids") as d, TaskGroup("g", prefix_group_id=False) as g:
        EmptyOperator(task_id="t")
    assert d.task_ids == ["t"]
    assert [x.task_id for x in g.iter_tasks()] == ["t"]


def test_a_group_needs_a_dag() -> None:
    with pytest.raises(DagDefinitionError, match="must be created inside a DAG"):
        TaskGroup("orphan")


def test_group_iter_tasks_includes_nested_groups() -> None:
    with DAG("iter") as d:
        with TaskGroup("g") as g:
            EmptyOperator(task_id="a")
            with TaskGroup("h"):
                EmptyOperator(task_id="b")
        EmptyOperator(task_id="outside")
    assert sorted(t.task_id for t in g.iter_tasks()) == ["g.a", "g.h.b"]
    assert len(d.tasks) == 3


# -- linking groups -----------------------------------------------------------------------


def test_a_task_before_a_group_links_to_the_groups_roots() -> None:
    with DAG("into_group") as d:
        start = EmptyOperator(task_id="start")
        with TaskGroup("g") as g:
            a = EmptyOperator(task_id="a")
            b = EmptyOperator(task_id="b")
            c = EmptyOperator(task_id="c")
            a >> c
            b >> c
        start >> g
    assert edges(d) == {("start", "g.a"), ("start", "g.b"), ("g.a", "g.c"), ("g.b", "g.c")}


def test_a_group_before_a_task_links_from_the_groups_leaves() -> None:
    with DAG("out_of_group") as d:
        with TaskGroup("g") as g:
            a = EmptyOperator(task_id="a")
            b = EmptyOperator(task_id="b")
            c = EmptyOperator(task_id="c")
            a >> [b, c]
        end = EmptyOperator(task_id="end")
        g >> end
    assert {e for e in edges(d) if e[1] == "end"} == {("g.b", "end"), ("g.c", "end")}


def test_group_to_group_links_leaves_to_roots() -> None:
    with DAG("group_to_group") as d:
        with TaskGroup("one") as one:
            EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
        with TaskGroup("two") as two:
            EmptyOperator(task_id="c") >> EmptyOperator(task_id="d")
        one >> two
    assert ("one.b", "two.c") in edges(d)
    assert ("one.a", "two.c") not in edges(d)


def test_a_task_inside_a_group_linked_from_outside_is_not_a_group_root() -> None:
    with DAG("roots") as d:
        start = EmptyOperator(task_id="start")
        with TaskGroup("g") as g:
            a = EmptyOperator(task_id="a")
            b = EmptyOperator(task_id="b")
        start >> b
    assert [t.task_id for t in g.roots] == ["g.a", "g.b"]
    assert d.get_task("g.b").upstream_task_ids == {"start"}
    assert a.upstream_task_ids == set()


def test_a_teardown_is_not_a_group_leaf_its_work_is() -> None:
    with DAG("teardown_leaf") as d:
        with TaskGroup("g") as g:
            create = EmptyOperator(task_id="create")
            work = EmptyOperator(task_id="work")
            delete = EmptyOperator(task_id="delete")
            create >> work >> delete.as_teardown(setups=create)
        after = EmptyOperator(task_id="after")
        g >> after
    assert [t.task_id for t in g.leaves] == ["g.work"]
    assert after.upstream_task_ids == {"g.work"}
    assert d.get_task("g.delete").is_teardown


def test_linking_lists_of_groups() -> None:
    with DAG("group_lists") as d:
        start = EmptyOperator(task_id="start")
        groups = []
        for name in ("x", "y"):
            with TaskGroup(name) as grp:
                EmptyOperator(task_id="t")
            groups.append(grp)
        start >> groups
    assert edges(d) == {("start", "x.t"), ("start", "y.t")}


# -- @task_group --------------------------------------------------------------------------


def test_task_group_decorator_makes_a_group_named_after_the_function() -> None:
    with DAG("tg_deco") as d:

        @task_group
        def load() -> None:
            EmptyOperator(task_id="t")

        group = load()
    assert isinstance(group, TaskGroup)
    assert group.group_id == "load"
    assert d.task_ids == ["load.t"]


def test_repeated_task_group_calls_get_numbered_suffixes() -> None:
    with DAG("tg_repeat") as d:

        @task_group
        def step() -> None:
            EmptyOperator(task_id="t")

        groups = [step(), step(), step()]
    assert [g.group_id for g in groups] == ["step", "step__1", "step__2"]
    assert d.task_ids == ["step.t", "step__1.t", "step__2.t"]


def test_task_group_decorator_takes_an_id_and_group_arguments() -> None:
    with DAG("tg_args") as d:

        @task_group(group_id="custom", default_args={"retries": 2})
        def anything() -> None:
            EmptyOperator(task_id="t")

        anything()
    t = d.get_task("custom.t")
    assert t.retries == 2


def test_task_group_function_arguments_reach_its_tasks() -> None:
    with DAG("tg_func_args") as d:

        @task
        def double(x: int) -> int:
            return x * 2

        @task_group
        def process(value: int) -> None:
            double(value)

        process(5)
    assert d.get_task("process.double").op_args == [5]  # type: ignore[attr-defined]


def test_a_task_group_returning_a_task_result_links_from_that_result() -> None:
    with DAG("tg_return") as d:

        @task
        def produce() -> int:
            return 1

        @task
        def consume(x: int) -> int:
            return x

        @task_group
        def pipeline() -> object:
            return consume(produce())

        result = pipeline()
        end = EmptyOperator(task_id="end")
        result >> end
    assert end.upstream_task_ids == {"pipeline.consume"}
    assert ("pipeline.produce", "pipeline.consume") in edges(d)


def test_a_task_group_returning_nothing_links_as_a_group() -> None:
    with DAG("tg_link") as d:

        @task_group
        def grp() -> None:
            EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")

        start = EmptyOperator(task_id="start")
        end = EmptyOperator(task_id="end")
        start >> grp() >> end
    assert edges(d) == {("start", "grp.a"), ("grp.a", "grp.b"), ("grp.b", "end")}


def test_nested_task_group_calls_nest_their_prefixes() -> None:
    with DAG("tg_nested") as d:

        @task_group
        def inner() -> None:
            EmptyOperator(task_id="t")

        @task_group
        def outer() -> None:
            inner()
            inner()

        outer()
    assert d.task_ids == ["outer.inner.t", "outer.inner__1.t"]


def test_taskflow_tasks_repeated_inside_a_group_get_suffixes_within_it() -> None:
    with DAG("tg_taskflow") as d:

        @task
        def work() -> None:
            pass

        with TaskGroup("g"):
            work()
            work()
    assert d.task_ids == ["g.work", "g.work__1"]


def test_a_task_group_cannot_be_a_setup() -> None:
    @task_group
    def grp() -> None:
        pass

    with pytest.raises(TypeError, match="task groups cannot be marked as setup or teardown"):
        setup(grp)
    with pytest.raises(TypeError, match="task groups cannot be marked as setup or teardown"):
        teardown(grp)


def test_group_label_is_its_own_id_without_parents() -> None:
    with DAG("labels"), TaskGroup("a"), TaskGroup("b") as b:
        t: AbstractOperator = EmptyOperator(task_id="t")
    assert b.label == "b"
    assert t.label == "t"
