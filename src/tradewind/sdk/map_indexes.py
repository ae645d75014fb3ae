"""Map indexes of tasks in mapped task groups: how many copies, and which copies relate.

Every task inside a mapped task group (``@task_group`` + ``.expand()``) gets one task
instance per element of the group's input, whether or not it uses the mapped argument; in
groups nested inside each other the counts multiply (copy ``i * inner + j`` is outer element
``i``, inner element ``j``). Between two tasks of the same mapped group, copy ``i`` of the
downstream task depends on (and reads the value of) copy ``i`` of the upstream one; between
a task in a mapped group and one outside it, every copy relates to every copy.

These functions are pure and take any task-like object with the SDK's names (an SDK task or
a serialized one): the scheduler uses them for trigger rules and expansion, the task runner
for reading upstream values, so both agree. ``lengths(task_id, key)`` gives the length of an
upstream's pushed value (``None`` while it is not known), as for mapped tasks.

>>> from tradewind.sdk import DAG, task, task_group
>>> with DAG("doc_map_indexes") as d:
...     @task
...     def double(x):
...         return 2 * x
...     @task_group
...     def grp(x):
...         return double(double(x))
...     _ = grp.expand(x=[1, 2, 3])
>>> first, second = d.task_dict["grp.double"], d.task_dict["grp.double__1"]
>>> expansion_count(second, lambda task_id, key: None)
3
>>> relevant_map_indexes(second, 2, first, lambda task_id, key: None)
2
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tradewind.sdk.xcom_arg import LengthLookup


def mapped_groups(node: Any) -> list[Any]:
    """The mapped task groups around ``node`` (a task or a group, itself included), innermost
    first."""
    group = node if _is_group(node) else getattr(node, "task_group", None)
    out: list[Any] = []
    while group is not None:
        if getattr(group, "is_mapped", False):
            out.append(group)
        group = group.parent_group
    return out


def _is_group(node: Any) -> bool:
    return hasattr(node, "children") and hasattr(node, "parent_group")


def in_mapped_group(task: Any) -> bool:
    """Whether ``task`` sits inside a mapped task group (and so expands with it)."""
    return bool(mapped_groups(task))


def expands(task: Any) -> bool:
    """Whether ``task`` becomes one task instance per map index: it is mapped itself, or it
    sits in a mapped task group."""
    return bool(task.is_mapped) or in_mapped_group(task)


def group_count(group: Any, lengths: LengthLookup) -> int | None:
    """Copies of each task directly in ``group``: the product of the lengths of it and of
    every mapped group around it; ``None`` while one is not known."""
    total = 1
    for g in mapped_groups(group):
        n = g.get_map_length(lengths)
        if n is None:
            return None
        total *= n
    return total


def expansion_count(task: Any, lengths: LengthLookup) -> int | None:
    """How many task instances ``task`` expands into (``None`` while an input is unknown).

    ``task`` must expand (:func:`expands`). A mapped task cannot sit in a mapped group (the
    SDK refuses it, as Airflow does), so one of the two factors is always 1.
    """
    total = 1
    if task.is_mapped:
        own = task.get_map_length(lengths)
        if own is None:
            return None
        total = own
    groups = mapped_groups(task)
    if groups:
        counted = group_count(groups[0], lengths)
        if counted is None:
            return None
        total *= counted
    return total


def initial_map_indexes(task: Any) -> list[int]:
    """The map indexes a task's instances have when a run starts.

    As in Airflow, a task whose count is known from literals alone is expanded at once (one
    instance per index, each judged on its own); any other task, or one whose literal input
    is empty, starts as one unexpanded instance (``-1``).
    """
    if not expands(task):
        return [-1]
    try:
        count = expansion_count(task, lambda task_id, key: None)
    except Exception:  # a bad literal: the run finds out when it expands the task
        count = None
    return list(range(count)) if count else [-1]


def expansion_dependencies(task: Any) -> frozenset[str]:
    """Ids of the tasks whose output sizes ``task``'s expansion (its own input and those of
    the mapped groups around it)."""
    ids = set(getattr(task, "mapping_feeders", ()) or ())
    for group in mapped_groups(task):
        ids |= group.mapping_feeders
    return frozenset(ids)


def common_mapped_group(task: Any, relative: Any) -> Any | None:
    """The innermost mapped group holding both tasks, or ``None``."""
    mine = {g.group_id for g in mapped_groups(task)}
    return next((g for g in mapped_groups(relative) if g.group_id in mine), None)


def _further_mapped_inside(task: Any, container: Any) -> bool:
    """Whether ``task`` is mapped again inside ``container`` (a mapped group between them)."""
    if task.is_mapped:
        return True
    group = task.task_group
    while group is not None and group.group_id != container.group_id:
        if getattr(group, "is_mapped", False):
            return True
        group = group.parent_group
    return False


def relevant_map_indexes(
    task: Any,
    map_index: int,
    relative: Any,
    lengths: LengthLookup,
    ti_count: Callable[[], int | None] | None = None,
) -> int | range | None:
    """The map indexes of ``relative`` that copy ``map_index`` of ``task`` relates to.

    ``None`` means every copy (the two are in different mapping contexts); an ``int`` one
    copy; a ``range`` the copies of a relative mapped further inside the common group. This
    is Airflow's rule, range size included: the range spans as many copies as ``task`` has
    per index of the common group. ``ti_count`` gives ``task``'s own count when the caller
    knows it (default: computed from ``lengths``).
    """
    common = common_mapped_group(task, relative)
    if common is None:
        return None
    if mapped_groups(task)[0] is common:
        # The task is not mapped further inside the common group: its count is the group's.
        ancestor_index, further = map_index, 1
    else:
        count = ti_count() if ti_count is not None else expansion_count(task, lengths)
        ancestor = group_count(common, lengths)
        if not count or not ancestor:
            return None
        ancestor_index = map_index * ancestor // count
        further = count // ancestor
    if not _further_mapped_inside(relative, common):
        return ancestor_index
    return range(ancestor_index * further, ancestor_index * further + further)


def group_position(task: Any, map_index: int, group: Any, lengths: LengthLookup) -> int:
    """Which element of mapped ``group``'s input copy ``map_index`` of ``task`` stands for."""
    groups = mapped_groups(task)
    if groups and groups[0] is group and len(groups) == 1:
        return map_index
    count = expansion_count(task, lengths)
    through = group_count(group, lengths)
    own = group.get_map_length(lengths)
    if not count or not through or not own:
        raise RuntimeError(
            f"cannot tell which element of group {group.group_id!r} copy {map_index} of "
            f"{task.task_id!r} stands for: a mapped input's length is not known"
        )
    return int(map_index * through // count) % int(own)
