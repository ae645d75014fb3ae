"""Mapped task groups as defined: ``@task_group`` + ``expand`` / ``partial`` / ``expand_kwargs``,
what Airflow refuses, how many copies each task gets and which copies relate."""

from __future__ import annotations

from typing import Any

import pytest

from tradewind.exceptions import DagDefinitionError
from tradewind.operators import EmptyOperator
from tradewind.sdk import DAG, TaskGroup, task, task_group
from tradewind.sdk.map_indexes import (
    expansion_count,
    expansion_dependencies,
    in_mapped_group,
    initial_map_indexes,
    relevant_map_indexes,
)
from tradewind.sdk.mapped_group import MappedArgument
from tradewind.serialization.dag_json import SerializedDAG, serialize_dag


@task
def double(x: int) -> int:
    return 2 * x


@task
def numbers() -> list[int]:
    return [1, 2]


@task
def total(values: Any) -> int:
    return sum(values)


def no_lengths(task_id: str, key: str) -> int | None:
    return None


def test_expand_makes_a_mapped_group_whose_tasks_take_a_stand_in() -> None:
    with DAG("mg_define") as dag:

        @task_group
        def process(x: int) -> Any:
            return double(x)

        result = process.expand(x=[1, 2, 3])
        total(result)
    group = dag.task_group.children["process"]
    assert isinstance(group, TaskGroup) and group.is_mapped
    inner = dag.task_dict["process.double"]
    assert isinstance(inner.op_args[0], MappedArgument)  # type: ignore[attr-defined]
    assert in_mapped_group(inner) and not inner.is_mapped
    assert dag.task_dict["total"].upstream_task_ids == {"process.double"}


def test_the_feeder_of_a_mapped_group_runs_before_every_root_of_the_group() -> None:
    with DAG("mg_feeder") as dag:

        @task_group
        def process(x: int) -> None:
            double(x)
            EmptyOperator(task_id="marker")

        process.expand(x=numbers())
    assert dag.task_dict["process.double"].upstream_task_ids == {"numbers"}
    assert dag.task_dict["process.marker"].upstream_task_ids == {"numbers"}
    for tid in ("process.double", "process.marker"):
        assert expansion_dependencies(dag.task_dict[tid]) == {"numbers"}


def test_partial_and_expand_kwargs_pass_every_argument_as_a_stand_in() -> None:
    with DAG("mg_kwargs") as dag:

        @task
        def add(x: int, y: int) -> int:
            return x + y

        @task_group
        def grp(x: int, y: int = 0) -> Any:
            return add(x, y)

        grp.partial(y=5).expand(x=[1, 2])
        grp.expand_kwargs([{"x": 1, "y": 2}])
    x, y = dag.task_dict["grp.add"].op_args  # type: ignore[attr-defined]
    assert y == 5 and isinstance(x, MappedArgument)
    second = dag.task_dict["grp__1.add"].op_args  # type: ignore[attr-defined]
    assert all(isinstance(arg, MappedArgument) for arg in second)


def test_bad_expansions_are_refused_at_definition_as_in_airflow() -> None:
    with DAG("mg_bad"):

        @task_group
        def grp(x: int, y: int = 0) -> None:
            double(x)

        with pytest.raises(TypeError, match="no arguments to expand against"):
            grp.expand()
        with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
            grp.expand(z=[1])
        with pytest.raises(ValueError, match="unexpected type 'int'"):
            grp.expand(x=1)
        with pytest.raises(TypeError, match="both partial"):
            grp.partial(x=1).expand(x=[1])
        with pytest.raises(TypeError, match="list\\[dict\\]"):
            grp.expand_kwargs(5)
        with pytest.raises(ValueError, match="custom key"):
            grp.expand(x=numbers()["other"])


def test_a_mapped_task_inside_a_mapped_group_is_refused() -> None:
    with DAG("mg_inner_mapped"):

        @task_group
        def grp(x: int) -> None:
            double.expand(x=[1, 2])

        with pytest.raises(DagDefinitionError, match="operator expansion in an expanded"):
            grp.expand(x=[1])


def test_always_is_refused_in_a_group_mapped_over_an_upstream_output() -> None:
    with DAG("mg_always"):

        @task_group
        def grp(x: int) -> None:
            double(x) >> EmptyOperator(task_id="last", trigger_rule="always")

        grp.expand(x=[1, 2])  # literals: nothing links the group as a whole
        with pytest.raises(DagDefinitionError, match="trigger rule 'always'"):
            grp.expand(x=numbers())


def test_expanding_over_a_mapped_argument_again_is_refused() -> None:
    with DAG("mg_nested_arg"):

        @task_group
        def inner(y: int) -> None:
            double(y)

        @task_group
        def outer(x: int) -> None:
            inner.expand(y=x)

        with pytest.raises(ValueError, match="Nested Mapped TaskGroups"):
            outer.expand(x=[[1, 2]])


def test_a_plain_call_of_the_factory_still_makes_a_plain_group() -> None:
    with DAG("mg_plain") as dag:

        @task_group(group_id="custom")
        def grp(x: int) -> Any:
            return double(x)

        grp(1)
        grp.override(group_id="other").expand(x=[1])
    assert not dag.task_group.children["custom"].is_mapped  # type: ignore[union-attr]
    assert dag.task_group.children["other"].is_mapped  # type: ignore[union-attr]
    assert initial_map_indexes(dag.task_dict["custom.double"]) == [-1]


def _nested() -> DAG:
    with DAG("mg_nested") as dag:

        @task_group
        def outer(x: int) -> None:
            @task_group
            def inner(y: int) -> Any:
                return double.override(task_id="pair")(y)

            first = double.override(task_id="first")(x)
            pairs = inner.expand(y=[10, 20, 30])
            first >> pairs >> EmptyOperator(task_id="last")

        outer.expand(x=numbers())
    return dag


@pytest.mark.parametrize("serialized", [False, True])
def test_copies_multiply_in_nested_groups_and_relate_by_index(serialized: bool) -> None:
    dag: Any = _nested()
    if serialized:
        dag = SerializedDAG.from_dict(serialize_dag(dag))
    first, pair, last = (dag.task_dict[f"outer.{t}"] for t in ("first", "inner.pair", "last"))

    def lengths(task_id: str, key: str) -> int | None:
        return 2 if task_id == "numbers" else None

    assert expansion_count(pair, lengths) == 6
    assert expansion_count(pair, no_lengths) is None
    assert initial_map_indexes(pair) == [-1]  # sized by an upstream output: at run time
    # pair[4] is outer copy 1, inner copy 1: it relates to first[1].
    assert relevant_map_indexes(pair, 4, first, lengths) == 1
    # As Airflow's scheduler: copy i of ``last`` relates to as many copies of the more deeply
    # mapped ``pair`` as ``last`` has per outer copy (one).
    assert relevant_map_indexes(last, 1, pair, lengths) == range(1, 2)
    assert relevant_map_indexes(dag.task_dict["numbers"], -1, first, lengths) is None
