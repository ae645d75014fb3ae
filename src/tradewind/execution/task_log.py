"""Per-try task logs: everything a task logs or prints goes to its try's sink.

Tasks may run in threads side by side (``dags test``), so output is routed by thread:
:func:`capture_task_output` sends the current thread's ``print`` output and ``logging``
records (from the ``tradewind.task`` logger and any library logger) to a sink, a callable
taking one formatted line. Threads without a sink write to the real streams.

While routing is installed the root logger lets ``INFO`` records through (a task's library
logs are part of its log, as in Airflow); records from threads without a sink are handled
as they would be without routing: by the other root handlers, or by logging's last resort
(warnings and above to stderr) when there are none.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

LineSink = Callable[[str], None]

_local = threading.local()
_install_lock = threading.Lock()
_installed = 0
_saved: dict[str, Any] = {}


def _current_sink() -> LineSink | None:
    # While a sink runs, its own output (a CLI printing the line) goes to the real stream.
    if getattr(_local, "in_sink", False):
        return None
    return getattr(_local, "sink", None)


def _deliver(sink: LineSink, line: str) -> None:
    _local.in_sink = True
    try:
        sink(line)
    finally:
        _local.in_sink = False


def format_line(level: str, message: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return f"[{stamp}] {level:<7} {message}"


class _RoutingStream(io.TextIOBase):
    """Stands in for ``sys.stdout``/``sys.stderr``; lines from task threads go to the sink."""

    def __init__(self, original: Any, level: str) -> None:
        self._original = original
        self._level = level

    def write(self, text: str) -> int:
        sink = _current_sink()
        if sink is None:
            return int(self._original.write(text) or 0)
        buffer = getattr(_local, "buffer", "") + text
        *lines, rest = buffer.split("\n")
        _local.buffer = rest
        for line in lines:
            _deliver(sink, format_line(self._level, line))
        return len(text)

    def flush(self) -> None:
        if _current_sink() is None:
            self._original.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._original, "encoding", "utf-8")


class _RoutingHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        sink = _current_sink()
        if sink is None:
            _outside_task(record)
            return
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
        except Exception:
            message = str(record.msg)
        for line in message.split("\n"):
            _deliver(sink, format_line(record.levelname, line))


def _outside_task(record: logging.LogRecord) -> None:
    """A record from a thread that is not running a task: what logging would do without us."""
    root = logging.getLogger()
    if record.levelno < _saved.get("root_level", logging.WARNING):
        return  # below what the root logger let through before routing was installed
    if any(h is not _handler for h in root.handlers):
        return  # other handlers have it
    last = logging.lastResort
    if last is not None and record.levelno >= last.level:
        last.handle(record)


_handler = _RoutingHandler()


def _install() -> None:
    global _installed
    with _install_lock:
        if _installed == 0:
            _saved["stdout"], _saved["stderr"] = sys.stdout, sys.stderr
            sys.stdout = _RoutingStream(sys.stdout, "INFO")
            sys.stderr = _RoutingStream(sys.stderr, "ERROR")
            root = logging.getLogger()
            _saved["root_level"] = root.getEffectiveLevel()
            _saved["root_set_level"] = root.level
            if root.level == logging.NOTSET or root.level > logging.INFO:
                root.setLevel(logging.INFO)
            root.addHandler(_handler)
            task_logger = logging.getLogger("tradewind.task")
            _saved["task_level"] = task_logger.level
            task_logger.setLevel(logging.INFO)
        _installed += 1


def _uninstall() -> None:
    global _installed
    with _install_lock:
        _installed -= 1
        if _installed == 0:
            sys.stdout, sys.stderr = _saved["stdout"], _saved["stderr"]
            root = logging.getLogger()
            root.removeHandler(_handler)
            if root.level == logging.INFO:
                root.setLevel(_saved["root_set_level"])
            logging.getLogger("tradewind.task").setLevel(_saved["task_level"])


def keep_routing_installed() -> None:
    """Install routing for the rest of this process's life. A worker does, so the tries it
    forks find it in place: installing it sets logger levels, and each level change walks
    (and writes to) every logger of the process."""
    _install()


@contextlib.contextmanager
def routing_installed() -> Iterator[None]:
    """Route task threads' output for the duration of the block (nestable)."""
    _install()
    try:
        yield
    finally:
        _uninstall()


@contextlib.contextmanager
def capture_task_output(sink: LineSink) -> Iterator[None]:
    """Send this thread's task output to ``sink`` for the duration of the block."""
    with routing_installed():
        previous = _current_sink()
        _local.sink = sink
        _local.buffer = ""
        try:
            yield
        finally:
            rest = getattr(_local, "buffer", "")
            if rest:
                _deliver(sink, format_line("INFO", rest))
            _local.sink = previous
            _local.buffer = ""
