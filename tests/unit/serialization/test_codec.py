"""The XCom value codec: exact round-trips for supported types, clear errors otherwise."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tradewind.exceptions import XComError
from tradewind.serialization.codec import (
    TAG,
    UnsupportedValueError,
    decode,
    encode,
    from_jsonable,
    to_jsonable,
)

VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -7,
    2**70,
    1.5,
    -0.0,
    "text",
    "",
    "ünïcödé ✓",
    [],
    [1, "a", None],
    {},
    {"a": 1, "b": [True, None]},
    (),
    (1, "two"),
    {1, 2, 3},
    frozenset({"x"}),
    set(),
    datetime(2024, 3, 5, 12, 30, 45, 123456),
    datetime(2024, 3, 5, 12, 30, tzinfo=UTC),
    datetime(2024, 3, 5, 12, 30, tzinfo=timezone(timedelta(hours=-5))),
    date(2024, 2, 29),
    time(23, 59, 59, 999999),
    time(8, 0, tzinfo=UTC),
    timedelta(days=3, seconds=7, microseconds=11),
    timedelta(days=-1, seconds=5),
    timedelta(days=10**6, microseconds=1),
    Decimal("3.14159265358979323846264338327950288"),
    Decimal("-0.00"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    b"\x00\xffbinary",
    b"",
    bytearray(b"mutable"),
    {1: "int key", (2, 3): "tuple key", None: "none key", frozenset({4}): "fs key"},
    {TAG: "not a tag", "v": 1},
    {TAG: "datetime", "v": "2024-01-01"},
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_supported_values_round_trip_exactly(value: Any) -> None:
    back = decode(encode(value))
    assert back == value
    assert type(back) is type(value)


def test_nested_values_round_trip_with_their_types() -> None:
    value = {
        "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "rows": [(1, Decimal("1.10"), {b"k": {date(2024, 1, 1)}}), frozenset({(1, 2)})],
        "ids": {uuid.UUID(int=1): [timedelta(seconds=1.5), None]},
        (1, "a"): {"deep": [[[(time(1, 2),)]]]},
    }
    back = decode(encode(value))
    assert back == value
    row = back["rows"][0]
    assert type(row) is tuple
    assert type(row[1]) is Decimal
    assert type(row[2][b"k"]) is set
    assert type(back["rows"][1]) is frozenset


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_round_trip(value: float) -> None:
    text = encode(value)
    json.loads(text)  # strict JSON: no bare NaN/Infinity tokens
    assert "NaN" not in text and "Infinity" not in text
    back = decode(text)
    assert type(back) is float
    assert (math.isnan(back) and math.isnan(value)) or back == value


def test_nan_inside_containers_round_trips() -> None:
    back = decode(encode({"x": [math.nan, 1.0], "y": (math.inf,)}))
    assert math.isnan(back["x"][0]) and back["x"][1] == 1.0
    assert back["y"] == (math.inf,)


def test_a_dict_containing_the_tag_key_is_not_mistaken_for_a_tagged_value() -> None:
    for value in ({TAG: "tuple", "v": [1, 2]}, {TAG: "bogus", "v": 1}, {TAG: 1}):
        assert decode(encode(value)) == value


def test_plain_json_stays_plain_json() -> None:
    value = {"a": [1, 2.5, "x", None, True], "b": {"c": {}}}
    assert json.loads(encode(value)) == value
    assert to_jsonable(value) == value


def test_aware_datetimes_keep_their_zone_offset() -> None:
    paris = datetime(2024, 7, 1, 12, tzinfo=ZoneInfo("Europe/Paris"))
    back = decode(encode(paris))
    assert back == paris
    assert back.utcoffset() == timedelta(hours=2)


def test_timedelta_stored_as_seconds_by_older_versions_still_decodes() -> None:
    old = json.dumps({TAG: "timedelta", "v": 90.5})
    assert decode(old) == timedelta(seconds=90.5)


def test_encoding_is_compact_text() -> None:
    assert encode({"a": [1, 2]}) == '{"a":[1,2]}'
    assert decode(encode("x").encode()) == "x"


class Custom:
    pass


def test_an_unsupported_value_fails_naming_its_type() -> None:
    with pytest.raises(UnsupportedValueError) as err:
        encode(Custom())
    message = str(err.value)
    assert "cannot store value of type" in message
    assert f"{__name__}.Custom" in message
    assert "datetime" in message  # says what is supported


def test_an_unsupported_nested_value_fails_naming_its_path() -> None:
    with pytest.raises(UnsupportedValueError, match=r"value\['rows'\]\[1\]\['f'\] of type"):
        encode({"rows": [1, {"f": lambda: None}]})
    with pytest.raises(UnsupportedValueError, match=r"value\[0\]\[1\] of type builtins.object"):
        encode([(1, object())])


def test_an_unsupported_dict_key_fails_naming_it() -> None:
    with pytest.raises(UnsupportedValueError, match=r"value key .* of type .*Custom"):
        encode({Custom(): 1})


def test_a_value_containing_itself_fails_clearly() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(UnsupportedValueError, match=r"value\[1\]: it contains itself"):
        encode(loop)


def test_the_same_object_twice_is_not_a_cycle() -> None:
    shared = [1, 2]
    assert decode(encode({"a": shared, "b": shared})) == {"a": [1, 2], "b": [1, 2]}


def test_unsupported_values_are_type_errors_and_xcom_errors() -> None:
    with pytest.raises(TypeError):
        encode(Custom())
    with pytest.raises(XComError):
        encode(Custom())


def test_an_unknown_tag_in_stored_data_fails_clearly() -> None:
    with pytest.raises(XComError, match="unknown tagged type 'hologram'"):
        from_jsonable({TAG: "hologram", "v": "..."})


# Text the codec wrote before dataclasses, numpy, pandas and pickle were added: stored values
# outlive upgrades, so it must keep decoding to the same values.
OLD_TEXT = (
    '{"when":{"__tw__":"datetime","v":"2024-03-05T12:30:00-05:00"},'
    '"day":{"__tw__":"date","v":"2024-02-29"},"t":{"__tw__":"time","v":"08:00:00"},'
    '"span":{"__tw__":"timedelta","v":[3,7,11]},"price":{"__tw__":"decimal","v":"3.10"},'
    '"id":{"__tw__":"uuid","v":"00000000-0000-0000-0000-000000000001"},'
    '"raw":{"__tw__":"bytes","v":"AP8="},"buf":{"__tw__":"bytearray","v":"YWI="},'
    '"pair":{"__tw__":"tuple","v":[1,"two"]},"s":{"__tw__":"set","v":[1]},'
    '"fs":{"__tw__":"frozenset","v":["x"]},"nan":{"__tw__":"float","v":"inf"},'
    '"keys":{"__tw__":"dict","v":[[1,"a"],[{"__tw__":"tuple","v":[2,3]},"b"]]},'
    '"tagkey":{"__tw__":"dict","v":[["__tw__","x"],["v",1]]},"plain":[1,"a",null]}'
)
OLD_VALUE = {
    "when": datetime(2024, 3, 5, 12, 30, tzinfo=timezone(timedelta(hours=-5))),
    "day": date(2024, 2, 29),
    "t": time(8, 0),
    "span": timedelta(days=3, seconds=7, microseconds=11),
    "price": Decimal("3.10"),
    "id": uuid.UUID(int=1),
    "raw": b"\x00\xff",
    "buf": bytearray(b"ab"),
    "pair": (1, "two"),
    "s": {1},
    "fs": frozenset({"x"}),
    "nan": math.inf,
    "keys": {1: "a", (2, 3): "b"},
    "tagkey": {TAG: "x", "v": 1},
    "plain": [1, "a", None],
}


def test_values_stored_by_the_previous_codec_still_decode() -> None:
    back = decode(OLD_TEXT)
    assert back == OLD_VALUE
    assert {k: type(v) for k, v in back.items()} == {k: type(v) for k, v in OLD_VALUE.items()}
    assert decode(OLD_TEXT.encode()) == OLD_VALUE


def test_the_same_values_are_still_written_the_same_way() -> None:
    # Older readers (a worker not yet upgraded) must understand what a newer one pushes.
    assert encode(OLD_VALUE) == OLD_TEXT


def test_subclasses_of_supported_types_are_stored_as_their_base_type() -> None:
    from collections import OrderedDict, namedtuple
    from enum import IntEnum

    class Level(IntEnum):
        HIGH = 3

    class Ratio(float):
        pass

    Point = namedtuple("Point", "x y")
    back = decode(encode([OrderedDict(a=1), Point(1, 2), Level.HIGH, Ratio(0.5)]))
    assert back == [{"a": 1}, (1, 2), 3, 0.5]
    assert [type(v) for v in back] == [dict, tuple, int, float]


def test_a_value_nested_too_deeply_fails_clearly() -> None:
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep, (1,)]
    with pytest.raises(UnsupportedValueError, match="nested too deeply"):
        encode(deep)


def test_to_jsonable_names_the_value_by_the_given_path() -> None:
    with pytest.raises(UnsupportedValueError, match=r"cannot store result\[0\]"):
        to_jsonable([Custom()], path="result")


def test_plain_json_text_decodes_without_a_walk_and_tag_like_strings_still_round_trip() -> None:
    assert decode('{"a":[1,2,{"b":null}]}') == {"a": [1, 2, {"b": None}]}
    value = {"note": '"__tw__" appears in this string', "when": (1, 2)}
    assert decode(encode(value)) == value
    assert decode(encode(value).encode()) == value


def test_the_codec_imports_no_optional_library_until_a_value_needs_it() -> None:
    import subprocess
    import sys

    script = (
        "import sys, dataclasses, enum\n"
        "from tradewind.serialization.codec import decode, encode\n"
        "@dataclasses.dataclass\n"
        "class P:\n"
        "    x: int\n"
        "class E(enum.Enum):\n"
        "    A = 1\n"
        "decode(encode({'p': P(1), 'e': E.A, 't': (1,), 'n': float('nan')}))\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow', 'pydantic') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.strip() == "[]"
