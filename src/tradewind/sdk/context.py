"""The task context: what a running task can see (``ds``, ``ti``, ``params``...).

Inside a running task, :func:`get_current_context` returns it; elsewhere it raises.

>>> from tradewind.sdk import get_current_context
>>> get_current_context()
Traceback (most recent call last):
...
RuntimeError: get_current_context() works only inside a running task
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TypedDict


class Context(TypedDict, total=False):
    """Keys of the context dict, as in Airflow (``total=False``: not every run has all)."""

    conf: Any
    conn: Any
    dag: Any
    dag_run: Any
    data_interval_end: datetime | None
    data_interval_start: datetime | None
    ds: str
    ds_nodash: str
    expanded_ti_count: int | None
    inlets: list[Any]
    logical_date: datetime
    macros: Any
    map_index_template: str | None
    outlets: list[Any]
    params: dict[str, Any]
    prev_data_interval_start_success: datetime | None
    prev_data_interval_end_success: datetime | None
    prev_start_date_success: datetime | None
    prev_end_date_success: datetime | None
    run_id: str
    task: Any
    task_instance: Any
    task_instance_key_str: str
    test_mode: bool
    ti: Any
    triggering_asset_events: Any
    try_number: int
    ts: str
    ts_nodash: str
    ts_nodash_with_tz: str
    var: Any


_current: contextvars.ContextVar[Context | None] = contextvars.ContextVar(
    "tradewind_task_context", default=None
)


def get_current_context() -> Context:
    """The context of the task running in this thread."""
    ctx = _current.get()
    if ctx is None:
        raise RuntimeError("get_current_context() works only inside a running task")
    return ctx


@contextlib.contextmanager
def set_current_context(context: Context) -> Iterator[None]:
    """Make ``context`` current for the duration of the block (used by the task runner)."""
    token = _current.set(context)
    try:
        yield
    finally:
        _current.reset(token)
