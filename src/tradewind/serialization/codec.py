"""The typed JSON codec for XCom values: safe (no pickle) and exact for common types.

JSON types pass through; ``datetime``, ``date``, ``time``, ``timedelta``, ``Decimal``,
``UUID``, ``bytes``, ``bytearray``, ``tuple``, ``set``, ``frozenset``, NaN and infinities,
and dicts with non-string keys (or with the tag key ``__tw__`` among their keys) are tagged
so they come back as the same type. Anything else fails at push time with a message naming
the type and where in the value it is.

>>> from datetime import date
>>> decode(encode({"day": date(2024, 1, 2), "pair": (1, 2)}))
{'day': datetime.date(2024, 1, 2), 'pair': (1, 2)}
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from tradewind.exceptions import XComError

TAG = "__tw__"


class UnsupportedValueError(XComError, TypeError):
    """A value the codec cannot store."""


def _tagged(kind: str, value: Any) -> dict[str, Any]:
    return {TAG: kind, "v": value}


def to_jsonable(value: Any, path: str = "value") -> Any:
    """Turn ``value`` into plain JSON data, tagging non-JSON types.

    ``path`` names ``value`` in error messages (``value['rows'][3]``).
    """
    return _to_jsonable(value, path, set())


def _to_jsonable(value: Any, path: str, active: set[int]) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return _tagged("float", repr(value))
        return value
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        if id(value) in active:
            raise UnsupportedValueError(f"cannot store {path}: it contains itself (a cycle)")
        active.add(id(value))
        try:
            return _container(value, path, active)
        finally:
            active.discard(id(value))
    if isinstance(value, datetime):
        return _tagged("datetime", value.isoformat())
    if isinstance(value, date):
        return _tagged("date", value.isoformat())
    if isinstance(value, time):
        return _tagged("time", value.isoformat())
    if isinstance(value, timedelta):
        # Exact: a float of seconds loses microseconds on long spans.
        return _tagged("timedelta", [value.days, value.seconds, value.microseconds])
    if isinstance(value, Decimal):
        return _tagged("decimal", str(value))
    if isinstance(value, uuid.UUID):
        return _tagged("uuid", str(value))
    if isinstance(value, (bytes, bytearray)):
        kind = "bytearray" if isinstance(value, bytearray) else "bytes"
        return _tagged(kind, base64.b64encode(bytes(value)).decode("ascii"))
    raise UnsupportedValueError(
        f"cannot store {path} of type {type(value).__module__}.{type(value).__qualname__}: "
        "XCom values must be JSON types, datetime/date/time/timedelta, Decimal, UUID, bytes, "
        "tuple or set"
    )


def _container(value: Any, path: str, active: set[int]) -> Any:
    if isinstance(value, list):
        return [_to_jsonable(v, f"{path}[{i}]", active) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and TAG not in value:
            return {k: _to_jsonable(v, f"{path}[{k!r}]", active) for k, v in value.items()}
        return _tagged(
            "dict",
            [
                [
                    _to_jsonable(k, f"{path} key {k!r}", active),
                    _to_jsonable(v, f"{path}[{k!r}]", active),
                ]
                for k, v in value.items()
            ],
        )
    if isinstance(value, tuple):
        return _tagged(
            "tuple", [_to_jsonable(v, f"{path}[{i}]", active) for i, v in enumerate(value)]
        )
    kind = "set" if isinstance(value, set) else "frozenset"
    return _tagged(kind, [_to_jsonable(v, f"{path} element", active) for v in value])


def _timedelta(raw: Any) -> timedelta:
    if isinstance(raw, list):
        days, seconds, micros = raw
        return timedelta(days=days, seconds=seconds, microseconds=micros)
    return timedelta(seconds=raw)  # values stored before the exact form


def from_jsonable(data: Any) -> Any:
    """The inverse of :func:`to_jsonable`."""
    if isinstance(data, list):
        return [from_jsonable(v) for v in data]
    if isinstance(data, dict):
        kind = data.get(TAG)
        if kind is None:
            return {k: from_jsonable(v) for k, v in data.items()}
        raw = data["v"]
        if kind == "dict":
            return {from_jsonable(k): from_jsonable(v) for k, v in raw}
        if kind == "tuple":
            return tuple(from_jsonable(v) for v in raw)
        if kind == "set":
            return {from_jsonable(v) for v in raw}
        if kind == "frozenset":
            return frozenset(from_jsonable(v) for v in raw)
        decoders: dict[str, Callable[[Any], Any]] = {
            "datetime": datetime.fromisoformat,
            "date": date.fromisoformat,
            "time": time.fromisoformat,
            "timedelta": _timedelta,
            "decimal": Decimal,
            "uuid": uuid.UUID,
            "bytes": base64.b64decode,
            "bytearray": lambda v: bytearray(base64.b64decode(v)),
            "float": float,
        }
        if kind not in decoders:
            raise XComError(f"unknown tagged type {kind!r} in stored value")
        return decoders[kind](raw)
    return data


def encode(value: Any) -> str:
    """Serialize ``value`` to JSON text."""
    return json.dumps(to_jsonable(value), separators=(",", ":"), allow_nan=False)


_TAG_TEXT = f'"{TAG}"'
_TAG_BYTES = _TAG_TEXT.encode()


def decode(text: str | bytes) -> Any:
    """Deserialize JSON text made by :func:`encode`.

    Text without the tag key anywhere holds only JSON types, so it is returned as parsed,
    without a walk over every element (the common case, and big lists are common)."""
    data = json.loads(text)
    if isinstance(text, str):
        return from_jsonable(data) if _TAG_TEXT in text else data
    return from_jsonable(data) if _TAG_BYTES in text else data
