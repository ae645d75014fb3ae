"""A small process that parses DAG files for a DAG processor running elsewhere.

``tradewind standalone`` runs its :class:`~.manager.DagProcessor` in a thread of its main
process, which already holds SQLAlchemy and the database driver; only parsing needs a
process of its own, because each file is imported in a child forked from a warm parent, and
the main process (threads, DB connections) is no parent to fork. :class:`ParseServer`
starts ``python -m tradewind.dag_processing.parse_server FD``, an interpreter that imports
what DAG files use and nothing of the database, and asks it over a socket to run
:func:`~.parser.parse_files`. Results come back one file at a time, as they finish.

A separate ``tradewind dag-processor`` forks its children itself and needs none of this.

The messages are JSON, each with a length prefix (:class:`multiprocessing.connection.Connection`
framing): a request ``{"paths", "timeout", "processes", "sys_path"}``, then one message per
file (a :class:`~.parser.ParseResult`, the source base64-encoded) and ``{"done": true}``.

Example::

    with ParseServer() as server:
        for result in server.parse_files(["dags/etl.py"], timeout=30):
            print(result.path, [d.dag_id for d in result.dags], result.error)
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from tradewind.dag_processing.parser import ParsedDag, ParseResult

log = logging.getLogger("tradewind.dag_processor")

#: How long :meth:`ParseServer.close` waits for the server to exit before killing it.
CLOSE_GRACE = 5.0

# The server imports this same Tradewind, however this process found it.
_HERE = str(Path(__file__).resolve().parents[2])
_BOOT = (
    f"import sys; p = {_HERE!r}; sys.path.insert(0, p) if p not in sys.path else None; "
    "from tradewind.dag_processing.parse_server import main; sys.exit(main())"
)


class ParseServerGone(Exception):
    """The parse server exited or closed its socket in the middle of a request."""


# -- the server --------------------------------------------------------------------------------


def _result_message(result: ParseResult) -> dict[str, Any]:
    return {
        "path": result.path,
        "dags": [{"dag_id": d.dag_id, "hash": d.hash, "data": d.data} for d in result.dags],
        "source": None if result.source is None else base64.b64encode(result.source).decode(),
        "error": result.error,
        "duration": result.duration,
    }


def _result_of(message: dict[str, Any]) -> ParseResult:
    source = message["source"]
    return ParseResult(
        path=message["path"],
        dags=[ParsedDag(d["dag_id"], d["data"], d["hash"]) for d in message["dags"]],
        source=None if source is None else base64.b64decode(source),
        error=message["error"],
        duration=float(message["duration"]),
    )


def serve(conn: Connection) -> None:
    """Answer requests on ``conn`` until the other end closes it."""
    from tradewind.dag_processing.parser import parse_files

    while True:
        try:
            request = json.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        for result in parse_files(
            request["paths"],
            timeout=float(request["timeout"]),
            processes=int(request["processes"]),
            sys_path=request["sys_path"],
        ):
            conn.send_bytes(json.dumps(_result_message(result)).encode())
        conn.send_bytes(b'{"done": true}')


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m tradewind.dag_processing.parse_server FD", file=sys.stderr)
        return 2
    # Ctrl-C in a terminal reaches the whole foreground group: the DAG processor decides
    # when this stops (it closes the socket).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from tradewind.dag_processing.parser import warm_up

    warm_up()
    conn = Connection(int(args[0]))
    try:
        serve(conn)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the DAG processor went away
    finally:
        conn.close()
    return 0


# -- the client --------------------------------------------------------------------------------


class ParseServer:
    """A running parse server, started on first use and restarted if it dies.

    :meth:`parse_files` has :func:`~.parser.parse_files`'s signature, so a
    :class:`~.manager.DagProcessor` takes it as its ``parse`` argument.
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None

    def __enter__(self) -> ParseServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def _start(self) -> Connection:
        ours, theirs = socket.socketpair()
        try:
            fd = theirs.fileno()
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(fd)], pass_fds=(fd,), stdin=subprocess.DEVNULL
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        return self._conn

    def parse_files(
        self,
        paths: Iterable[str | Path],
        *,
        timeout: float | None = None,
        processes: int = 2,
        sys_path: Sequence[str | Path] = (),
    ) -> Iterator[ParseResult]:
        """Parse each file in the server, ``processes`` at a time; yield results as they
        end. A server that died is started again, and the files it had not answered for
        are asked once more; if it dies a second time, :class:`ParseServerGone`."""
        from tradewind.dag_processing.parser import default_timeout

        pending = [os.path.abspath(p) for p in paths]
        limit = default_timeout() if timeout is None else float(timeout)
        for attempt in (1, 2):
            try:
                for result in self._request(pending, limit, processes, sys_path):
                    pending.remove(result.path)
                    yield result
                return
            except ParseServerGone:
                how = self.close()
                if attempt == 2:
                    raise
                log.warning("the DAG parse server stopped (%s); starting it again", how)

    def _request(
        self, paths: list[str], timeout: float, processes: int, sys_path: Sequence[str | Path]
    ) -> Iterator[ParseResult]:
        if not paths:
            return
        conn = self._conn or self._start()
        request = {
            "paths": paths,
            "timeout": timeout,
            "processes": processes,
            "sys_path": [str(p) for p in sys_path],
        }
        try:
            conn.send_bytes(json.dumps(request).encode())
            while True:
                message = json.loads(conn.recv_bytes())
                if message.get("done"):
                    return
                yield _result_of(message)
        except (EOFError, OSError, ValueError, KeyError) as err:
            raise ParseServerGone(str(err) or type(err).__name__) from err
        except GeneratorExit:
            # The caller stopped reading mid-request (it is stopping): the server's answers
            # to this request would confuse the next one, so this server goes.
            self.close()
            raise

    def close(self) -> str:
        """Stop the server (closing its socket makes it exit); how it ended, for messages."""
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()
        if proc is None:
            return "not running"
        try:
            code = proc.wait(CLOSE_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"
