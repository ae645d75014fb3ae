"""Where a try's log file lives; ids are checked before they become path parts.

>>> str(try_log_path("etl", "manual__2024-01-01T00:00:00+00:00", "load", -1, 2))
'dag_id=etl/run_id=manual__2024-01-01T00:00:00+00:00/task_id=load/attempt=2.log'
>>> str(try_log_path("etl", "r1", "load", 3, 1))
'dag_id=etl/run_id=r1/task_id=load/map_index=3/attempt=1.log'
>>> try_log_path("etl", "..", "load", -1, 1)
Traceback (most recent call last):
...
ValueError: run_id '..' cannot be used in a log path
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from tradewind import config


def logs_folder() -> Path:
    """``logging.base_log_folder``, default ``$TRADEWIND_HOME/logs``."""
    configured = config.get("logging", "base_log_folder")
    return Path(configured).expanduser() if configured else config.home() / "logs"


def safe_part(value: str, what: str) -> str:
    """``value`` if it can be one path component as it is, else :class:`ValueError`.

    Ids are validated against a strict pattern where they are made; this is the second line:
    nothing that could name another folder (``..``, separators, NUL, control characters).
    """
    if (
        not value
        or value in (".", "..")
        or any(c in value for c in "/\\\0")
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
        or len(value) > 250
    ):
        raise ValueError(f"{what} {value!r} cannot be used in a log path")
    return value


def try_log_path(
    dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int
) -> PurePosixPath:
    """The log file of one try, relative to the logs folder."""
    if not isinstance(map_index, int) or map_index < -1:
        raise ValueError(f"map_index {map_index!r} cannot be used in a log path")
    if not isinstance(try_number, int) or try_number < 0:
        raise ValueError(f"try_number {try_number!r} cannot be used in a log path")
    parts = [
        f"dag_id={safe_part(dag_id, 'dag_id')}",
        f"run_id={safe_part(run_id, 'run_id')}",
        f"task_id={safe_part(task_id, 'task_id')}",
    ]
    if map_index >= 0:
        parts.append(f"map_index={map_index}")
    parts.append(f"attempt={try_number}.log")
    return PurePosixPath(*parts)


def resolve_log_path(base: Path, relative: str | PurePosixPath) -> Path:
    """``base / relative``, refusing anything that would land outside ``base``."""
    parts = str(relative).split("/")
    if not str(relative) or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"log path {str(relative)!r} must be relative, without '.' or '..'")
    for part in parts:
        safe_part(part, "log path part")
    return base.joinpath(*parts)
