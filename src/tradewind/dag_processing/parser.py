"""Parse one DAG file in a child process, with a time limit: user code never runs here.

:func:`parse_file` (and :func:`parse_files`, several at once) forks a child from this
already-warm process (``spawn`` where ``fork`` does not exist), which imports the file,
serializes each DAG it defines and sends back one JSON message. The parent gets a
:class:`ParseResult`: the serialized DAGs with their hashes, the file's source, and the import
error, if any. Whatever the file does cannot hurt the parent:

* it raises, or defines a broken DAG: the error (with the traceback) is the import error;
* it hangs: past ``core.dagbag_import_timeout`` an alarm in the child stops it, and if even
  that does not work the parent kills the child a moment later;
* it kills its own interpreter (``os._exit``, a segfault): the parent sees the child die
  without a message, and that is the import error.

The message is JSON (``{"version": 1, "dags": [...], "error": ...}``), never pickle.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from tradewind.exceptions import TradewindException
from tradewind.serialization.schema import JsonDict

#: The version of the child's message.
MESSAGE_VERSION = 1
#: How long past the time limit the parent waits before killing a child that did not stop.
KILL_GRACE = 0.5
#: Modules every DAG file needs, imported once in the parent so each child starts warm.
WARM_MODULES = (
    "tradewind.sdk",
    "tradewind.operators",
    "tradewind.sensors.base",
    "tradewind.timetables",
    "tradewind.serialization.dag_json",
    "tradewind.dag_processing.loader",
)


@dataclass(frozen=True)
class ParsedDag:
    """One DAG a file defines, serialized."""

    dag_id: str
    data: JsonDict
    hash: str


@dataclass(frozen=True)
class ParseResult:
    """What parsing one file gave: its DAGs, or the import error; and its source."""

    path: str
    dags: list[ParsedDag] = field(default_factory=list)
    #: The file's bytes as read just before parsing (``None`` if it could not be read).
    source: bytes | None = None
    #: The import error (a message, or a traceback), ``None`` when the file loaded.
    error: str | None = None
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def source_text(self) -> str | None:
        return None if self.source is None else self.source.decode("utf-8", errors="replace")


def default_timeout() -> float:
    """``core.dagbag_import_timeout`` (seconds)."""
    from tradewind import config

    return float(config.get("core", "dagbag_import_timeout"))


def warm_up() -> None:
    """Import what DAG files use, so forked children do not each import it again."""
    import importlib

    for name in WARM_MODULES:
        importlib.import_module(name)


def _context() -> Any:
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


# -- the child ---------------------------------------------------------------------------------


def describe_error(err: BaseException) -> str:
    """An import error as users read it: our errors' message; for anything else the
    traceback from the DAG file's frames on (the loader's and importlib's are noise)."""
    import traceback

    from tradewind.dag_processing.loader import describe_import_error

    if err.__traceback__ is None or isinstance(err, TradewindException):
        return describe_import_error(err)
    package = str(Path(__file__).resolve().parents[1])
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        name = tb.tb_frame.f_code.co_filename
        if not (name.startswith("<frozen") or name.startswith(package)):
            break
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(err), err, tb)).rstrip()


def _parse_in_child(path: str, timeout: float) -> JsonDict:
    from tradewind.dag_processing.loader import load_dag_file
    from tradewind.serialization.dag_json import dag_hash, serialize_dag

    try:
        dags = load_dag_file(Path(path), timeout)
        seen: set[str] = set()
        out: list[JsonDict] = []
        for dag in dags:
            if dag.dag_id in seen:
                raise ValueError(f"DAG id {dag.dag_id!r} is defined more than once in {path}")
            seen.add(dag.dag_id)
            # The file that was parsed is where a worker finds the DAG again.
            dag.fileloc = path
            data = serialize_dag(dag)
            out.append({"dag_id": dag.dag_id, "hash": dag_hash(data), "data": data})
    except BaseException as err:
        return {"version": MESSAGE_VERSION, "dags": [], "error": describe_error(err)}
    return {"version": MESSAGE_VERSION, "dags": out, "error": None}


