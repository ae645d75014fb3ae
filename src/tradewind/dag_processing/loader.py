"""Import DAG files and collect the DAGs they define, keeping each file's error apart.

A file that raises, hangs past the import timeout or defines a broken DAG becomes an import
error with its message; the other files' DAGs still load. Only ``.py`` files that mention
"dag" are imported (cheap protection against importing unrelated modules), and files
matching a pattern in ``.tradewindignore`` are skipped.

>>> bag = DagBag.from_folder("/nonexistent")
>>> bag.dags, bag.import_errors
({}, {})
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from tradewind.exceptions import TradewindException, TradewindTaskTimeout, UnknownDagError
from tradewind.sdk.dag import DAG, DagContext


class DagImportTimeout(TradewindException):
    """A DAG file took longer than the import timeout."""


def _module_name(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:10]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"tradewind_dag_{digest}_{stem}"


def _might_have_dags(path: Path) -> bool:
    try:
        return b"dag" in path.read_bytes().lower()
    except OSError:
        return False


def _ignored(path: Path, root: Path, patterns: list[str]) -> bool:
    rel = path.relative_to(root).as_posix()
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(path.name, p) for p in patterns)


def list_dag_files(folder: Path) -> list[Path]:
    """Python files under ``folder`` that may define DAGs, in a stable order."""
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        return []
    ignore_file = folder / ".tradewindignore"
    patterns: list[str] = []
    if ignore_file.is_file():
        patterns = [
            line.strip()
            for line in ignore_file.read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
    files = []
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder).parts
        if any(p.startswith(".") or p == "__pycache__" for p in parts):
            continue
        if _ignored(path, folder, patterns) or not _might_have_dags(path):
            continue
        files.append(path)
    return files


def load_dag_file(path: Path, timeout: float = 30.0) -> list[DAG]:
    """Import one file and return the DAGs it defined (raises what the file raised)."""
    from tradewind.execution.timeout import execution_timeout

    path = path.resolve()
    name = _module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TradewindException(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    DagContext.collect()
    try:
        with execution_timeout(timeout):
            spec.loader.exec_module(module)
    except TradewindTaskTimeout:
        sys.modules.pop(name, None)
        DagContext.collect()
        raise DagImportTimeout(f"importing {path} took longer than {timeout:g} seconds") from None
    except BaseException:
        sys.modules.pop(name, None)
        DagContext.collect()
        raise
    found: list[DAG] = []
    for dag in [*DagContext.collect(), *vars(module).values()]:
        if isinstance(dag, DAG) and all(dag is not d for d in found):
            found.append(dag)
    for dag in found:
        dag.fileloc = dag.fileloc or str(path)
        dag.validate()
    return found


@dataclass
class DagBag:
    """The DAGs of a folder, and the files that failed to load."""

    folder: Path
    dags: dict[str, DAG] = field(default_factory=dict)
    import_errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_folder(cls, folder: str | Path, timeout: float = 30.0) -> DagBag:
        folder = Path(folder).expanduser().resolve()
        bag = cls(folder)
        root = folder if folder.is_dir() else folder.parent
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        for path in list_dag_files(folder):
            try:
                dags = load_dag_file(path, timeout)
            except (Exception, SystemExit) as err:
                bag.import_errors[str(path)] = describe_import_error(err)
                continue
            for dag in dags:
                if dag.dag_id in bag.dags:
                    other = bag.dags[dag.dag_id].fileloc
                    bag.import_errors[str(path)] = (
                        f"DAG id {dag.dag_id!r} is defined in both {other} and {path}"
                    )
                    continue
                bag.dags[dag.dag_id] = dag
        return bag

    def get_dag(self, dag_id: str) -> DAG:
        """The DAG with ``dag_id``, or :class:`UnknownDagError` saying what is there."""
        if dag_id in self.dags:
            return self.dags[dag_id]
        message = f"DAG {dag_id!r} not found in {self.folder}"
        if self.dags:
            message += f"; available: {', '.join(sorted(self.dags))}"
        if self.import_errors:
            message += f" ({len(self.import_errors)} file(s) failed to import:"
            message += "".join(f"\n  {p}" for p in sorted(self.import_errors)) + ")"
        raise UnknownDagError(message)


def describe_import_error(err: BaseException) -> str:
    """What an import error says: our own errors' message, anything else's traceback."""
    if isinstance(err, TradewindException):
        return f"{type(err).__name__}: {err}"
    return "".join(traceback.format_exception(err)).rstrip()
