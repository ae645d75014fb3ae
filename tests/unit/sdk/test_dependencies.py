"""Linking tasks: ``>>``, ``<<``, lists, ``chain``, ``chain_linear``, ``cross_downstream``,
and edge labels."""

from __future__ import annotations

import pytest

from tradewind.exceptions import DagDefinitionError
from tradewind.operators import EmptyOperator
from tradewind.sdk import DAG, Label, TaskGroup, chain, chain_linear, cross_downstream, task
from tradewind.sdk.abstractoperator import AbstractOperator


def ops(*ids: str) -> list[AbstractOperator]:
    return [EmptyOperator(task_id=i) for i in ids]


def edges(d: DAG) -> set[tuple[str, str]]:
    return {(t.task_id, down) for t in d.tasks for down in t.downstream_task_ids}


def test_rshift_makes_the_right_side_run_after_the_left() -> None:
    with DAG("rshift") as d:
        a, b = ops("a", "b")
        result = a >> b
    assert result is b
    assert b.upstream_task_ids == {"a"}
    assert a.downstream_task_ids == {"b"}
    assert edges(d) == {("a", "b")}


def test_lshift_makes_the_right_side_run_before_the_left() -> None:
    with DAG("lshift") as d:
        a, b = ops("a", "b")
        result = a << b
    assert result is b
    assert edges(d) == {("b", "a")}


def test_a_chain_of_shifts_links_each_step() -> None:
    with DAG("shifts") as d:
        a, b, c = ops("a", "b", "c")
        a >> b >> c
    assert edges(d) == {("a", "b"), ("b", "c")}


def test_lists_fan_out_and_fan_in() -> None:
    with DAG("fan") as d:
        a, b, c, e = ops("a", "b", "c", "e")
        a >> [b, c] >> e
    assert edges(d) == {("a", "b"), ("a", "c"), ("b", "e"), ("c", "e")}


def test_a_list_on_the_left_works_in_both_directions() -> None:
    with DAG("left_list") as d:
        a, b, c, e = ops("a", "b", "c", "e")
        [a, b] >> c
        [a, b] << e
    assert edges(d) == {("a", "c"), ("b", "c"), ("e", "a"), ("e", "b")}


def test_set_upstream_and_set_downstream_accept_lists() -> None:
    with DAG("set_methods") as d:
        a, b, c = ops("a", "b", "c")
        a.set_downstream([b, c])
        c.set_upstream(b)
    assert edges(d) == {("a", "b"), ("a", "c"), ("b", "c")}


def test_linking_twice_is_harmless() -> None:
    with DAG("twice") as d:
        a, b = ops("a", "b")
        a >> b
        a >> b
    assert edges(d) == {("a", "b")}


def test_linking_a_task_outside_any_dag_adds_it_to_the_other_tasks_dag() -> None:
    free = EmptyOperator(task_id="free")
    with DAG("adopt") as d:
        a = EmptyOperator(task_id="a")
    a >> free
    assert free.dag is d
    assert "free" in d.task_dict


def test_linking_two_tasks_outside_any_dag_fails() -> None:
    a, b = ops("a", "b")
    with pytest.raises(DagDefinitionError, match="neither is in a DAG"):
        a >> b


def test_linking_to_something_that_is_not_a_task_fails_clearly() -> None:
    with DAG("not_a_task"):
        a = EmptyOperator(task_id="a")
        with pytest.raises(TypeError, match="cannot set a dependency on 'b'"):
            a >> "b"  # type: ignore[operator]


def test_taskflow_results_link_like_tasks() -> None:
    with DAG("xcom_links") as d:

        @task
        def one() -> int:
            return 1

        @task
        def two() -> int:
            return 2

        first = one()
        first >> two()
        e = EmptyOperator(task_id="e")
        e << first
    assert edges(d) == {("one", "two"), ("one", "e")}


# -- chain ------------------------------------------------------------------------------


def test_chain_links_each_element_to_the_next() -> None:
    with DAG("chain") as d:
        chain(*ops("a", "b", "c"))
    assert edges(d) == {("a", "b"), ("b", "c")}


def test_chain_fans_out_to_and_in_from_lists() -> None:
    with DAG("chain_fan") as d:
        a, b, c, e = ops("a", "b", "c", "e")
        chain(a, [b, c], e)
    assert edges(d) == {("a", "b"), ("a", "c"), ("b", "e"), ("c", "e")}


