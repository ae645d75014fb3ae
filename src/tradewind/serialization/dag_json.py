"""SDK DAG -> versioned JSON (:func:`serialize_dag`), its hash, and the reader's class.

The DAG processor calls :func:`serialize_dag` on each DAG a file defines and stores the
result with :func:`dag_hash`; the scheduler and the API read it back with
:meth:`SerializedDAG.from_dict`, which needs no user code. The format is documented in
:mod:`tradewind.serialization.schema`.

>>> from tradewind.sdk import DAG
>>> from tradewind.operators import EmptyOperator
>>> with DAG("doc_serialize", schedule="@daily") as d:
...     _ = EmptyOperator(task_id="a") >> EmptyOperator(task_id="b", retries=2)
>>> data = serialize_dag(d)
>>> back = SerializedDAG.from_dict(data)
>>> (back.dag_id, back.task_dict["b"].retries, sorted(back.task_dict["b"].upstream_task_ids))
('doc_serialize', 2, ['a'])
>>> len(dag_hash(data))
64
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tradewind.serialization.schema import FORMAT_VERSION, JsonDict, SerializationError
from tradewind.serialization.serialized_dag import (
    SerializedDAG,
    SerializedTask,
    SerializedTaskGroup,
)
from tradewind.serialization.start_trigger import start_trigger_of
from tradewind.serialization.values import describe, digest, json_only

if TYPE_CHECKING:
    from tradewind.sdk.abstractoperator import AbstractOperator
    from tradewind.sdk.dag import DAG
    from tradewind.sdk.params import ParamsDict
    from tradewind.sdk.taskgroup import TaskGroup

__all__ = [
    "SerializedDAG",
    "SerializedTask",
    "SerializedTaskGroup",
    "canonical_json",
    "dag_hash",
    "serialize_dag",
]


def canonical_json(data: Any) -> str:
    """``data`` as canonical JSON text: sorted keys, no whitespace, no NaN."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


def dag_hash(data: JsonDict) -> str:
    """sha256 hex of the canonical JSON of a serialized DAG: equal DAGs, equal hashes."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value).isoformat()


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def _text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else describe(value)


def serialize_params(params: ParamsDict) -> list[list[Any]]:
    """Params as ``[[name, {"description", "schema", "default"?}], ...]`` in order."""
    out: list[list[Any]] = []
    for name, param in params.items_params():
        spec: JsonDict = {"description": _text(param.description), "schema": param.schema}
        if param.has_value:
            spec["default"] = param.value
        out.append([name, spec])
    return out


def _serialize_group(group: TaskGroup) -> JsonDict:
    from tradewind.sdk.taskgroup import MappedTaskGroup, TaskGroup

    children: list[JsonDict] = []
    for child in group.children.values():
        if isinstance(child, TaskGroup):
            children.append({"group": _serialize_group(child)})
        else:
            children.append({"task": child.task_id})
    data: JsonDict = {
        "group_id": group.group_id,
        "label": group.label,
        "prefix_group_id": group.prefix_group_id,
        "tooltip": _text(group.tooltip) or "",
        "ui_color": _text(group.ui_color),
        "ui_fgcolor": _text(group.ui_fgcolor),
        "children": children,
    }
    if isinstance(group, MappedTaskGroup):
        from tradewind.serialization.expand import mapping_feeders, serialize_expand_input

        data["expand_input"] = serialize_expand_input(group.expand_input)
        data["mapping_feeders"] = mapping_feeders(group.expand_input)
    return data


def _template_values(task: AbstractOperator) -> JsonDict:
    """What the task's templated arguments are, for the fingerprint only."""
    from tradewind.sdk.mapping import MappedOperator

    if isinstance(task, MappedOperator):
        return {
            "fields": {f: task.partial_kwargs.get(f) for f in task.template_fields},
            "expand": describe(task.expand_input.value),
        }
    return {"fields": {f: getattr(task, f, None) for f in task.template_fields}}


