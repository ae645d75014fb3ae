"""Descriptions of arbitrary values: plain JSON, the same in every process, nothing secret kept."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

from tradewind.serialization.values import describe, digest, json_only


class Thing:
    def method(self) -> None: ...


def test_descriptions_are_json_and_name_types_not_addresses() -> None:
    value = {
        "when": date(2024, 1, 2),
        "span": timedelta(minutes=1),
        "nan": math.nan,
        "fn": Thing().method,
        "obj": Thing(),
        "cls": Thing,
        "blob": b"secret",
        (1, 2): "tuple key",
        "set": {3, 1, 2},
    }
    out = describe(value)
    text = json.dumps(out, allow_nan=False)
    assert "0x" not in text and "secret" not in text
    assert out["when"] == "2024-01-02" and out["span"] == 60.0 and out["nan"] == "nan"
    assert out["fn"] == f"<callable {__name__}.Thing.method>"
    assert out["obj"] == f"<{__name__}.Thing object>"
    assert out["cls"] == f"<class {__name__}.Thing>"
    assert out["[1, 2]"] == "tuple key"
    assert out["set"] == [1, 2, 3]


def test_digest_ignores_dict_order_and_set_order_but_not_values() -> None:
    assert digest({"a": 1, "b": {2, 3}}) == digest({"b": {3, 2}, "a": 1})
    assert digest({"a": 1}) != digest({"a": 2})


def test_json_only_keeps_what_is_json_and_drops_the_rest() -> None:
    value = {"a": [1, object(), "x"], "b": object(), 3: "int key", "c": {"d": math.inf, "e": None}}
    assert json_only(value) == {"a": [1, "x"], "c": {"e": None}}
    assert json_only(object()) is None


def test_deep_nesting_is_cut_off_not_a_recursion_error() -> None:
    deep: list[object] = []
    node = deep
    for _ in range(500):
        child: list[object] = []
        node.append(child)
        node = child
    json.dumps(describe(deep))
    assert json_only(deep) is not None
