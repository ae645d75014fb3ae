"""Appends lines to one try's log file.

Every line is written through at once (one ``write`` on a file opened with ``O_APPEND``), so a
process killed with SIGKILL loses nothing it had logged, and two writers (the task process and
its supervisor) can share one file without tearing lines.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "a" / "attempt=1.log"
>>> with TryLogWriter(path) as w:
...     w.write_line("hello")
>>> path.read_text()
'hello\\n'
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType


class TryLogWriter:
    """An append-only, unbuffered line writer; creates the folders it needs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)

    def write_line(self, line: str) -> None:
        """Append one line. A log that cannot be written (disk full) never fails the try:
        the line is dropped."""
        if self.fd is None:
            return
        data = (line.rstrip("\n") + "\n").encode("utf-8", "replace")
        try:
            while data:
                written = os.write(self.fd, data)
                data = data[written:]
        except OSError:
            pass

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> TryLogWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