def serialize_task(task: AbstractOperator) -> JsonDict:
    """One task (plain or mapped) as JSON; see :mod:`.schema` for the fields."""
    from tradewind.sdk.mapping import MappedOperator
    from tradewind.sdk.params import ParamsDict
    from tradewind.serialization.expand import mapping_feeders, serialize_expand_input

    mapped = isinstance(task, MappedOperator)
    klass: type = task.operator_class if isinstance(task, MappedOperator) else type(task)

    def get(name: str, default: Any = None) -> Any:
        return getattr(task, name, default)

    data: JsonDict = {
        "task_id": task.task_id,
        "operator_name": klass.__name__,
        "operator_module": klass.__module__,
        "custom_operator_name": getattr(klass, "custom_operator_name", None),
        "task_group_id": task.task_group.group_id if task.task_group is not None else None,
        "trigger_rule": task.trigger_rule.value,
        "retries": task.retries,
        "retry_delay": _seconds(task.retry_delay),
        "retry_exponential_backoff": task.retry_exponential_backoff,
        "max_retry_delay": _seconds(task.max_retry_delay),
        "execution_timeout": _seconds(task.execution_timeout),
        "pool": task.pool,
        "pool_slots": task.pool_slots,
        "priority_weight": task.priority_weight,
        "weight_rule": task.weight_rule.value,
        "queue": _text(get("queue", "default")),
        "depends_on_past": bool(task.depends_on_past),
        "wait_for_downstream": bool(get("wait_for_downstream", False)),
        "ignore_first_depends_on_past": bool(get("ignore_first_depends_on_past", True)),
        "max_active_tis_per_dag": get("max_active_tis_per_dag"),
        "max_active_tis_per_dagrun": get("max_active_tis_per_dagrun"),
        "is_setup": task.is_setup,
        "is_teardown": task.is_teardown,
        "on_failure_fail_dagrun": task.on_failure_fail_dagrun,
        "is_branching": task.is_branching,
        "is_mapped": mapped,
        "do_xcom_push": bool(task.do_xcom_push),
        "multiple_outputs": bool(task.multiple_outputs),
        "upstream_task_ids": sorted(task.upstream_task_ids),
        "downstream_task_ids": sorted(task.downstream_task_ids),
        "template_fields": list(task.template_fields),
        "template_ext": list(task.template_ext),
        "template_fields_digest": digest(_template_values(task)),
        "doc_md": _text(get("doc_md")),
        "owner": _text(get("owner", "tradewind")),
        "task_display_name": _text(get("task_display_name")),
        "executor": _text(get("executor")),
        "executor_config": json_only(get("executor_config") or {}) or {},
        "ui_color": _text(getattr(klass, "ui_color", "#fff")),
        "ui_fgcolor": _text(getattr(klass, "ui_fgcolor", "#000")),
        "start_date": _iso(get("start_date")),
        "end_date": _iso(get("end_date")),
        "map_index_template": _text(get("map_index_template")),
        "params": serialize_params(get("params") or ParamsDict()),
    }
    for hook in ("execute", "failure", "success", "retry", "skipped"):
        data[f"has_on_{hook}_callback"] = bool(get(f"on_{hook}_callback"))
    data["start_from_trigger"] = start_trigger_of(task)
    if isinstance(task, MappedOperator):
        data["expand_input"] = serialize_expand_input(task.expand_input)
        data["mapping_feeders"] = mapping_feeders(task.expand_input)
    return data


def _access_control(dag_id: str, value: Any) -> dict[str, dict[str, list[str]]]:
    """Airflow's ``access_control`` in one shape: ``{role: {resource: [action, ...]}}``.

    ``{"role": {"can_read"}}`` is short for ``{"role": {"DAGs": {"can_read"}}}``.
    """
    if not value:
        return {}
    if not isinstance(value, dict):
        raise SerializationError(
            f"DAG {dag_id!r}: access_control must be a dict of role name to permissions"
        )

    def actions(role: str, items: Any) -> list[str]:
        if isinstance(items, str) or not all(isinstance(a, str) for a in items):
            raise SerializationError(
                f"DAG {dag_id!r}: access_control[{role!r}] must be a set of action names "
                "such as {'can_read', 'can_edit'}"
            )
        return sorted(set(items))

    shaped: dict[str, dict[str, list[str]]] = {}
    for role, perms in value.items():
        if isinstance(perms, dict):
            shaped[str(role)] = {str(res): actions(role, acts) for res, acts in perms.items()}
        else:
            shaped[str(role)] = {"DAGs": actions(role, perms)}
    return shaped


def serialize_dag(dag: DAG) -> JsonDict:
    """``dag`` as plain JSON data with ``"__version"``; raises :class:`SerializationError`."""
    from tradewind.timetables import serialize_timetable

    edges: dict[str, dict[str, dict[str, str]]] = {}
    for (up, down), info in sorted(dag.edge_info.items()):
        edges.setdefault(up, {})[down] = {str(k): str(v) for k, v in info.items()}
    body: JsonDict = {
        "dag_id": dag.dag_id,
        "fileloc": dag.fileloc,
        "description": _text(dag.description),
        "doc_md": _text(dag.doc_md),
        "dag_display_name": _text(dag.dag_display_name),
        "tags": sorted(str(t) for t in dag.tags),
        "access_control": _access_control(dag.dag_id, dag.access_control),
        "owner_links": json_only(dag.owner_links) or {},
        "template_searchpath": [str(p) for p in dag.template_searchpath],
        "timetable": serialize_timetable(dag.timetable),
        "start_date": _iso(dag.start_date),
        "end_date": _iso(dag.end_date),
        "catchup": bool(dag.catchup),
        "max_active_runs": dag.max_active_runs,
        "max_active_tasks": dag.max_active_tasks,
        "max_consecutive_failed_dag_runs": dag.max_consecutive_failed_dag_runs,
        "dagrun_timeout": _seconds(dag.dagrun_timeout),
        "fail_fast": bool(dag.fail_fast),
        "is_paused_upon_creation": dag.is_paused_upon_creation,
        "render_template_as_native_obj": bool(dag.render_template_as_native_obj),
        "has_on_success_callback": bool(dag.on_success_callback),
        "has_on_failure_callback": bool(dag.on_failure_callback),
        "params": serialize_params(dag.params),
        "edge_info": edges,
        "task_group": _serialize_group(dag.task_group),
        "tasks": [serialize_task(t) for t in dag.task_dict.values()],
    }
    data: JsonDict = {"__version": FORMAT_VERSION, "dag": body}
    try:
        canonical_json(data)
    except (TypeError, ValueError) as err:
        raise SerializationError(f"DAG {dag.dag_id!r} cannot be serialized: {err}") from None
    return data
