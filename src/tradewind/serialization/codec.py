"""The typed JSON codec for XCom values: safe (no pickle by default) and exact.

JSON types pass through as they are. Other supported types are stored as a tagged object,
``{"__tw__": kind, "v": data}``, and come back as the same type:

* ``datetime``, ``date``, ``time``, ``timedelta``, ``Decimal``, ``UUID``, ``bytes``,
  ``bytearray``, ``tuple``, ``set``, ``frozenset``, NaN and infinities, and dicts with
  non-string keys (or with the tag key ``__tw__`` among their keys, so plain data can never
  pose as a tagged value);
* dataclasses, pydantic models and enums, by class path
  (:mod:`~tradewind.serialization.classes` says how a reader rebuilds them safely);
* numpy arrays and scalars and pandas DataFrames, in binary form, when installed
  (:mod:`~tradewind.serialization.arrays`);
* anything else only when a deployment sets ``xcom.allow_pickle = true``
  (:mod:`~tradewind.serialization.pickled`).

Anything else fails at push time with a message naming the type and where in the value it
is; the task runner adds the task and the XCom key. Values stored by earlier versions of
this codec decode as they always did.

>>> from datetime import date
>>> decode(encode({"day": date(2024, 1, 2), "pair": (1, 2)}))
{'day': datetime.date(2024, 1, 2), 'pair': (1, 2)}
"""

from __future__ import annotations

import base64
import json
import math
import sys
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from tradewind.exceptions import XComError
from tradewind.serialization import arrays, classes, pickled
from tradewind.serialization.extension import Rebuild, Recurse, Refused

TAG = "__tw__"

_SUPPORTED = (
    "XCom values must be JSON types, datetime/date/time/timedelta, Decimal, UUID, bytes, "
    "tuple, set, dataclasses, pydantic models, enums, numpy arrays or pandas DataFrames "
    "(other types are pickled only where a deployment sets xcom.allow_pickle = true)"
)


class UnsupportedValueError(XComError, TypeError):
    """A value the codec cannot store."""


def _tagged(kind: str, value: Any) -> dict[str, Any]:
    return {TAG: kind, "v": value}


# Where a part of the value is, for error messages only: the root's name, or
# (parent, how, key). Built as tuples while walking and only formatted when something fails,
# because formatting a path for every element of a big value costs more than the walk.
_Path = Any
_INDEX, _ITEM, _KEY, _LABEL = range(4)


def _path_text(path: _Path) -> str:
    parts: list[str] = []
    while isinstance(path, tuple):
        path, how, key = path
        if how == _INDEX:
            parts.append(f"[{key}]")
        elif how == _ITEM:
            parts.append(f"[{key!r}]")
        elif how == _KEY:
            parts.append(f" key {key!r}")
        else:
            parts.append(key)
    parts.append(path)
    return "".join(reversed(parts))


class _Walk:
    """One encoding: the objects being walked (to report cycles) and the pickle setting,
    read once, and only if some part of the value needs it."""

    __slots__ = ("_pickle", "active")

    def __init__(self) -> None:
        self.active: set[int] = set()
        self._pickle: bool | None = None

    def pickle_allowed(self) -> bool:
        if self._pickle is None:
            self._pickle = pickled.allowed()
        return self._pickle

    def enter(self, value: Any, path: _Path) -> int:
        key = id(value)
        if key in self.active:
            raise UnsupportedValueError(
                f"cannot store {_path_text(path)}: it contains itself (a cycle)"
            )
        self.active.add(key)
        return key


def to_jsonable(value: Any, path: str = "value") -> Any:
    """Turn ``value`` into plain JSON data, tagging non-JSON types.

    ``path`` names ``value`` in error messages (``value['rows'][3]``).

    >>> to_jsonable({"pair": (1, 2)})
    {'pair': {'__tw__': 'tuple', 'v': [1, 2]}}
    """
    try:
        return _to_jsonable(value, path, _Walk())
    except RecursionError:
        raise UnsupportedValueError(f"cannot store {path}: it is nested too deeply") from None


def _to_jsonable(value: Any, path: _Path, walk: _Walk) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else _tagged("float", repr(value))
    if kind in _CONTAINERS:
        return _container(value, path, walk)
    simple = _SIMPLE.get(kind)
    if simple is not None:
        return simple(value)
    return _other(value, path, walk)


