"""DAG files imported once per worker, kept by content hash.

A warm worker imports a DAG file the first time a workload names it and keeps the DAGs it
defined under the hash the scheduler sent (the hash of the file the DAG processor parsed).
Later tries of any task of that file fork from the warm worker with the module already
imported. A new hash (the file changed and was parsed again) imports the file again; the
least recently used files are dropped past ``max_files``.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from pathlib import Path

from tradewind.exceptions import UnknownDagError
from tradewind.sdk.dag import DAG


class DagFileCache:
    """DAGs by ``(file, content hash)``; see the module docstring."""

    def __init__(self, max_files: int = 64, import_timeout: float = 30.0) -> None:
        self.max_files = max_files
        self.import_timeout = import_timeout
        self._files: OrderedDict[tuple[str, str], dict[str, DAG]] = OrderedDict()
        self._mapped: dict[int, frozenset[str]] = {}
        #: How many times a file was actually imported (for tests and metrics).
        self.imports = 0

    def _cache_key(self, path: str, file_hash: str) -> tuple[str, str]:
        if file_hash:
            return (path, file_hash)
        try:  # no hash given: the file's identity on disk stands in for it
            stat = Path(path).stat()
        except OSError:
            return (path, "")
        return (path, f"mtime:{stat.st_mtime_ns}:{stat.st_size}")

    def is_cached(self, path: str, file_hash: str) -> bool:
        return self._cache_key(path, file_hash) in self._files

    def get_dag(
        self, path: str, file_hash: str, dag_id: str, dags_folder: str | None = None
    ) -> DAG:
        """The DAG ``dag_id`` of ``path``, importing the file if this hash is not cached.

        Raises what the import raised, or :class:`UnknownDagError` if the file has no such DAG.
        """
        from tradewind.dag_processing.loader import load_dag_file

        key = self._cache_key(path, file_hash)
        dags = self._files.get(key)
        if dags is None:
            for folder in (dags_folder, str(Path(path).parent)):
                if folder and folder not in sys.path:
                    sys.path.insert(0, folder)
            self.imports += 1
            dags = {d.dag_id: d for d in load_dag_file(Path(path), self.import_timeout)}
            self._files[key] = dags
            while len(self._files) > self.max_files:
                _, dropped = self._files.popitem(last=False)
                for dag in dropped.values():
                    self._mapped.pop(id(dag), None)
        else:
            self._files.move_to_end(key)
        if dag_id not in dags:
            found = ", ".join(sorted(dags)) or "none"
            raise UnknownDagError(f"DAG {dag_id!r} is not defined in {path} (found: {found})")
        return dags[dag_id]

    def dags_in(self, path: str, file_hash: str) -> list[DAG]:
        """The DAGs cached for this version of ``path`` (none if it is not cached)."""
        return list(self._files.get(self._cache_key(path, file_hash), {}).values())

    def mapped_task_ids(self, dag: DAG) -> frozenset[str]:
        """Ids of ``dag``'s mapped tasks (their outputs are pulled as lists downstream)."""
        ids = self._mapped.get(id(dag))
        if ids is None:
            ids = frozenset(tid for tid, t in dag.task_dict.items() if t.is_mapped)
            self._mapped[id(dag)] = ids
        return ids
