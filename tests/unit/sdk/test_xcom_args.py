"""XComArgs: references to task output, and ``map``/``zip``/``concat`` over them."""

from __future__ import annotations

from typing import Any

import pytest

from tradewind.sdk import DAG, task
from tradewind.sdk.mapping import DictOfListsExpandInput
from tradewind.sdk.xcom_arg import XComArg, find_references


class FakeTI:
    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def resolve_upstream_output(self, task_id: str, key: str) -> Any:
        return self.values[task_id]


def make_args(*names: str) -> list[XComArg]:
    args: list[XComArg] = []
    with DAG(f"xa_{'_'.join(names)}"):
        for name in names:

            @task(task_id=name)
            def produce() -> list[int]:
                return []

            args.append(produce())
    return args


LENGTHS = {"a": 3, "b": 1, "c": 2}


def lengths(task_id: str, key: str) -> int | None:
    return LENGTHS.get(task_id)


def unknown(task_id: str, key: str) -> int | None:
    return None


def test_map_keeps_the_length() -> None:
    (a,) = make_args("a")
    assert a.map(str).get_length(lengths) == 3
    assert a.map(str).map(len).get_length(lengths) == 3


def test_zip_is_as_long_as_the_shortest_input() -> None:
    a, b, c = make_args("a", "b", "c")
    assert a.zip(b).get_length(lengths) == 1
    assert a.zip(c).get_length(lengths) == 2
    assert a.zip(b, c).get_length(lengths) == 1


def test_zip_with_a_fillvalue_is_as_long_as_the_longest_input() -> None:
    a, b = make_args("a", "b")
    assert a.zip(b, fillvalue=None).get_length(lengths) == 3
    assert a.zip(b, fillvalue=0).get_length(lengths) == 3


def test_concat_adds_the_lengths() -> None:
    a, b, c = make_args("a", "b", "c")
    assert a.concat(b).get_length(lengths) == 4
    assert a.concat(b, c).get_length(lengths) == 6


def test_lengths_are_unknown_until_every_input_is_known() -> None:
    a, b = make_args("a", "b")
    for arg in (a.map(str), a.zip(b), a.concat(b), a.zip(b, fillvalue=0)):
        assert arg.get_length(unknown) is None


def test_map_applies_the_function_to_each_element() -> None:
    (a,) = make_args("a")
    ctx = {"ti": FakeTI({"a": [1, 2, 3]})}
    assert a.map(lambda x: x * 10).resolve(ctx) == [10, 20, 30]
    assert a.map(lambda x: x + 1).map(str).resolve(ctx) == ["2", "3", "4"]


def test_map_over_a_dict_gets_key_value_pairs() -> None:
    (a,) = make_args("a")
    ctx = {"ti": FakeTI({"a": {"x": 1, "y": 2}})}
    assert a.map(lambda kv: f"{kv[0]}={kv[1]}").resolve(ctx) == ["x=1", "y=2"]


def test_map_over_a_scalar_fails_clearly() -> None:
    (a,) = make_args("a")
    with pytest.raises(TypeError, match="map\\(\\) needs a list or dict to map over, got int"):
        a.map(str).resolve({"ti": FakeTI({"a": 5})})


def test_zip_and_concat_resolve_like_the_builtins() -> None:
    a, b = make_args("a", "b")
    ctx = {"ti": FakeTI({"a": [1, 2, 3], "b": ["x"]})}
    assert a.zip(b).resolve(ctx) == [(1, "x")]
    assert a.zip(b, fillvalue=None).resolve(ctx) == [(1, "x"), (2, None), (3, None)]
    assert a.concat(b).resolve(ctx) == [1, 2, 3, "x"]


def test_combined_args_reference_every_producer() -> None:
    a, b, c = make_args("a", "b", "c")
    combined = a.zip(b).concat(c)
    assert [op.task_id for op, _ in combined.iter_references()] == ["a", "b", "c"]


def test_a_mapped_task_over_zipped_results_depends_on_both_producers() -> None:
    with DAG("xa_zip_dep") as d:

        @task
        def left() -> list[int]:
            return [1, 2]

        @task
        def right() -> list[str]:
            return ["a", "b"]

        @task
        def pair(p: tuple[int, str]) -> None:
            pass

        pair.expand(p=left().zip(right()))
    assert d.get_task("pair").upstream_task_ids == {"left", "right"}


def test_an_expand_input_over_a_mapped_arg_resolves_each_element() -> None:
    (a,) = make_args("a")
    expand_input = DictOfListsExpandInput({"x": a.map(lambda v: v * 2)})
    ctx = {"ti": FakeTI({"a": [1, 2, 3]})}
    assert expand_input.get_length(lengths) == 3
    assert [expand_input.resolve(ctx, i) for i in range(3)] == [{"x": 2}, {"x": 4}, {"x": 6}]


def test_an_xcomarg_is_not_iterable_while_the_dag_is_defined() -> None:
    (a,) = make_args("a")
    with pytest.raises(TypeError, match="not iterable while the DAG is defined"):
        list(a)


def test_find_references_looks_inside_containers() -> None:
    a, b, c = make_args("a", "b", "c")
    found = find_references({"k": [a, (b,)], "s": {c}, "plain": 1})
    assert {id(x) for x in found} == {id(a), id(b), id(c)}


def test_xcomargs_to_the_same_output_are_equal() -> None:
    (a,) = make_args("a")
    assert a == a.operator.output  # type: ignore[attr-defined]
    assert a["k"] == a["k"]  # type: ignore[index]
    assert a["k"] != a  # type: ignore[index]
    assert len({a, a.operator.output}) == 1  # type: ignore[attr-defined]
    assert repr(a["k"]) == "<XComArg a, 'k'>"  # type: ignore[index]