def test_chain_links_neighbouring_lists_pairwise() -> None:
    with DAG("chain_pairs") as d:
        a, b, c, x, y, z = ops("a", "b", "c", "x", "y", "z")
        chain([a, b, c], [x, y, z])
    assert edges(d) == {("a", "x"), ("b", "y"), ("c", "z")}


def test_chain_with_neighbouring_lists_of_different_lengths_fails() -> None:
    with DAG("chain_mismatch"):
        a, b, x = ops("a", "b", "x")
        with pytest.raises(DagDefinitionError, match=r"different lengths \(2 and 1\)"):
            chain([a, b], [x])


def test_chain_accepts_taskflow_results_and_labels() -> None:
    with DAG("chain_mixed") as d:

        @task
        def produce() -> int:
            return 1

        e = EmptyOperator(task_id="e")
        chain(produce(), Label("then"), e)
    assert edges(d) == {("produce", "e")}
    assert d.edge_info[("produce", "e")] == {"label": "then"}


def test_chain_rejects_values_that_are_not_tasks() -> None:
    with DAG("chain_bad"):
        a = EmptyOperator(task_id="a")
        with pytest.raises(TypeError, match="chain\\(\\) cannot link 5"):
            chain(5, a)


# -- chain_linear -------------------------------------------------------------------------


def test_chain_linear_links_every_task_of_each_element_to_every_task_of_the_next() -> None:
    with DAG("linear") as d:
        a, b, c, x, y = ops("a", "b", "c", "x", "y")
        chain_linear(a, [b, c], [x, y])
    assert edges(d) == {("a", "b"), ("a", "c"), ("b", "x"), ("b", "y"), ("c", "x"), ("c", "y")}


def test_chain_linear_needs_two_elements() -> None:
    with DAG("linear_short"):
        (a,) = ops("a")
        with pytest.raises(DagDefinitionError, match="at least two elements"):
            chain_linear(a)


# -- cross_downstream ---------------------------------------------------------------------


def test_cross_downstream_links_every_pair() -> None:
    with DAG("cross") as d:
        a, b, x, y = ops("a", "b", "x", "y")
        cross_downstream([a, b], [x, y])
    assert edges(d) == {("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")}


# -- labels -------------------------------------------------------------------------------


def test_a_label_between_two_tasks_names_their_edge() -> None:
    with DAG("label") as d:
        a, b = ops("a", "b")
        a >> Label("on success") >> b
    assert edges(d) == {("a", "b")}
    assert d.edge_info == {("a", "b"): {"label": "on success"}}


def test_a_label_works_written_right_to_left() -> None:
    with DAG("label_rtl") as d:
        a, b = ops("a", "b")
        b << Label("x") << a
    assert edges(d) == {("a", "b")}
    assert d.edge_info[("a", "b")] == {"label": "x"}


def test_a_label_to_a_list_names_every_edge() -> None:
    with DAG("label_list") as d:
        a, b, c = ops("a", "b", "c")
        a >> Label("fan") >> [b, c]
    assert d.edge_info == {("a", "b"): {"label": "fan"}, ("a", "c"): {"label": "fan"}}


def test_a_label_from_a_list_names_every_edge() -> None:
    with DAG("label_from_list") as d:
        a, b, c = ops("a", "b", "c")
        [a, b] >> Label("join") >> c
    assert d.edge_info == {("a", "c"): {"label": "join"}, ("b", "c"): {"label": "join"}}


def test_set_downstream_takes_an_edge_label() -> None:
    with DAG("label_kw") as d:
        a, b = ops("a", "b")
        a.set_downstream(b, edge_label="via kwarg")
    assert d.edge_info[("a", "b")] == {"label": "via kwarg"}


def test_a_label_alone_adds_no_edge_and_no_task() -> None:
    with DAG("label_alone") as d:
        (a,) = ops("a")
        a >> Label("dangling")
    assert edges(d) == set()
    assert d.task_ids == ["a"]


def test_branches_may_each_have_their_own_label() -> None:
    with DAG("label_branches") as d:
        a, x, y = ops("a", "x", "y")
        chain(a, [Label("left"), Label("right")], [x, y])
    assert d.edge_info == {("a", "x"): {"label": "left"}, ("a", "y"): {"label": "right"}}


def test_a_label_into_a_group_names_the_edges_to_its_roots() -> None:
    with DAG("label_group") as d:
        (a,) = ops("a")
        with TaskGroup("g") as g:
            EmptyOperator(task_id="x") >> EmptyOperator(task_id="y")
        a >> Label("go") >> g
    assert d.edge_info == {("a", "g.x"): {"label": "go"}}
