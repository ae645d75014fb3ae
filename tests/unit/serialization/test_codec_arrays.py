"""numpy arrays and pandas DataFrames in XCom values: exact, and binary inside the JSON.

numpy, pandas and pyarrow are optional extras. The dev extra installs them so these run;
elsewhere they skip, except under CI, where a missing one fails them.
"""

from __future__ import annotations

import base64
import dataclasses
import decimal
import importlib
import json
import os
from datetime import date
from typing import Any
from unittest import mock

import pytest

from tradewind.exceptions import XComError
from tradewind.serialization.codec import TAG, UnsupportedValueError, decode, encode


def _optional(module: str) -> Any:
    """The module, or skip; under CI (which installs the dev extra) a missing one fails."""
    if os.environ.get("CI", "").lower() == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module)


np = _optional("numpy")


@dataclasses.dataclass
class Batch:
    name: str
    weights: Any


# --- numpy


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int32).reshape(3, 4),
        np.linspace(0, 1, 5),
        np.array([np.nan, np.inf, -0.0]),
        np.zeros((2, 0, 3), dtype=np.uint8),
        np.array(3.5),
        np.asfortranarray(np.arange(6).reshape(2, 3)),
        np.array(["a", "bc"]),
        np.array([1 + 2j], dtype=np.complex64),
        np.array(["2024-01-01T12:00:00"], dtype="datetime64[s]"),
        np.array([True, False]),
        np.array([(1, 2.5)], dtype=[("id", "i4"), ("score", "f8")]),
        np.arange(10)[::3],
    ],
    ids=lambda a: f"{a.dtype}-{a.shape}",
)
def test_numpy_arrays_round_trip_exactly(array: Any) -> None:
    back = decode(encode(array))
    assert type(back) is np.ndarray
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    back[...] = back  # a fresh, writable array, not a view of the stored text


def test_an_array_is_stored_as_npy_bytes_not_as_json_numbers() -> None:
    array = np.arange(100_000, dtype=np.float64)
    stored = json.loads(encode(array))
    assert stored[TAG] == "numpy.ndarray"
    raw = base64.b64decode(stored["v"])
    assert raw.startswith(b"\x93NUMPY")
    assert len(raw) < array.nbytes + 256  # the raw buffer plus a small header


@pytest.mark.parametrize(
    "scalar",
    [
        np.int64(-5),
        np.uint8(200),
        np.int8(-1),
        np.float32(1.25),
        np.float64("nan"),
        np.bool_(True),
        np.float16(0.5),
        np.complex128(1 - 1j),
        np.datetime64("2024-03-05"),
        np.timedelta64(90, "s"),
        np.longdouble("1.5"),
    ],
    ids=lambda s: type(s).__name__,
)
def test_numpy_scalars_round_trip_with_their_dtype(scalar: Any) -> None:
    back = decode(encode(scalar))
    assert type(back) is type(scalar)
    assert back == scalar or (np.isnan(back) and np.isnan(scalar))


def test_numpy_strings_are_stored_as_plain_strings_and_bytes() -> None:
    assert decode(encode([np.str_("x"), np.bytes_(b"y")])) == ["x", b"y"]


def test_arrays_nested_in_containers_and_dataclasses_round_trip() -> None:
    value = {"batches": [Batch("a", np.ones(3)), Batch("b", np.int16(7))], "t": (np.arange(2),)}
    back = decode(encode(value))
    np.testing.assert_array_equal(back["batches"][0].weights, np.ones(3))
    assert back["batches"][1].weights == np.int16(7)
    assert type(back["batches"][1].weights) is np.int16
    np.testing.assert_array_equal(back["t"][0], np.arange(2))


def test_an_object_array_fails_at_push_naming_its_path_and_dtype() -> None:
    with pytest.raises(UnsupportedValueError) as err:
        encode({"rows": [np.array([object()], dtype=object)]})
    message = str(err.value)
    assert "value['rows'][0] of type numpy.ndarray" in message
    assert "dtype object" in message and ".tolist()" in message


def test_a_masked_array_fails_rather_than_losing_its_mask() -> None:
    with pytest.raises(UnsupportedValueError, match="lose its mask"):
        encode(np.ma.masked_array([1, 2], mask=[0, 1]))


def test_corrupt_array_data_fails_clearly() -> None:
    with pytest.raises(XComError, match="stored numpy data is malformed"):
        decode(json.dumps({TAG: "numpy.ndarray", "v": "not base64!"}))
    with pytest.raises(XComError, match="stored numpy data is malformed"):
        decode(json.dumps({TAG: "numpy.ndarray", "v": base64.b64encode(b"junk").decode()}))


def test_reading_an_array_without_numpy_installed_names_the_extra() -> None:
    text = encode(np.arange(3))
    missing = mock.patch.dict("sys.modules", {"numpy": None})  # None: "import numpy" fails
    with missing, pytest.raises(XComError, match=r"needs numpy installed .*tradewind\[numpy\]"):
        decode(text)


# --- pandas


