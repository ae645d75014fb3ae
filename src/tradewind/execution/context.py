"""Builds the context dict a task gets: Airflow 3's keys, from the run and the try.

Date keys are taken from the run's logical date in UTC (as Airflow, which stores dates in
UTC): ``ds`` ``2024-03-05``, ``ts`` ``2024-03-05T00:00:00+00:00``, ``ts_nodash``
``20240305T000000``, ``ts_nodash_with_tz`` ``20240305T000000+0000``. A run without a logical
date has none of the date keys (they are absent, not ``None``).
"""

from __future__ import annotations

from datetime import UTC, datetime
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


class _OutletEvent:
    """What a task may attach to the event of one of its outlets (``extra``)."""

    def __init__(self) -> None:
        self.extra: dict[str, Any] = {}


class _OutletEventAccessors(dict[Any, _OutletEvent]):
    """``outlet_events[asset].extra = {...}``: an entry appears on first access."""

    def __missing__(self, key: Any) -> _OutletEvent:
        event = self[key] = _OutletEvent()
        return event


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
    """The context for one try (see the module docstring)."""
    from tradewind.execution import macros

    run = ti.dag_run
    ctx: dict[str, Any] = {
        "conn": _ConnectionAccessor(),
        "dag": task.dag,
        "dag_run": run,
        "inlet_events": {},
        "inlets": list(getattr(task, "inlets", [])),
        "outlet_events": _OutletEventAccessors(),
        "outlets": list(getattr(task, "outlets", [])),
        "macros": macros,
        "map_index_template": getattr(task, "map_index_template", None),
        "params": params,
        "partition_date": None,
        "partition_key": None,
        # Previous successful run's dates: not known to the runner yet.
        "prev_start_date_success": None,
        "prev_end_date_success": None,
        "run_id": run.run_id,
        "task": task,
        "task_instance": ti,
        "task_reschedule_count": 0,
        "ti": ti,
        "triggering_asset_events": {},
        "var": {"json": _VariableAccessor(True), "value": _VariableAccessor(False)},
    }
    logical = _utc(run.logical_date)
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
                "data_interval_start": _utc(run.data_interval_start),
                "data_interval_end": _utc(run.data_interval_end),
                "prev_data_interval_start_success": None,
                "prev_data_interval_end_success": None,
                "task_instance_key_str": f"{run.dag_id}__{task.task_id}__{ds.replace('-', '')}",
            }
        )
    else:
        ctx["task_instance_key_str"] = f"{run.dag_id}__{task.task_id}__{run.run_id}"
    return ctx  # type: ignore[return-value]
