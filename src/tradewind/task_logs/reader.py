"""Reads a try's log file, whole or from an offset (to follow a running try).

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "attempt=1.log"
>>> _ = path.write_text("one\\ntwo\\n")
>>> chunk = read_log(path, offset=4)
>>> (chunk.text, chunk.next_offset, chunk.exists)
('two\\n', 8, True)
>>> read_log(path.parent / "missing.log").exists
False
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Most bytes one read returns; callers page on with ``next_offset``.
MAX_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class LogChunk:
    text: str
    #: Where the next read should start (the file's size when everything was read).
    next_offset: int
    exists: bool


def read_log(path: Path, offset: int = 0, max_bytes: int = MAX_CHUNK) -> LogChunk:
    """Up to ``max_bytes`` of the log from byte ``offset``, ending on a whole line if it can."""
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, offset))
            data = fh.read(max_bytes)
    except FileNotFoundError:
        return LogChunk("", offset, exists=False)
    if len(data) == max_bytes and b"\n" in data:
        data = data[: data.rindex(b"\n") + 1]
    return LogChunk(data.decode("utf-8", "replace"), max(0, offset) + len(data), exists=True)
