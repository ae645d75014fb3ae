"""The DAG processor: keeps the metadata DB in step with a DAGs folder.

:class:`DagProcessor` parses DAG files in child processes (:mod:`.parser`) and writes what
it finds through :mod:`tradewind.db.queries.dags`, one transaction per file:

* each DAG's ``dag`` row is created (paused per ``is_paused_upon_creation``, else
  ``core.dags_are_paused_at_creation``, true by default as in Airflow) or refreshed, with
  its tags;
* a new ``serialized_dag`` version is stored only when the DAG's hash changed (a version
  that schedules differently also clears the row's next-run fields, for the scheduler to
  work out again), and the file's source is kept in ``dag_code``;
* a file that fails records an ``import_error`` (its DAGs keep their last good version);
  once it loads again the error is cleared; so does a DAG whose custom timetable class
  ``core.timetable_classes`` does not trust (the file's other DAGs are stored);
* DAGs a file no longer defines, and those of deleted files, are marked stale;
* a DAG id defined in two files is loaded from the first in path order, and the other file
  gets an import error saying so (the same outcome whatever order files are parsed in).

:meth:`DagProcessor.process_once` does one full pass (tests, ``--once``);
:meth:`DagProcessor.run_forever` does one, then follows file changes as they happen
(``watchfiles``), re-parses every file every ``dag_processor.refresh_interval`` seconds in
case an event was missed or a DAG depends on something other than its file, and heartbeats
a ``DagProcessorJob`` row in ``job``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from tradewind.dag_processing.parser import ParseResult, parse_files, warm_up

log = logging.getLogger("tradewind.dag_processor")

SessionFactory = Callable[[], Session]
#: What parses files: :func:`~.parser.parse_files`, or a
#: :meth:`~.parse_server.ParseServer.parse_files` of a server process.
ParseFiles = Callable[..., Iterator[ParseResult]]


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _setting(section: str, key: str, default: Any) -> Any:
    from tradewind import config

    value = config.get(section, key)
    return default if value is None else value


@dataclass
class ProcessStats:
    """What one pass did."""

    files: int = 0
    dags: int = 0
    new_dags: int = 0
    new_versions: int = 0
    import_errors: int = 0
    stale: int = 0
    duration: float = 0.0

    def add(self, other: ProcessStats) -> None:
        for name in ("files", "dags", "new_dags", "new_versions", "import_errors", "stale"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


class DagProcessor:
    """Parse the DAGs in ``folder`` into the metadata DB reached by ``session_factory``.

    Settings not given come from config: ``timeout`` from ``core.dagbag_import_timeout``,
    ``processes`` (files parsed at once) from ``dag_processor.parsing_processes`` (2),
    ``paused_by_default`` from ``core.dags_are_paused_at_creation`` (true),
    ``refresh_interval`` (the full rescan, seconds) from ``dag_processor.refresh_interval``
    (300) and ``heartbeat_interval`` from ``dag_processor.heartbeat_interval`` (5).
    Files are parsed in children forked from this process, or by ``parse`` (a
    :class:`~.parse_server.ParseServer`'s, when this process must not fork).

    Example::

        processor = DagProcessor("dags", sessionmaker(bind=get_engine()))
        stats = processor.process_once()        # or processor.run_forever(stop_event)
    """

    def __init__(
        self,
        folder: str | Path,
        session_factory: SessionFactory,
        *,
        timeout: float | None = None,
        processes: int | None = None,
        paused_by_default: bool | None = None,
        refresh_interval: float | None = None,
        heartbeat_interval: float | None = None,
        parse: ParseFiles | None = None,
    ) -> None:
        from tradewind.dag_processing.parser import default_timeout

        self.folder = Path(folder).expanduser().resolve()
        self.session_factory = session_factory
        self.timeout = default_timeout() if timeout is None else float(timeout)
        self.processes = int(processes or _setting("dag_processor", "parsing_processes", 2))
        self.paused_by_default = _as_bool(
            _setting("core", "dags_are_paused_at_creation", True)
            if paused_by_default is None
            else paused_by_default
        )
        self.refresh_interval = float(
            refresh_interval or _setting("dag_processor", "refresh_interval", 300)
        )
        self.heartbeat_interval = float(
            heartbeat_interval or _setting("dag_processor", "heartbeat_interval", 5)
        )
        #: Files are parsed in children of this process unless another ``parse`` is given.
        self.parse: ParseFiles = parse_files if parse is None else parse
        #: Files seen by the last listing (to notice deletions between passes).
        self._known: set[str] = set()
        #: ``(mtime_ns, size)`` of each file when it was last parsed.
        self._stamps: dict[str, tuple[int, int]] = {}
        #: Set while :meth:`run_forever` runs: stop early, heartbeat during long passes.
        self._stop: threading.Event | None = None
        self._job_id: int | None = None
        self._last_beat = 0.0

    # -- passes --------------------------------------------------------------------------------
    def list_files(self) -> list[str]:
        """The DAG files in the folder now (see :func:`~.loader.list_dag_files`)."""
        from tradewind.dag_processing.loader import list_dag_files

        return [str(p) for p in list_dag_files(self.folder)]

    def process_once(self) -> ProcessStats:
        """Parse every file, store the results, and mark what disappeared stale."""
        return self._process(None)

    def process_changes(self, changed: Iterable[str | Path] = ()) -> ProcessStats:
        """Parse the files in ``changed`` that still are DAG files, new files and files
        modified since they were parsed; mark the DAGs of files that went away stale."""
        return self._process({str(Path(p)) for p in changed})

    def _process(self, changed: set[str] | None) -> ProcessStats:
        started = time.monotonic()
        stats = ProcessStats()
        files = self.list_files()
        stamps = {f: _stamp(f) for f in files}
        if changed is None:
            to_parse = files
        else:
            to_parse = [
                f
                for f in files
                if f in changed or f not in self._known or stamps[f] != self._stamps.get(f)
            ]
        root = self.folder if self.folder.is_dir() else self.folder.parent
        owners: dict[str, str] | None = None
        for result in self.parse(
            to_parse, timeout=self.timeout, processes=self.processes, sys_path=[root]
        ):
            if owners is None:
                owners = self._active_dags()
            stats.add(self._store_safely(result, owners))
            self._stamps[result.path] = stamps.get(result.path, (0, 0))
            self._maybe_heartbeat()
            if self._stop is not None and self._stop.is_set():
                return stats  # leaving the loop kills the children still parsing
        stats.stale += self._forget_missing(set(files))
        self._known = set(files)
        self._stamps = {f: s for f, s in self._stamps.items() if f in self._known}
        stats.duration = time.monotonic() - started
        return stats

    def _in_folder(self, fileloc: str) -> bool:
        folder = str(self.folder)
        return fileloc == folder or fileloc.startswith(folder.rstrip(os.sep) + os.sep)

    # -- writing one file's result -------------------------------------------------------------
    def _active_dags(self) -> dict[str, str]:
        from tradewind.db.queries import dags as q

        with self.session_factory() as session:
            return q.active_dags_by_file(session)

    def _store_safely(self, result: ParseResult, owners: dict[str, str]) -> ProcessStats:
        """:meth:`_store`; a file whose DAGs the database refuses becomes an import error
        rather than stopping the processor (a database that is down still does)."""
        from tradewind.db.queries import dags as q

        try:
            return self._store(result, owners)
        except Exception as err:
            log.exception("cannot store the DAGs of %s", result.path)
            try:
                with self.session_factory() as session, session.begin():
                    message = f"the DAGs of this file cannot be stored: {type(err).__name__}: {err}"
                    q.record_import_error(session, result.path, message)
            except Exception:
                raise err from None
            return ProcessStats(files=1, import_errors=1)

    def _store(self, result: ParseResult, owners: dict[str, str]) -> ProcessStats:
        """Write one file's result; ``owners`` (``{dag_id: fileloc}`` of active DAGs) is
        kept up to date with what this writes."""
        from tradewind.db.queries import dags as q
        from tradewind.serialization.dag_json import SerializedDAG
        from tradewind.timetables import UnavailableTimetable

        stats = ProcessStats(files=1)
        now = datetime.now(UTC)
        path = result.path
        with self.session_factory() as session, session.begin():
            if result.error is not None:
                # The file's DAGs cannot be known: they keep their last good version.
                q.record_import_error(session, path, result.error, now)
                log.warning("%s failed to import:\n%s", path, result.error)
                stats.import_errors = 1
                return stats
            problems: list[str] = []
            defined: list[str] = []
            displaced: dict[str, list[str]] = {}
            for parsed in result.dags:
                other = owners.get(parsed.dag_id)
                if other and other != path and self._still_defines(other):
                    # Defined in two files: the first in path order has it, whichever
                    # was parsed first; the other file gets an import error.
                    first, second = sorted([other, path])
                    message = (
                        f"DAG id {parsed.dag_id!r} is already defined in {first}; "
                        f"it is not loaded from {second}"
                    )
                    if first == other:
                        problems.append(message)
                        continue
                    displaced.setdefault(other, []).append(message)
                try:
                    dag = SerializedDAG.from_dict(parsed.data)
                except Exception as err:
                    problems.append(f"DAG {parsed.dag_id!r} cannot be stored: {err}")
                    continue
                if isinstance(dag.timetable, UnavailableTimetable):
                    # As in Airflow, a DAG whose timetable the scheduler may not rebuild is
                    # not stored; its file's import error says why.
                    reason = dag.timetable.reason
                    problems.append(f"DAG {parsed.dag_id!r} cannot be stored: {reason}")
                    continue
                _, created = q.upsert_dag(
                    session, dag, fileloc=path, paused_by_default=self.paused_by_default, now=now
                )
                version, new = q.add_version_if_changed(
                    session, parsed.dag_id, parsed.data, parsed.hash, now
                )
                if result.source is not None:
                    q.store_dag_code(session, parsed.dag_id, path, result.source, now)
                if new:
                    log.info("DAG %s from %s: version %d", dag.dag_id, path, version.version_number)
                defined.append(parsed.dag_id)
                stats.dags += 1
                stats.new_dags += int(created)
                stats.new_versions += int(new)
            gone = [d for d, f in owners.items() if f == path and d not in defined]
            stats.stale += q.mark_stale(session, gone, now)
            for other, messages in displaced.items():
                q.record_import_error(session, other, "\n".join(messages), now)
            if problems:
                q.record_import_error(session, path, "\n".join(problems), now)
                stats.import_errors = 1
            else:
                q.clear_import_errors(session, [path])
        for dag_id in gone:
            del owners[dag_id]
        owners.update(dict.fromkeys(defined, path))
        return stats

    def _still_defines(self, fileloc: str) -> bool:
        """Whether another file that holds a DAG id is still there to hold it."""
        return (not self._in_folder(fileloc)) or Path(fileloc).is_file()

    def _forget_missing(self, files: set[str]) -> int:
        """Mark DAGs of files that are gone stale; drop those files' import errors."""
        from tradewind.db.queries import dags as q

        with self.session_factory() as session, session.begin():
            gone = [
                dag_id
                for dag_id, fileloc in q.active_dags_by_file(session).items()
                if self._in_folder(fileloc) and fileloc not in files
            ]
            errors = [
                name
                for name in q.import_errors(session)
                if self._in_folder(name) and name not in files
            ]
            q.clear_import_errors(session, errors)
            count = q.mark_stale(session, gone)
        if gone:
            log.info("DAGs whose file is gone, now stale: %s", ", ".join(sorted(gone)))
        return count

    # -- the service loop ----------------------------------------------------------------------
    def run_forever(self, stop_event: threading.Event) -> None:
        """Process the folder until ``stop_event`` is set; heartbeat a job row meanwhile."""
        from tradewind.db.queries import dags as q

        if self.parse is parse_files:
            warm_up()  # this process is the children's parent
        with self.session_factory() as session, session.begin():
            job_id = q.start_job(session)
        self._stop, self._job_id, self._last_beat = stop_event, job_id, time.monotonic()
        state = "failed"
        try:
            self._log_pass("initial pass", self.process_once())
            last_full = time.monotonic()
            for changed, fresh in self._watch(stop_event):
                if stop_event.is_set():
                    break
                if changed or fresh:
                    # A fresh watcher may have missed changes made before it started.
                    self._log_pass("changes", self.process_changes(changed))
                if time.monotonic() - last_full >= self.refresh_interval:
                    self._log_pass("full rescan", self.process_once())
                    last_full = time.monotonic()
                self._maybe_heartbeat()
            state = "success"
        finally:
            self._stop = self._job_id = None
            with self.session_factory() as session, session.begin():
                q.end_job(session, job_id, state)

    def _maybe_heartbeat(self) -> None:
        from tradewind.db.queries import dags as q

        if self._job_id is None or time.monotonic() - self._last_beat < self.heartbeat_interval:
            return
        with self.session_factory() as session, session.begin():
            q.heartbeat_job(session, self._job_id)
        self._last_beat = time.monotonic()

    @staticmethod
    def _log_pass(what: str, stats: ProcessStats) -> None:
        log.info(
            "%s: %d file(s), %d DAG(s), %d new version(s), %d import error(s), %d stale in %.2fs",
            what,
            stats.files,
            stats.dags,
            stats.new_versions,
            stats.import_errors,
            stats.stale,
            stats.duration,
        )

    def _watch(self, stop_event: threading.Event) -> Iterator[tuple[set[str], bool]]:
        """``(changed paths, fresh)`` batches, an empty one at least every second or
        heartbeat interval; ``fresh`` marks the first batch of a (re)started watcher."""
        import watchfiles

        step = max(0.05, min(self.heartbeat_interval, 1.0))
        while not stop_event.is_set():
            if not self.folder.exists():
                stop_event.wait(step)
                yield set(), False
                continue
            fresh = True
            try:
                for changes in watchfiles.watch(
                    self.folder,
                    watch_filter=_dag_file_filter(self.folder),
                    stop_event=stop_event,
                    rust_timeout=int(step * 1000),
                    yield_on_timeout=True,
                    debounce=400,
                    step=50,
                    raise_interrupt=False,
                    ignore_permission_denied=True,
                ):
                    yield {path for _, path in changes}, fresh
                    fresh = False
                    if not self.folder.exists():
                        break
            except OSError as err:
                log.warning("cannot watch %s (%s); retrying", self.folder, err)
                stop_event.wait(step)
                yield set(), False


def _stamp(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def _dag_file_filter(folder: Path) -> Callable[[Any, str], bool]:
    """Python files, ``.tradewindignore`` and folders, outside hidden folders and caches."""

    def accept(change: Any, path: str) -> bool:
        try:
            parts = Path(path).relative_to(folder).parts
        except ValueError:
            return False
        if any(p == "__pycache__" or p.startswith(".") for p in parts[:-1]):
            return False
        name = parts[-1] if parts else ""
        return name.endswith(".py") or name == ".tradewindignore" or "." not in name

    return accept
