"""An in-memory XCom backend, for ``dags test`` and tests. Thread-safe."""

from __future__ import annotations

import threading
from typing import Any

from tradewind.serialization.codec import decode, encode
from tradewind.xcom.base import XComKey


class MemoryXComBackend:
    """Keeps encoded values in a dict.

    >>> b = MemoryXComBackend()
    >>> k = XComKey("d", "r", "t", -1, "return_value")
    >>> b.set(k, [1, 2])
    >>> b.get(k)
    [1, 2]
    """

    def __init__(self) -> None:
        self._values: dict[XComKey, str] = {}
        self._lock = threading.Lock()

    def set(self, key: XComKey, value: Any) -> None:
        text = encode(value)
        with self._lock:
            self._values[key] = text

    def get(self, key: XComKey) -> Any:
        with self._lock:
            text = self._values[key]
        return decode(text)

    def get_all(self, dag_id: str, run_id: str, task_id: str, key: str) -> list[tuple[int, Any]]:
        with self._lock:
            found = [
                (k.map_index, text)
                for k, text in self._values.items()
                if k.dag_id == dag_id
                and k.run_id == run_id
                and k.task_id == task_id
                and k.key == key
            ]
        return [(i, decode(text)) for i, text in sorted(found, key=lambda item: item[0])]

    def clear(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
        with self._lock:
            for k in [
                k
                for k in self._values
                if (k.dag_id, k.run_id, k.task_id, k.map_index)
                == (dag_id, run_id, task_id, map_index)
            ]:
                del self._values[k]
