"""Per-try task logs: one file per try, written by the worker, read by the API, UI and CLI.

Layout (Airflow's): ``<logs folder>/dag_id=<dag>/run_id=<run>/task_id=<task>[/map_index=<i>]/
attempt=<n>.log`` under ``$TRADEWIND_HOME/logs`` (setting ``logging.base_log_folder``).
Ids become path parts only after :func:`~tradewind.task_logs.paths.safe_part` has checked
them, so no id can climb out of the logs folder.
"""

from tradewind.task_logs.paths import logs_folder, resolve_log_path, try_log_path
from tradewind.task_logs.reader import LogChunk, read_log
from tradewind.task_logs.writer import TryLogWriter

__all__ = [
    "LogChunk",
    "TryLogWriter",
    "logs_folder",
    "read_log",
    "resolve_log_path",
    "try_log_path",
]
