"""The XCom backend contract: store and fetch one task instance's named values.

A value is addressed by :class:`XComKey` (dag id, run id, task id, map index, key). Backends
store encoded values (see :mod:`tradewind.serialization.codec`), so a pulled value is always
a fresh copy and a value that cannot be stored fails at push time, in every backend alike.
The in-memory backend serves ``dags test`` and unit tests; the storage issue adds the
database and object-storage backends behind this same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

RETURN_VALUE = "return_value"


@dataclass(frozen=True)
class XComKey:
    """Where one value lives."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    key: str


class XComBackend(Protocol):
    """Stores XCom values. ``get`` raises ``KeyError`` when nothing was pushed."""

    def set(self, key: XComKey, value: Any) -> None: ...

    def get(self, key: XComKey) -> Any: ...

    def get_all(self, dag_id: str, run_id: str, task_id: str, key: str) -> list[tuple[int, Any]]:
        """Every map index's value for ``key``, ordered by map index."""
        ...

    def clear(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
        """Remove what one task instance pushed (before it runs again)."""
        ...
