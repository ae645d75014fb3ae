""":class:`FileTrigger`, with Airflow's name, arguments and payload: fires once a file
matching a path or glob exists.

A match counts when it is a file, or a directory with a file somewhere beneath it (as
Airflow's ``FileSensor`` decides). The payload is ``True``, as in Airflow.

The check walks the file system, which can block on a slow or network mount, so it runs
in the triggerer's thread pool (``asyncio.to_thread``), never on the event loop. Relative
paths are resolved against the triggerer's working directory: use absolute paths.

>>> import asyncio, tempfile
>>> folder = tempfile.mkdtemp()
>>> open(f"{folder}/ready.csv", "w").close()
>>> async def first_event(trigger):
...     async for event in trigger.run():
...         return event
>>> asyncio.run(first_event(FileTrigger(f"{folder}/*.csv")))
TriggerEvent(True)
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from tradewind.triggers.base import BaseTrigger, TriggerEvent

log = logging.getLogger(__name__)


class FileTrigger(BaseTrigger):
    """Fires once ``filepath`` (a path or glob; ``**`` matches across directories when
    ``recursive``) matches a file, checking every ``poke_interval`` seconds.

    >>> FileTrigger("/data/*.csv", poke_interval=30).serialize()
    ('tradewind.triggers.file.FileTrigger', {'filepath': '/data/*.csv', 'recursive': False, 'poke_interval': 30})
    """  # noqa: E501 -- a doctest output line cannot be wrapped

    def __init__(self, filepath: str, recursive: bool = False, poke_interval: float = 5.0) -> None:
        if not isinstance(filepath, str) or not filepath:
            raise ValueError(f"FileTrigger needs a non-empty filepath string, not {filepath!r}")
        if (
            isinstance(poke_interval, bool)
            or not isinstance(poke_interval, int | float)
            or not poke_interval >= 0
        ):
            raise ValueError(
                f"FileTrigger's poke_interval must be a number of seconds >= 0, "
                f"not {poke_interval!r}"
            )
        self.filepath = filepath
        self.recursive = bool(recursive)
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The path, ``recursive`` and ``poke_interval``, under this module's class path."""
        return (
            "tradewind.triggers.file.FileTrigger",
            {
                "filepath": self.filepath,
                "recursive": self.recursive,
                "poke_interval": self.poke_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Check, then sleep ``poke_interval``, until a matching file exists."""
        while True:
            found = await asyncio.to_thread(self._first_file)
            if found is not None:
                log.info("FileTrigger found %s (matching %s)", found, self.filepath)
                yield TriggerEvent(True)
                return
            await asyncio.sleep(self.poke_interval)

    def _first_file(self) -> str | None:
        # iglob stops at the first match instead of listing everything that matches.
        for path in glob.iglob(self.filepath, recursive=self.recursive):
            if os.path.isfile(path):
                return path
            for folder, _, files in os.walk(path):
                if files:
                    return os.path.join(folder, files[0])
        return None