def _pandas() -> Any:
    return _optional("pandas")


FRAMES = [
    "basic",
    "typed",
    "int_labels",
    "mixed_objects",
    "python_objects",
    "empty",
    "no_rows",
    "duplicate_labels",
    "int_index",
]


def _frame(name: str) -> Any:
    pd = _pandas()
    frames = {
        "basic": pd.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"], "c": [1.5, np.nan, 2.0]}),
        "typed": pd.DataFrame(
            {
                "when": pd.date_range("2024-01-01", periods=3, tz="UTC"),
                "n": pd.array([1, None, 3], dtype="Int64"),
                "cat": pd.Categorical(["a", "b", "a"], categories=["b", "a", "z"], ordered=True),
                "secs": np.array(["2024-01-01", "2024-01-02", "2024-01-03"], "datetime64[s]"),
                "span": pd.to_timedelta([1, 2, 3], unit="s"),
                "flag": [True, False, True],
            },
            index=pd.Index(["r1", "r2", "r3"], name="row"),
        ),
        "int_labels": pd.DataFrame({1: [1.0], 2: ["a"]}),
        "mixed_objects": pd.DataFrame({"m": [1, "a", date(2024, 1, 1)]}),
        "python_objects": pd.DataFrame({"d": [decimal.Decimal("1.1")], "l": [[1, 2]]}),
        "empty": pd.DataFrame(),
        "no_rows": pd.DataFrame({"a": pd.Series([], dtype="float32")}),
        "duplicate_labels": pd.DataFrame([[1, 2]], columns=["a", "a"]),
        "int_index": pd.DataFrame({"v": [1, 2]}, index=pd.Index([10, 20], name="k")),
    }
    return frames[name]


@pytest.mark.parametrize("name", FRAMES)
def test_dataframes_round_trip_exactly(name: str) -> None:
    pd = _pandas()
    frame = _frame(name)
    back = decode(encode(frame))
    pd.testing.assert_frame_equal(back, frame)


@pytest.mark.parametrize("name", FRAMES)
def test_dataframes_round_trip_exactly_without_pyarrow(name: str) -> None:
    pd = _pandas()
    frame = _frame(name)
    with mock.patch.dict("sys.modules", {"pyarrow": None, "pyarrow.ipc": None}):
        text = encode(frame)
    assert '"arrow"' not in text
    pd.testing.assert_frame_equal(decode(text), frame)


def test_a_dataframe_with_pyarrow_is_stored_as_one_binary_arrow_blob() -> None:
    _optional("pyarrow")
    pd = _pandas()
    frame = pd.DataFrame({"n": np.arange(50_000), "s": [f"row {i % 7}" for i in range(50_000)]})
    stored = json.loads(encode(frame))
    assert stored[TAG] == "pandas.DataFrame" and list(stored["v"]) == ["arrow"]
    assert base64.b64decode(stored["v"]["arrow"]).startswith(b"ARROW1")
    assert len(stored["v"]["arrow"]) < 200_000  # compressed: far less than the cells as JSON


def test_the_fallback_stores_numeric_columns_as_npy_bytes() -> None:
    pd = _pandas()
    frame = pd.DataFrame({"n": np.arange(1000), "s": ["x"] * 1000})
    with mock.patch.dict("sys.modules", {"pyarrow": None}):
        stored = json.loads(encode(frame))
    numbers, strings = stored["v"]["data"]
    assert set(numbers) == {"name", "dtype", "npy"}
    assert strings["cells"] == ["x"] * 1000


def test_a_multiindex_frame_without_pyarrow_fails_at_push_naming_the_extra() -> None:
    pd = _pandas()
    frame = pd.DataFrame({"a": [1]}, index=pd.MultiIndex.from_tuples([("x", 1)]))
    missing = mock.patch.dict("sys.modules", {"pyarrow": None})
    with missing, pytest.raises(UnsupportedValueError, match=r"MultiIndex .*tradewind\[pandas\]"):
        encode({"frame": frame})


def test_an_unsupported_cell_fails_naming_the_column() -> None:
    pd = _pandas()
    frame = pd.DataFrame({"ok": [1], "bad": [object()]})
    with pytest.raises(UnsupportedValueError, match=r"value\.iloc\[:, 1\]\[0\] of type"):
        encode(frame)


def test_frames_nested_in_values_round_trip() -> None:
    pd = _pandas()
    frame = pd.DataFrame({"a": [1, 2]})
    back = decode(encode({"frames": [frame, frame.T], "n": np.int64(2)}))
    pd.testing.assert_frame_equal(back["frames"][0], frame)
    pd.testing.assert_frame_equal(back["frames"][1], frame.T)


def test_reading_a_frame_without_pandas_installed_names_the_extra() -> None:
    pd = _pandas()
    text = encode(pd.DataFrame({"a": [1]}))
    missing = mock.patch.dict("sys.modules", {"pandas": None})
    with missing, pytest.raises(XComError, match=r"needs pandas installed .*tradewind\[pandas\]"):
        decode(text)
