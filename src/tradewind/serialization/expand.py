"""A mapped task's expand input, as data: how many copies it makes, without user code.

The scheduler decides how many task instances a mapped task gets from the lengths of the
values it expands over. Literal lists and dicts are known when the DAG file is parsed (only
their length is stored); an upstream task's output is known once that task pushed it, and
``.map()``, ``.zip()`` and ``.concat()`` combine lengths. :func:`serialize_expand_input`
writes that structure and :class:`SerializedExpandInput` computes the length exactly as the
SDK's :meth:`~tradewind.sdk.mapping.MappedOperator.get_map_length` does.

>>> from tradewind.sdk.xcom_arg import LengthLookup
>>> data = {"type": "dict_of_lists",
...         "value": {"x": {"literal": 2}, "y": {"xcom": {"task_id": "up", "key": "return_value"}}}}
>>> SerializedExpandInput(data).get_length(lambda task_id, key: 3)
6
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradewind.sdk.mapping import DictOfListsExpandInput, ExpandInput
from tradewind.sdk.xcom_arg import (
    NOTSET,
    ConcatXComArg,
    LengthLookup,
    MapXComArg,
    PlainXComArg,
    XComArg,
    ZipXComArg,
)
from tradewind.serialization.schema import JsonDict, SerializationError


def _arg(value: Any) -> JsonDict:
    """One expanded value: an XComArg tree, or a literal list/dict (its length)."""
    if isinstance(value, PlainXComArg):
        return {"xcom": {"task_id": value.operator.task_id, "key": value.key}}
    if isinstance(value, MapXComArg):
        return {"map": _arg(value.arg)}
    if isinstance(value, ZipXComArg):
        return {"zip": [_arg(a) for a in value.args], "fillvalue": value.fillvalue is not NOTSET}
    if isinstance(value, ConcatXComArg):
        return {"concat": [_arg(a) for a in value.args]}
    if isinstance(value, XComArg):
        raise SerializationError(f"cannot serialize expand input {type(value).__name__}")
    return {"literal": len(value)}


def serialize_expand_input(expand_input: ExpandInput) -> JsonDict:
    """The JSON form of a mapped task's expand input (see :mod:`.schema`)."""
    if isinstance(expand_input, DictOfListsExpandInput):
        return {
            "type": "dict_of_lists",
            "value": {name: _arg(v) for name, v in expand_input.value.items()},
        }
    return {"type": "list_of_dicts", "value": _arg(expand_input.value)}


def mapping_feeders(expand_input: ExpandInput) -> list[str]:
    """Ids of the tasks whose output feeds the expansion, sorted."""
    refs = expand_input.references()
    return sorted({op.task_id for ref in refs for op, _ in ref.iter_references()})


def _length(node: Mapping[str, Any], lengths: LengthLookup) -> int | None:
    if "literal" in node:
        return int(node["literal"])
    if "xcom" in node:
        return lengths(node["xcom"]["task_id"], node["xcom"]["key"])
    if "map" in node:
        return _length(node["map"], lengths)
    if "zip" in node or "concat" in node:
        found = [_length(n, lengths) for n in node.get("zip", node.get("concat"))]
        counts = [n for n in found if n is not None]
        if len(counts) != len(found):
            return None
        if "concat" in node:
            return sum(counts)
        return max(counts) if node["fillvalue"] else min(counts)
    raise SerializationError(f"unknown expand input node {sorted(node)!r}")


def _references(node: Mapping[str, Any]) -> list[tuple[str, str]]:
    if "xcom" in node:
        return [(node["xcom"]["task_id"], node["xcom"]["key"])]
    if "map" in node:
        return _references(node["map"])
    out: list[tuple[str, str]] = []
    for child in node.get("zip", node.get("concat", [])):
        out.extend(_references(child))
    return out


class SerializedExpandInput:
    """A mapped task's expand input read back from JSON. See the module docstring."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        kind = data.get("type")
        if kind not in ("dict_of_lists", "list_of_dicts"):
            raise SerializationError(f"unknown expand input type {kind!r}")
        self.type: str = kind
        self.value: Any = data["value"]

    @property
    def argument_names(self) -> list[str]:
        """The expanded arguments' names (``expand(a=..., b=...)``; empty for kwargs)."""
        return list(self.value) if self.type == "dict_of_lists" else []

    def references(self) -> list[tuple[str, str]]:
        """``(task_id, key)`` of every XCom value the expansion reads, in order."""
        nodes = list(self.value.values()) if self.type == "dict_of_lists" else [self.value]
        return [ref for node in nodes for ref in _references(node)]

    def get_length(self, lengths: LengthLookup) -> int | None:
        """The number of copies, or ``None`` while an input's length is unknown."""
        if self.type == "list_of_dicts":
            return _length(self.value, lengths)
        total = 1
        for node in self.value.values():
            n = _length(node, lengths)
            if n is None:
                return None
            total *= n
        return total
