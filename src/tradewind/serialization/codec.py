"""The typed JSON codec for XCom values: safe (no pickle) and exact for common types.

JSON types pass through; ``datetime``, ``date``, ``time``, ``timedelta``, ``Decimal``,
``UUID``, ``bytes``, ``tuple``, ``set``, ``frozenset`` and dicts with non-string keys are
tagged so they come back as the same type. Anything else fails at push time with a message
naming the type.

>>> from datetime import date
>>> decode(encode({"day": date(2024, 1, 2), "pair": (1, 2)}))
{'day': datetime.date(2024, 1, 2), 'pair': (1, 2)}
"""

from __future__ import annotations

import base64
import json
import uuid
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
    """Turn ``value`` into plain JSON data, tagging non-JSON types."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return _tagged("float", repr(value))
        return value
    if isinstance(value, list):
        return [to_jsonable(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and TAG not in value:
            return {k: to_jsonable(v, f"{path}[{k!r}]") for k, v in value.items()}
        return _tagged(
            "dict",
            [[to_jsonable(k, path), to_jsonable(v, f"{path}[{k!r}]")] for k, v in value.items()],
        )
    if isinstance(value, tuple):
        return _tagged("tuple", [to_jsonable(v, f"{path}[{i}]") for i, v in enumerate(value)])
    if isinstance(value, (set, frozenset)):
        kind = "set" if isinstance(value, set) else "frozenset"
        return _tagged(kind, [to_jsonable(v, path) for v in value])
    if isinstance(value, datetime):
        return _tagged("datetime", value.isoformat())
    if isinstance(value, date):
        return _tagged("date", value.isoformat())
    if isinstance(value, time):
        return _tagged("time", value.isoformat())
    if isinstance(value, timedelta):
        return _tagged("timedelta", value.total_seconds())
    if isinstance(value, Decimal):
        return _tagged("decimal", str(value))
    if isinstance(value, uuid.UUID):
        return _tagged("uuid", str(value))
    if isinstance(value, (bytes, bytearray)):
        return _tagged("bytes", base64.b64encode(bytes(value)).decode("ascii"))
    raise UnsupportedValueError(
        f"cannot store {path} of type {type(value).__module__}.{type(value).__qualname__}: "
        "XCom values must be JSON types, datetime/date/time/timedelta, Decimal, UUID, bytes, "
        "tuple or set"
    )


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
        decoders = {
            "datetime": datetime.fromisoformat,
            "date": date.fromisoformat,
            "time": time.fromisoformat,
            "timedelta": lambda v: timedelta(seconds=v),
            "decimal": Decimal,
            "uuid": uuid.UUID,
            "bytes": base64.b64decode,
            "float": float,
        }
        if kind not in decoders:
            raise XComError(f"unknown tagged type {kind!r} in stored value")
        return decoders[kind](raw)
    return data


def encode(value: Any) -> str:
    """Serialize ``value`` to JSON text."""
    return json.dumps(to_jsonable(value), separators=(",", ":"), allow_nan=False)


def decode(text: str | bytes) -> Any:
    """Deserialize JSON text made by :func:`encode`."""
    return from_jsonable(json.loads(text))
