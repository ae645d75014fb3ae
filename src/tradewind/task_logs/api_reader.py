"""Reading a try's log for the API: a page from an offset (or everything after it), and the
lines as structured messages (Airflow 3's ``{"timestamp", "event", "level"}``).

Lines are written as ``[<UTC time>] <LEVEL padded to 7> <message>``; a line that does not
start so (a traceback's next lines, say) continues the message before it.

>>> [m["event"] for m in structured("[2024-01-01T00:00:00.000Z] ERROR   boom\\n  at x\\n")]
['boom\\n  at x']
>>> structured("[2024-01-01T00:00:00.000Z] INFO    hi\\n")[0]["level"]
'info'
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tradewind.task_logs.reader import MAX_CHUNK, LogChunk, read_log

_STAMPED = re.compile(
    r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))\] ([A-Z]+)"
)
#: Width the writer pads the level to (``format_line``).
_LEVEL_WIDTH = 7


def structured(text: str) -> list[dict[str, Any]]:
    """The messages in ``text``, oldest first."""
    messages: list[dict[str, Any]] = []
    for line in text.splitlines():
        match = _STAMPED.match(line)
        if match is None:
            if messages:
                messages[-1]["event"] += "\n" + line
            else:
                messages.append({"event": line})
            continue
        level = match.group(2)
        start = match.start(2) + max(_LEVEL_WIDTH, len(level)) + 1
        messages.append(
            {"timestamp": match.group(1), "event": line[start:], "level": level.lower()}
        )
    return messages


def chunks(path: Path, offset: int = 0, *, whole: bool = False) -> Iterator[LogChunk]:
    """The log from ``offset``: one chunk (at most :data:`MAX_CHUNK` bytes), or, with
    ``whole``, chunk after chunk to the end. A missing file yields one chunk that says so."""
    while True:
        chunk = read_log(path, offset)
        yield chunk
        if not whole or not chunk.exists or chunk.next_offset == offset:
            return
        offset = chunk.next_offset


def read_page(path: Path, offset: int = 0, *, whole: bool = False) -> tuple[str, int, bool, bool]:
    """``(text, next offset, file exists, reached the end of the file)``."""
    parts: list[str] = []
    next_offset, exists = offset, True
    for chunk in chunks(path, offset, whole=whole):
        parts.append(chunk.text)
        next_offset, exists = chunk.next_offset, chunk.exists
    try:
        at_end = next_offset >= path.stat().st_size
    except FileNotFoundError:
        at_end = True
    return "".join(parts), next_offset, exists, at_end


__all__ = ["MAX_CHUNK", "chunks", "read_page", "structured"]
