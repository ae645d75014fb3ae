"""What the runner checks and protects around dynamic task mapping.

Two jobs:

* An unmapped task whose output a downstream task expands over must push a list or dict
  under that key (Airflow's "did not push XCom for task mapping" and "unmappable return
  type"), no longer than ``[core] max_map_length``.
* A mapped copy's arguments that came from XCom are data: they are handed to the operator
  as they are and never rendered as templates, as in Airflow. Literal arguments
  (``expand(cmd=["echo {{ ds }}"])``) are the DAG author's and are rendered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradewind.exceptions import XComError

if TYPE_CHECKING:
    from tradewind.execution.runtime import RuntimeTaskInstance
    from tradewind.sdk.abstractoperator import AbstractOperator

_MISSING: Any = object()


def mapping_keys(task: AbstractOperator) -> set[str]:
    """XCom keys of ``task`` that a downstream mapped task expands over.

    Only inputs that are expanded over count: ``expand(x=task.output)`` and
    ``expand_kwargs(task.output)``, not an XComArg passed as a plain value inside a literal
    ``expand_kwargs`` row.
    """
    from tradewind.sdk.mapping import DictOfListsExpandInput, MappedOperator
    from tradewind.sdk.xcom_arg import XComArg

    keys: set[str] = set()
    if task.dag is None:
        return keys
    inputs = [
        down.expand_input
        for down in (task.dag.task_dict.get(t) for t in task.downstream_task_ids)
        if isinstance(down, MappedOperator)
    ]
    # Mapped task groups expanding over this task's output (Airflow's mapped dependants).
    inputs.extend(
        group.expand_input
        for group in _groups(task.dag.task_group)
        if group.is_mapped and task.task_id in group.mapping_feeders
    )
    for expand in inputs:
        if isinstance(expand, DictOfListsExpandInput):
            expanded = [v for v in expand.value.values() if isinstance(v, XComArg)]
        else:
            expanded = [expand.value] if isinstance(expand.value, XComArg) else []
        for ref in expanded:
            for op, key in ref.iter_references():
                if op.task_id == task.task_id:
                    keys.add(key)
    return keys


def _groups(group: Any) -> list[Any]:
    """``group`` and every task group inside it."""
    from tradewind.sdk.taskgroup import TaskGroup

    out = [group]
    for child in group.children.values():
        if isinstance(child, TaskGroup):
            out.extend(_groups(child))
    return out


def check_mapping_inputs(ti: RuntimeTaskInstance, task: AbstractOperator) -> None:
    """Fail an unmapped task that did not push what a downstream task expands over.

    Each copy of a mapped producer is one element downstream, so any value (or none) will do
    there; only unmapped producers are checked. A copy of a task in a mapped task group is
    not a mapped producer: as in Airflow, each copy must push a list.
    """
    if task.is_mapped:
        return
    from tradewind import config

    limit = int(config.get("core", "max_map_length", 1024))
    for key in sorted(mapping_keys(task)):
        if key not in ti.pushed:
            raise XComError(f"task {task.task_id!r} did not push XCom {key!r} for task mapping")
        kind, length = ti.pushed[key]
        if length is None:
            raise XComError(
                f"task {task.task_id!r} pushed an unmappable type {kind.__name__!r} under XCom "
                f"{key!r}; a value that is expanded over must be a list or dict"
            )
        if length > limit:
            raise XComError(
                f"task {task.task_id!r} pushed {length} elements under XCom {key!r}, more than "
                f"max_map_length ({limit}) allows for a downstream task to expand over"
            )


def xcom_derived_ids(task: AbstractOperator, concrete: Any) -> set[int]:
    """Ids of the values ``concrete`` (one copy of mapped ``task``) got from XCom."""
    from tradewind.sdk.mapping import DictOfListsExpandInput, MappedOperator
    from tradewind.sdk.xcom_arg import XComArg

    if not isinstance(task, MappedOperator):
        return set()
    expand = task.expand_input
    into = task.expand_into
    partial = task.partial_kwargs
    if into:
        holder = getattr(concrete, into, None) or {}
        fixed = partial.get(into) or {}
    if isinstance(expand, DictOfListsExpandInput):
        names = {name for name, item in expand.value.items() if isinstance(item, XComArg)}
    elif isinstance(expand.value, XComArg):
        # expand_kwargs(xcom): every argument a row gave is data.
        if into:
            names = {k for k, v in holder.items() if v is not fixed.get(k, _MISSING)}
        else:
            names = {f for f in concrete.template_fields if f not in partial}
    else:
        names = {k for row in expand.value for k, v in dict(row).items() if isinstance(v, XComArg)}
    ids: set[int] = set()
    for name in names:
        value = holder.get(name, _MISSING) if into else getattr(concrete, name, _MISSING)
        if value is not _MISSING:
            ids.add(id(value))
    return ids
