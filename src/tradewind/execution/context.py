"""Builds the context dict a task gets: Airflow 3's keys, from the run and the try."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from tradewind.sdk.context import Context

if TYPE_CHECKING:
    from tradewind.execution.runtime import RuntimeTaskInstance
    from tradewind.sdk.abstractoperator import AbstractOperator


class _VariableAccessor:
    """``var.value.<key>`` / ``var.json.<key>`` in templates."""

    def __init__(self, deserialize_json: bool) -> None:
        self._json = deserialize_json

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        from tradewind.sdk.variable import Variable

        return Variable.get(key, deserialize_json=self._json)

    def get(self, key: str, default: Any = None) -> Any:
        from tradewind.sdk.variable import Variable

        return Variable.get(key, default_var=default, deserialize_json=self._json)


class _VarNamespace:
    value = _VariableAccessor(False)
    json = _VariableAccessor(True)


class _ConnectionAccessor:
    """``conn.<conn_id>`` in templates."""

    def __getattr__(self, conn_id: str) -> Any:
        if conn_id.startswith("__"):
            raise AttributeError(conn_id)
        from tradewind.sdk.connection import Connection

        return Connection.get(conn_id)

    def get(self, conn_id: str, default: Any = None) -> Any:
        from tradewind.exceptions import ConnectionNotFound
        from tradewind.sdk.connection import Connection

        try:
            return Connection.get(conn_id)
        except ConnectionNotFound:
            return default


def build_context(
    ti: RuntimeTaskInstance, task: AbstractOperator, params: dict[str, Any]
) -> Context:
    """The context for one try. Date keys are absent when the run has no logical date."""
    from tradewind.execution import macros

    run = ti.dag_run
    ctx: dict[str, Any] = {
        "conn": _ConnectionAccessor(),
        "dag": task.dag,
        "dag_run": run,
        "inlets": list(getattr(task, "inlets", [])),
        "outlets": list(getattr(task, "outlets", [])),
        "macros": macros,
        "map_index_template": getattr(task, "map_index_template", None),
        "params": params,
        "run_id": run.run_id,
        "task": task,
        "task_instance": ti,
        "ti": ti,
        "triggering_asset_events": {},
        "var": _VarNamespace(),
    }
    logical: datetime | None = run.logical_date
    if logical is not None:
        ds = logical.strftime("%Y-%m-%d")
        ts = logical.isoformat()
        ctx.update(
            {
                "logical_date": logical,
                "ds": ds,
                "ds_nodash": ds.replace("-", ""),
                "ts": ts,
                "ts_nodash": logical.strftime("%Y%m%dT%H%M%S"),
                "ts_nodash_with_tz": ts.replace("-", "").replace(":", ""),
                "data_interval_start": run.data_interval_start,
                "data_interval_end": run.data_interval_end,
                "prev_data_interval_start_success": None,
                "prev_data_interval_end_success": None,
                "prev_start_date_success": None,
                "prev_end_date_success": None,
                "task_instance_key_str": f"{run.dag_id}__{task.task_id}__{ds.replace('-', '')}",
            }
        )
    else:
        ctx["task_instance_key_str"] = f"{run.dag_id}__{task.task_id}__{run.run_id}"
    return ctx  # type: ignore[return-value]