def _container(value: Any, path: _Path, walk: _Walk) -> Any:
    key = walk.enter(value, path)
    try:
        return _container_items(value, path, walk)
    finally:
        walk.active.discard(key)


def _container_items(value: Any, path: _Path, walk: _Walk) -> Any:
    if isinstance(value, list):
        return [_to_jsonable(v, (path, _INDEX, i), walk) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and TAG not in value:
            return {k: _to_jsonable(v, (path, _ITEM, k), walk) for k, v in value.items()}
        return _tagged(
            "dict",
            [
                [_to_jsonable(k, (path, _KEY, k), walk), _to_jsonable(v, (path, _ITEM, k), walk)]
                for k, v in value.items()
            ],
        )
    if isinstance(value, tuple):
        return _tagged(
            "tuple", [_to_jsonable(v, (path, _INDEX, i), walk) for i, v in enumerate(value)]
        )
    kind = "set" if isinstance(value, set) else "frozenset"
    return _tagged(kind, [_to_jsonable(v, (path, _LABEL, " element"), walk) for v in value])


def _bytes(value: bytes | bytearray) -> dict[str, Any]:
    kind = "bytearray" if isinstance(value, bytearray) else "bytes"
    return _tagged(kind, base64.b64encode(value).decode("ascii"))


_CONTAINERS = frozenset({list, dict, tuple, set, frozenset})
# By exact type first; in this order (datetime before date) for subclasses.
_SIMPLE: dict[type, Callable[[Any], Any]] = {
    datetime: lambda v: _tagged("datetime", v.isoformat()),
    date: lambda v: _tagged("date", v.isoformat()),
    time: lambda v: _tagged("time", v.isoformat()),
    # Exact: a float of seconds loses microseconds on long spans.
    timedelta: lambda v: _tagged("timedelta", [v.days, v.seconds, v.microseconds]),
    Decimal: lambda v: _tagged("decimal", str(v)),
    uuid.UUID: lambda v: _tagged("uuid", str(v)),
    bytes: _bytes,
    bytearray: _bytes,
}


def _other(value: Any, path: _Path, walk: _Walk) -> Any:
    """Subclasses of the types above, the optional families, pickle, or an error."""
    family: Callable[[Any, Recurse], tuple[str, Any] | None]
    np = sys.modules.get("numpy")  # never imported here: a numpy value means it is loaded
    if (
        np is not None
        and isinstance(value, (np.ndarray, np.generic))
        and not isinstance(value, (str, bytes))  # numpy.str_ and numpy.bytes_ are those
    ):
        family = arrays.encode_numpy  # before float: numpy.float64 is a float too
    else:
        if isinstance(value, (str, int)):  # IntEnum, StrEnum, ...: stored as their value
            return value
        if isinstance(value, float):
            return _to_jsonable(float(value), path, walk)
        if isinstance(value, (list, tuple, set, frozenset, dict)):
            return _container(value, path, walk)
        for base, encode_simple in _SIMPLE.items():
            if isinstance(value, base):
                return encode_simple(value)
        family = _family

    def recurse(part: Any, label: str) -> Any:
        return _to_jsonable(part, (path, _LABEL, label), walk)

    key = walk.enter(value, path)
    try:
        found = family(value, recurse)
        if found is not None:
            return _tagged(*found)
        reason = _SUPPORTED
    except Refused as err:
        reason = str(err)
    finally:
        walk.active.discard(key)
    if walk.pickle_allowed():
        try:
            return _tagged("pickle", pickled.dumps(value))
        except Refused as err:
            reason = f"{reason}; {err}"
    raise UnsupportedValueError(
        f"cannot store {_path_text(path)} of type {type(value).__module__}."
        f"{type(value).__qualname__}: {reason}"
    )


def _family(value: Any, recurse: Recurse) -> tuple[str, Any] | None:
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.DataFrame):
        return arrays.encode_dataframe(value, recurse)
    return classes.encode(value, recurse)


def _timedelta(raw: Any) -> timedelta:
    if isinstance(raw, list):
        days, seconds, micros = raw
        return timedelta(days=days, seconds=seconds, microseconds=micros)
    return timedelta(seconds=raw)  # values stored before the exact form


