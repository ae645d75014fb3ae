"""An in-memory XCom backend, for ``dags test`` and tests. Thread-safe."""

from __future__ import annotations

import io
import threading
from dataclasses import replace
from typing import Any

from tradewind.serialization.codec import decode, encode
from tradewind.xcom.base import XComKey
from tradewind.xcom.files import XComFile, as_xcom_file, is_file_value


def _loaded(key: XComKey, stored: str | bytes) -> Any:
    if isinstance(stored, str):
        return decode(stored)
    where = f"memory://{key.dag_id}/{key.run_id}/{key.task_id}/{key.map_index}/{key.key}"
    return XComFile.stored(where, len(stored), lambda: io.BytesIO(stored))


class MemoryXComBackend:
    """Keeps encoded values in a dict.

    >>> b = MemoryXComBackend()
    >>> k = XComKey("d", "r", "t", -1, "return_value")
    >>> b.set(k, [1, 2])
    >>> b.get(k)
    [1, 2]
    """

    def __init__(self) -> None:
        self._values: dict[XComKey, str | bytes] = {}
        self._lock = threading.Lock()

    def set(self, key: XComKey, value: Any) -> None:
        # A file's content is kept as bytes (the service streams it to object storage).
        stored = as_xcom_file(value).read_bytes() if is_file_value(value) else encode(value)
        with self._lock:
            self._values[key] = stored

    def get(self, key: XComKey) -> Any:
        with self._lock:
            stored = self._values[key]
        return _loaded(key, stored)

    def get_all(self, dag_id: str, run_id: str, task_id: str, key: str) -> list[tuple[int, Any]]:
        key_of = XComKey(dag_id, run_id, task_id, -1, key)
        with self._lock:
            found = [
                (k.map_index, text)
                for k, text in self._values.items()
                if k.dag_id == dag_id
                and k.run_id == run_id
                and k.task_id == task_id
                and k.key == key
            ]
        found.sort(key=lambda item: item[0])
        return [(i, _loaded(replace(key_of, map_index=i), v)) for i, v in found]

    def clear(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
        with self._lock:
            for k in [
                k
                for k in self._values
                if (k.dag_id, k.run_id, k.task_id, k.map_index)
                == (dag_id, run_id, task_id, map_index)
            ]:
                del self._values[k]
