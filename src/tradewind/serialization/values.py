"""Turning arbitrary DAG-file values into deterministic JSON for the serialized DAG.

Two needs, two functions:

* :func:`json_only` keeps the parts of a value that already are JSON (``executor_config``):
  anything else is dropped, never guessed at.
* :func:`describe` gives *every* value a JSON stand-in that is the same in every process:
  JSON types pass through, dates become ISO text, and objects and callables become their
  type's or function's dotted name (never ``repr()``, which may hold a memory address). It
  is used for fingerprints, so a change in a DAG file's arguments changes the hash.

>>> describe({"when": __import__("datetime").date(2024, 1, 2), "f": len})
{'when': '2024-01-02', 'f': '<callable builtins.len>'}
>>> json_only({"a": 1, "b": object()})
{'a': 1}
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import date, time, timedelta
from typing import Any

_MAX_DEPTH = 50
_DROP: Any = object()


def _qualname(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or "?"
    return f"{module}.{name}"


def describe(value: Any, _depth: int = 0) -> Any:
    """A deterministic JSON stand-in for ``value`` (see the module docstring)."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if _depth > _MAX_DEPTH:
        return "<nested too deeply>"
    if isinstance(value, Mapping):
        return {_key(k): describe(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [describe(v, _depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [describe(v, _depth + 1) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray)):
        return f"<bytes sha256={hashlib.sha256(value).hexdigest()}>"
    reference = _describe_reference(value)
    if reference is not None:
        return reference
    if isinstance(value, type):
        return f"<class {_qualname(value)}>"
    if callable(value):
        return f"<callable {_qualname(value)}>"
    return f"<{_qualname(type(value))} object>"


def _key(key: Any) -> str:
    return key if isinstance(key, str) else json.dumps(describe(key), sort_keys=True)


def _describe_reference(value: Any) -> str | None:
    """XCom references and DAG params, by what they point at."""
    from tradewind.sdk.params import DagParam
    from tradewind.sdk.xcom_arg import XComArg

    if isinstance(value, XComArg):
        refs = ", ".join(f"{op.task_id}[{key}]" for op, key in value.iter_references())
        return f"<{type(value).__name__} {refs}>"
    if isinstance(value, DagParam):
        return f"<DagParam {value.name}>"
    return None


def digest(value: Any) -> str:
    """sha256 hex of ``value``'s description as canonical JSON."""
    text = json.dumps(describe(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def json_only(value: Any) -> Any:
    """``value`` with every part that is not plain JSON removed (``None`` if nothing is)."""
    out = _json_only(value, 0)
    return None if out is _DROP else out


def _json_only(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _DROP
    if depth > _MAX_DEPTH:
        return _DROP
    if isinstance(value, Mapping):
        kept = {k: _json_only(v, depth + 1) for k, v in value.items() if isinstance(k, str)}
        return {k: v for k, v in kept.items() if v is not _DROP}
    if isinstance(value, (list, tuple)):
        items = [_json_only(v, depth + 1) for v in value]
        return [v for v in items if v is not _DROP]
    return _DROP
