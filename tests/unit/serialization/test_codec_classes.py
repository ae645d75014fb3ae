"""Dataclasses, pydantic models and enums in XCom values: rebuilt as their class, safely."""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
import types
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tradewind.exceptions import XComError
from tradewind.serialization.codec import TAG, UnsupportedValueError, decode, encode


class Color(enum.Enum):
    RED = "red"
    PAIR = (1, 2)


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


@dataclasses.dataclass(frozen=True)
class Reading:
    sensor: str
    at: datetime
    values: tuple[float, ...]
    tags: frozenset[str]
    color: Color
    where: Point | None = None
    note: dict[Any, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(slots=True)
class Slotted:
    amount: Decimal
    id: uuid.UUID


@dataclasses.dataclass
class Derived:
    base: int
    double: int = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.double = self.base * 2


@dataclasses.dataclass
class WithInitVar:
    total: int
    scale: dataclasses.InitVar[int]

    def __post_init__(self, scale: int) -> None:
        self.total *= scale


@dataclasses.dataclass
class Node:
    name: str
    child: Node | None = None


class Outer:
    @dataclasses.dataclass
    class Inner:
        n: int


READING = Reading(
    sensor="t1",
    at=datetime(2024, 5, 1, 12, tzinfo=UTC),
    values=(1.5, float("inf")),
    tags=frozenset({"a", "b"}),
    color=Color.PAIR,
    where=Point(3, 4),
    note={1: date(2024, 1, 1), TAG: "not a tag"},
)


@pytest.mark.parametrize(
    "value",
    [
        Point(1, 2),
        READING,
        Slotted(Decimal("9.99"), uuid.UUID(int=7)),
        Color.RED,
        Color.PAIR,
        Outer.Inner(5),
        Node("a", Node("b")),
    ],
    ids=lambda v: type(v).__qualname__,
)
def test_dataclasses_and_enums_round_trip_as_their_class(value: Any) -> None:
    back = decode(encode(value))
    assert back == value
    assert type(back) is type(value)


def test_fields_keep_their_types_nested_dataclasses_included() -> None:
    back = decode(encode(READING))
    assert type(back.values) is tuple and type(back.tags) is frozenset
    assert type(back.where) is Point
    assert back.note == {1: date(2024, 1, 1), TAG: "not a tag"}
    assert back.at.tzinfo is not None


def test_dataclasses_inside_lists_and_dicts_round_trip() -> None:
    value = {"points": [Point(i, -i) for i in range(3)], "by_color": {Color.RED: Point(9)}}
    back = decode(encode(value))
    assert back == value
    assert all(type(p) is Point for p in back["points"])
    assert list(back["by_color"]) == [Color.RED]


def test_a_dataclass_is_stored_by_class_path_and_fields() -> None:
    stored = json.loads(encode(Point(1, 2)))
    assert stored == {TAG: "dataclass", "v": [f"{__name__}:Point", {"x": 1, "y": 2}]}


def test_a_field_the_class_derives_is_recomputed_not_stored() -> None:
    value = Derived(4)
    stored = json.loads(encode(value))
    assert stored["v"][1] == {"base": 4}
    back = decode(encode(value))
    assert back.double == 8 and back == value


def test_a_dataclass_defined_in_a_function_fails_at_push_naming_it() -> None:
    @dataclasses.dataclass
    class Local:
        n: int

    with pytest.raises(UnsupportedValueError) as err:
        encode({"rows": [Local(1)]})
    message = str(err.value)
    assert "value['rows'][0]" in message
    assert "Local" in message and "define Local at module level" in message


def test_a_dataclass_needing_an_init_var_fails_at_push() -> None:
    with pytest.raises(UnsupportedValueError, match="__init__ needs scale"):
        encode(WithInitVar(2, 3))


def test_a_dataclass_containing_itself_fails_clearly() -> None:
    loop = Node("a")
    loop.child = loop
    with pytest.raises(UnsupportedValueError, match=r"value\.child: it contains itself"):
        encode(loop)


def test_an_unsupported_field_is_named_by_its_path() -> None:
    with pytest.raises(UnsupportedValueError, match=r"value\[0\]\.x of type builtins\.object"):
        encode([Point(object())])  # type: ignore[arg-type]


def test_a_dataclass_class_is_not_a_value() -> None:
    with pytest.raises(UnsupportedValueError, match=r"of type builtins.type"):
        encode(Point)


def _stored(kind: str, path: str, data: Any) -> str:
    return json.dumps({TAG: kind, "v": [path, data]})


def test_a_stored_path_to_a_function_is_refused_not_called() -> None:
    calls: list[Any] = []
    sys.modules["tw_test_trap"] = trap = types.ModuleType("tw_test_trap")
    trap.boom = lambda **kw: calls.append(kw)  # type: ignore[attr-defined]
    try:
        for path in ("tw_test_trap:boom", "os:system", "builtins:dict", "subprocess:Popen"):
            with pytest.raises(XComError, match="is not one, and a stored value only ever"):
                decode(_stored("dataclass", path, {"args": "echo hi"}))
    finally:
        del sys.modules["tw_test_trap"]
    assert calls == []


def test_a_stored_path_must_name_a_class_of_the_stored_kind() -> None:
    with pytest.raises(XComError, match=r"stored enum: .*:Point is not one"):
        decode(_stored("enum", f"{__name__}:Point", 1))
    with pytest.raises(XComError, match=r"stored dataclass: .*:Color is not one"):
        decode(_stored("dataclass", f"{__name__}:Color", {}))


@pytest.mark.parametrize("path", ["", "no_colon.Point", "a:b:c", "../x:Y", "m:1abc", 7])
def test_a_malformed_class_path_is_refused(path: Any) -> None:
    with pytest.raises(XComError, match="is not a class path"):
        decode(json.dumps({TAG: "dataclass", "v": [path, {}]}))


def test_a_class_whose_module_is_not_importable_fails_naming_it() -> None:
    with pytest.raises(XComError) as err:
        decode(_stored("dataclass", "tw_no_such_module.models:Row", {"id": 1}))
    message = str(err.value)
    assert "tw_no_such_module.models:Row" in message
    assert "cannot be imported where the value is pulled" in message


def test_a_class_gone_from_its_module_fails_naming_it() -> None:
    with pytest.raises(XComError, match=f"module {__name__} has no class Vanished"):
        decode(_stored("dataclass", f"{__name__}:Vanished", {}))


def test_a_class_that_changed_since_the_push_fails_naming_it() -> None:
    with pytest.raises(XComError, match=r"cannot rebuild the stored dataclass .*:Point .*z"):
        decode(_stored("dataclass", f"{__name__}:Point", {"x": 1, "z": 2}))
    with pytest.raises(XComError, match=r"cannot rebuild the stored enum .*:Color"):
        decode(_stored("enum", f"{__name__}:Color", "purple"))


def test_reading_a_class_imports_its_module_when_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "tw_test_models_on_path"
    (tmp_path / f"{name}.py").write_text(
        "import dataclasses\n\n@dataclasses.dataclass\nclass Row:\n    id: int\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert name not in sys.modules
    try:
        back = decode(_stored("dataclass", f"{name}:Row", {"id": 1}))
    finally:
        sys.modules.pop(name, None)
    assert type(back).__module__ == name and back.id == 1