def from_jsonable(data: Any) -> Any:
    """The inverse of :func:`to_jsonable`.

    >>> from_jsonable({"pair": {"__tw__": "tuple", "v": [1, 2]}})
    {'pair': (1, 2)}
    """
    if isinstance(data, list):
        return [from_jsonable(v) for v in data]
    if isinstance(data, dict):
        kind = data.get(TAG)
        if kind is None:
            return {k: from_jsonable(v) for k, v in data.items()}
        decoder = _DECODERS.get(kind) if isinstance(kind, str) else None
        if decoder is None:
            raise XComError(
                f"unknown tagged type {kind!r} in stored value (stored by a newer Tradewind?)"
            )
        return decoder(data.get("v"))
    return data


def _with_rebuild(decoder: Callable[[Any, Rebuild], Any]) -> Callable[[Any], Any]:
    return lambda raw: decoder(raw, from_jsonable)


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "dict": lambda raw: {from_jsonable(k): from_jsonable(v) for k, v in raw},
    "tuple": lambda raw: tuple(from_jsonable(v) for v in raw),
    "set": lambda raw: {from_jsonable(v) for v in raw},
    "frozenset": lambda raw: frozenset(from_jsonable(v) for v in raw),
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "timedelta": _timedelta,
    "decimal": Decimal,
    "uuid": uuid.UUID,
    "bytes": base64.b64decode,
    "bytearray": lambda raw: bytearray(base64.b64decode(raw)),
    "float": float,
    "dataclass": _with_rebuild(classes.decode_dataclass),
    "pydantic": _with_rebuild(classes.decode_pydantic),
    "enum": _with_rebuild(classes.decode_enum),
    "numpy.ndarray": _with_rebuild(arrays.decode_ndarray),
    "numpy.scalar": _with_rebuild(arrays.decode_scalar),
    "pandas.DataFrame": _with_rebuild(arrays.decode_dataframe),
    "pickle": pickled.loads,
}


def _is_plain(value: Any) -> bool:
    """Whether ``value`` is JSON as it is: exact JSON types, string keys without the tag key,
    finite floats. Checking is much cheaper than copying, and big plain lists are common."""
    kind = type(value)
    if kind is dict:
        if TAG in value:
            return False
        # Loops, not all(): this runs over every element, and a loop is the fastest here.
        for k, v in value.items():  # noqa: SIM110
            if type(k) is not str or not _is_plain(v):
                return False
        return True
    if kind is list:
        for v in value:  # noqa: SIM110
            if not _is_plain(v):
                return False
        return True
    if kind is str or kind is int or kind is bool or value is None:
        return True
    return kind is float and math.isfinite(value)


def encode(value: Any) -> str:
    """Serialize ``value`` to JSON text.

    >>> encode({"a": [1, 2], "when": (3,)})
    '{"a":[1,2],"when":{"__tw__":"tuple","v":[3]}}'
    """
    try:
        plain = _is_plain(value)
    except RecursionError:  # a cycle or deep nesting: the full walk says which, and where
        plain = False
    data = value if plain else to_jsonable(value)
    try:
        # msgspec writes JSON several times faster than json.dumps (the data is JSON types
        # only by now), as UTF-8.
        return _ENCODE(data).decode()
    except (UnicodeEncodeError, TypeError):
        # A lone surrogate in a string (json escapes it), or a subclass of str, int or
        # float left as it is (numpy.str_): json writes those.
        return json.dumps(data, separators=(",", ":"), allow_nan=False)


_ENCODE = msgspec.json.Encoder().encode
_DECODE = msgspec.json.Decoder().decode
_TAG_TEXT = f'"{TAG}"'
_TAG_BYTES = _TAG_TEXT.encode()


def decode(text: str | bytes) -> Any:
    """Deserialize JSON text made by :func:`encode`.

    Text without the tag key anywhere holds only JSON types, so it is returned as parsed,
    without a walk over every element (the common case, and big lists are common).

    >>> decode('{"a":[1,2],"when":{"__tw__":"tuple","v":[3]}}')
    {'a': [1, 2], 'when': (3,)}
    """
    try:
        data = _DECODE(text)
    except msgspec.DecodeError:
        data = json.loads(text)  # what msgspec refuses (lone surrogates), or json's error
    if isinstance(text, str):
        return from_jsonable(data) if _TAG_TEXT in text else data
    return from_jsonable(data) if _TAG_BYTES in text else data