def _child_main(path: str, timeout: float, sys_path: Sequence[str], conn: Connection) -> None:
    """Entry point of the child: parse, send one message, exit at once."""
    import faulthandler

    # A crash is reported by the parent from the exit status; no dump of the parent's stack.
    faulthandler.disable()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for entry in reversed(sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    code = 0
    try:
        message = _parse_in_child(path, timeout)
        try:
            payload = json.dumps(message, allow_nan=False).encode()
        except (TypeError, ValueError) as err:
            payload = json.dumps(
                {"version": MESSAGE_VERSION, "dags": [], "error": f"cannot send result: {err}"}
            ).encode()
        conn.send_bytes(payload)
        conn.close()
    except BaseException:
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        # Skip the file's atexit hooks and non-daemon threads: the result is sent.
        os._exit(code)


# -- the parent --------------------------------------------------------------------------------


class _Job:
    """One child parsing one file."""

    def __init__(self, ctx: Any, path: str, timeout: float, sys_path: Sequence[str]) -> None:
        self.path = path
        self.timeout = timeout
        self.started = time.monotonic()
        self.deadline = self.started + timeout + KILL_GRACE
        try:
            self.source: bytes | None = Path(path).read_bytes()
        except OSError:
            self.source = None
        reader, writer = ctx.Pipe(duplex=False)
        self.conn: Connection = reader
        self.process = ctx.Process(
            target=_child_main,
            args=(path, timeout, list(sys_path), writer),
            name=f"tradewind-parse-{Path(path).name}",
        )
        self.process.start()
        writer.close()

    def _result(self, dags: list[ParsedDag], error: str | None) -> ParseResult:
        return ParseResult(
            path=self.path,
            dags=dags,
            source=self.source,
            error=error,
            duration=time.monotonic() - self.started,
        )

    def _reap(self) -> None:
        self.process.join(KILL_GRACE)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()
        self.process.close()

    def finish(self) -> ParseResult:
        """The child sent its message or died: read it, reap the child."""
        payload: bytes | None = None
        if self.conn.poll(0):
            try:
                payload = self.conn.recv_bytes()
            except (EOFError, OSError):
                payload = None
        if payload is None:
            self.process.join(KILL_GRACE)
            error = _death_message(self.path, self.process.exitcode)
            self._reap()
            return self._result([], error)
        self._reap()
        return self._decode(payload)

    def kill(self) -> ParseResult:
        """The child ran past its time: kill it."""
        self.process.kill()
        self._reap()
        return self._result(
            [],
            f"DagImportTimeout: importing {self.path} took longer than {self.timeout:g} "
            "seconds (the process parsing it was killed)",
        )

    def _decode(self, payload: bytes) -> ParseResult:
        try:
            message = json.loads(payload)
            if message.get("version") != MESSAGE_VERSION:
                raise ValueError(f"unknown message version {message.get('version')!r}")
            dags = [ParsedDag(d["dag_id"], d["data"], d["hash"]) for d in message["dags"]]
            return self._result(dags, message["error"])
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            return self._result([], f"the process parsing {self.path} sent a bad result: {err}")


def _death_message(path: str, exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the process importing {path} died ({name}) before it reported a result"
    return (
        f"the process importing {path} exited (exit code {exitcode}) before it reported a "
        "result; does the file call os._exit() or crash the interpreter?"
    )


def parse_files(
    paths: Iterable[str | Path],
    *,
    timeout: float | None = None,
    processes: int = 2,
    sys_path: Sequence[str | Path] = (),
) -> Iterator[ParseResult]:
    """Parse each file in its own child, ``processes`` at a time; yield results as they end.

    ``sys_path`` entries are put first on the children's ``sys.path`` (the DAGs folder, so
    files can import their helpers).
    """
    limit = default_timeout() if timeout is None else float(timeout)
    pending = [os.path.abspath(p) for p in paths]
    pending.reverse()
    extra = [str(p) for p in sys_path]
    ctx = _context()
    running: list[_Job] = []
    try:
        while pending or running:
            while pending and len(running) < max(1, processes):
                running.append(_Job(ctx, pending.pop(), limit, extra))
            # A job is ready when its child sent its message, or died (its sentinel).
            handles: dict[Any, _Job] = {}
            for job in running:
                handles[job.conn] = handles[job.process.sentinel] = job
            wait_for = max(0.0, min(j.deadline for j in running) - time.monotonic())
            ready = {id(handles[h]) for h in wait(list(handles), timeout=wait_for)}
            now = time.monotonic()
            for job in list(running):
                if id(job) in ready:
                    running.remove(job)
                    yield job.finish()
                elif job.deadline <= now:
                    running.remove(job)
                    yield job.kill()
    finally:
        for job in running:
            job.kill()


def parse_file(
    path: str | Path, *, timeout: float | None = None, sys_path: Sequence[str | Path] = ()
) -> ParseResult:
    """Parse one DAG file in a child process (see the module docstring).

    ``timeout`` defaults to ``core.dagbag_import_timeout``.
    """
    [result] = parse_files([path], timeout=timeout, processes=1, sys_path=sys_path)
    return result
