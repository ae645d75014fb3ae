"""``FileSensor``: wait for a file, or a folder with something in it, to appear.

Waiting for a file an upstream system drops is the most common sensor there is, so this one
behaves exactly as Airflow's does: ``filepath`` (templated) is a glob, joined to the base
path in the ``path`` extra of the ``fs_conn_id`` connection; a matching file ends the wait,
and so does a matching folder holding at least one file at any depth. A missing
``fs_default`` connection means no base path, so ``FileSensor(filepath="/data/in.csv")``
works without setting anything up.

With ``deferrable=True`` the sensor looks once in the worker and, if nothing is there yet,
hands the wait to a ``FileTrigger`` in the triggerer, freeing the worker slot.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from tradewind.exceptions import ConnectionNotFound, DagDefinitionError, TradewindException
from tradewind.sensors.base import BaseSensorOperator

DEFAULT_CONN_ID = "fs_default"


def _is_xcom_arg(value: Any) -> bool:
    from tradewind.sdk.xcom_arg import XComArg

    return isinstance(value, XComArg)


def _holds_a_file(folder: str) -> bool:
    return any(files for _, _, files in os.walk(folder))


class FileSensor(BaseSensorOperator):
    """Waits until ``filepath`` (a glob, relative to the connection's base path) matches a
    file, or a folder that holds a file.

    >>> from tradewind.sdk import DAG
    >>> with DAG("doc_file_sensor") as d:
    ...     FileSensor(task_id="wait_for_drop", filepath="/data/in/{{ ds }}/*.csv")
    <Task(FileSensor): wait_for_drop>
    """

    template_fields: Sequence[str] = ("filepath",)
    ui_color = "#91818a"

    def __init__(
        self,
        *,
        filepath: str,
        fs_conn_id: str = DEFAULT_CONN_ID,
        recursive: bool = False,
        deferrable: bool = False,
        start_from_trigger: bool = False,
        trigger_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not _is_xcom_arg(filepath) and not (isinstance(filepath, str) and filepath.strip()):
            raise DagDefinitionError(
                f"task {self.task_id!r}: filepath must be a non-empty string, got {filepath!r}"
            )
        if not isinstance(fs_conn_id, str) or not fs_conn_id:
            raise DagDefinitionError(
                f"task {self.task_id!r}: fs_conn_id must be a connection id, got {fs_conn_id!r}"
            )
        for name, flag in (("recursive", recursive), ("deferrable", deferrable)):
            if not isinstance(flag, bool):
                raise DagDefinitionError(
                    f"task {self.task_id!r}: {name} must be True or False, got {flag!r}"
                )
        self.filepath = filepath
        self.fs_conn_id = fs_conn_id
        self.recursive = recursive
        self.deferrable = deferrable
        # Accepted for Airflow DAG files. Tradewind does not start tasks in the triggerer,
        # so a deferrable sensor starts in a worker and defers at once: same result.
        self.start_from_trigger = start_from_trigger
        self.trigger_kwargs = trigger_kwargs
        from tradewind.sdk.xcom_arg import set_dependencies_from_args

        set_dependencies_from_args(self, filepath)

    @property
    def path(self) -> str:
        """``filepath`` joined to the connection's base path (an absolute ``filepath`` wins)."""
        return os.path.join(self._base_path(), self.filepath)

    def _base_path(self) -> str:
        from tradewind.sdk.connection import Connection

        try:
            conn = Connection.get(self.fs_conn_id)
        except ConnectionNotFound:
            # Airflow creates fs_default for you; here its absence simply means "no base".
            if self.fs_conn_id == DEFAULT_CONN_ID:
                return ""
            raise
        return str(conn.extra_dejson.get("path", "") or "")

    def poke(self, context: Any) -> bool:
        path = self.path
        self.log.info("Poking for file %s", path)
        for match in glob.glob(path, recursive=self.recursive):
            if os.path.isfile(match):
                modified = datetime.fromtimestamp(os.path.getmtime(match))
                self.log.info("Found File %s last modified: %s", match, f"{modified:%Y%m%d%H%M%S}")
                return True
            if _holds_a_file(match):
                self.log.info("Found folder %s with files in it", match)
                return True
        return False

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        from tradewind.triggers.file import FileTrigger

        self.defer(
            trigger=FileTrigger(
                filepath=self.path, recursive=self.recursive, poke_interval=self.poke_interval
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Any, event: bool | None = None) -> None:
        """Resume after the trigger fired: its event is ``True`` when the path was found."""
        if not event:
            raise TradewindException(f"{self.task_id} task failed as {self.filepath} not found.")
        self.log.info("%s completed successfully as %s found.", self.task_id, self.filepath)
