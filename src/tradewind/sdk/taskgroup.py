"""Task groups: a named box of tasks that prefixes their ids and links as one node.

>>> from tradewind.sdk import DAG, TaskGroup
>>> from tradewind.operators import EmptyOperator
>>> with DAG("doc_tg") as d:
...     start = EmptyOperator(task_id="start")
...     with TaskGroup("load") as load:
...         _ = EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
...     _ = start >> load
>>> sorted(d.task_dict["load.a"].upstream_task_ids)
['start']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tradewind.exceptions import DagDefinitionError
from tradewind.sdk.abstractoperator import AbstractOperator, validate_id
from tradewind.sdk.dependency import DependencyMixin
from tradewind.sdk.mapping import ExpandsInput

if TYPE_CHECKING:
    from tradewind.sdk.dag import DAG


class TaskGroupContext:
    """The stack of task groups being defined (per thread), searched per DAG."""

    @staticmethod
    def _stack() -> list[TaskGroup]:
        from tradewind.sdk.dag import _definitions

        return _definitions.groups

    @classmethod
    def current(cls, dag: DAG) -> TaskGroup:
        for group in reversed(cls._stack()):
            if group.dag is dag:
                return group
        return dag.task_group


class TaskGroup(DependencyMixin):
    """A group of tasks; ``group_id`` prefixes its tasks' ids unless ``prefix_group_id=False``."""

    def __init__(
        self,
        group_id: str | None,
        prefix_group_id: bool = True,
        parent_group: TaskGroup | None = None,
        dag: DAG | None = None,
        default_args: dict[str, Any] | None = None,
        tooltip: str = "",
        ui_color: str = "CornflowerBlue",
        ui_fgcolor: str = "#000",
        add_suffix_on_collision: bool = False,
        group_display_name: str | None = None,
    ) -> None:
        from tradewind.sdk.dag import DagContext

        self.prefix_group_id = prefix_group_id
        self.default_args = dict(default_args or {})
        self.tooltip = tooltip
        self.ui_color = ui_color
        self.ui_fgcolor = ui_fgcolor
        self.children: dict[str, AbstractOperator | TaskGroup] = {}
        self._group_id = group_id
        if group_id is None:  # the root group of a DAG, made by DAG itself
            self.dag = dag
            self.parent_group = None
            return
        validate_id(group_id, "group_id")
        dag = dag or (parent_group.dag if parent_group else None) or DagContext.current()
        if dag is None:
            raise DagDefinitionError(f"TaskGroup {group_id!r} must be created inside a DAG")
        self.dag = dag
        self.parent_group = parent_group or TaskGroupContext.current(dag)
        base = self.parent_group.child_id(group_id)
        used = self.parent_group.used_group_ids
        full = base
        if full in used or full in dag.task_dict:
            if not add_suffix_on_collision:
                what = "group" if full in used else "task"
                raise DagDefinitionError(
                    f"DAG {dag.dag_id!r}: group id {full!r} has already been added to the DAG "
                    f"as a {what} id"
                )
            n = 1
            while f"{base}__{n}" in used or f"{base}__{n}" in dag.task_dict:
                n += 1
            full = f"{base}__{n}"
            self._group_id = f"{group_id}__{n}"
        self.parent_group.used_group_ids.add(full)
        self.parent_group.children[full] = self
        self.group_display_name = group_display_name or group_id

    @classmethod
    def create_root(cls, dag: DAG) -> TaskGroup:
        group = cls(None, dag=dag)
        group.used_group_ids = set()
        return group

    @property
    def used_group_ids(self) -> set[str]:
        root = self
        while root.parent_group is not None:
            root = root.parent_group
        if "_used" not in root.__dict__:
            root.__dict__["_used"] = set()
        return root.__dict__["_used"]  # type: ignore[no-any-return]

    @used_group_ids.setter
    def used_group_ids(self, value: set[str]) -> None:
        self.__dict__["_used"] = value

    @property
    def group_id(self) -> str | None:
        """The full id, including parent groups' prefixes (``None`` for the root)."""
        if self._group_id is None:
            return None
        parent = self.parent_group
        if parent is not None and parent.group_id and parent.prefix_group_id:
            return f"{parent.group_id}.{self._group_id}"
        return self._group_id

    @property
    def label(self) -> str | None:
        return self._group_id

    @property
    def is_root(self) -> bool:
        return self._group_id is None

    @property
    def is_mapped(self) -> bool:
        """Whether the group is mapped (:class:`MappedTaskGroup`)."""
        return False

    def child_id(self, label: str) -> str:
        """The full id a child called ``label`` gets inside this group."""
        if self.group_id and self.prefix_group_id:
            return f"{self.group_id}.{label}"
        if self.parent_group is not None:
            return self.parent_group.child_id(label)
        return label

    def add(self, task: AbstractOperator) -> None:
        self.children[task.task_id] = task

    def iter_tasks(self) -> list[AbstractOperator]:
        out: list[AbstractOperator] = []
        for child in self.children.values():
            if isinstance(child, TaskGroup):
                out.extend(child.iter_tasks())
            else:
                out.append(child)
        return out

    @property
    def roots(self) -> Sequence[AbstractOperator]:
        tasks = self.iter_tasks()
        ids = {t.task_id for t in tasks}
        return [t for t in tasks if not (t.upstream_task_ids & ids)]

    @property
    def leaves(self) -> Sequence[AbstractOperator]:
        """Tasks with no downstream inside the group; what ``group >> x`` links from.

        A teardown is not a leaf: ``x`` waits for the work its setup enclosed, not for the
        clean-up, so the teardown's nearest non-teardown upstream tasks stand in for it
        (as in Airflow).
        """
        tasks = self.iter_tasks()
        by_id = {t.task_id: t for t in tasks}
        out: list[AbstractOperator] = []

        def has_work_downstream(task: AbstractOperator, exclude: str) -> bool:
            return any(
                tid != exclude and tid in by_id and not by_id[tid].is_teardown
                for tid in task.downstream_task_ids
            )

        def stand_ins(teardown: AbstractOperator) -> list[AbstractOperator]:
            found: list[AbstractOperator] = []
            for tid in sorted(teardown.upstream_task_ids):
                up = by_id.get(tid)
                if up is None or (teardown.is_teardown and up.is_setup):
                    continue
                if up.is_teardown:
                    found.extend(stand_ins(up))
                elif not has_work_downstream(up, exclude=teardown.task_id):
                    found.append(up)
            return found

        for t in tasks:
            if t.downstream_task_ids & by_id.keys():
                continue
            for leaf in stand_ins(t) if t.is_teardown else [t]:
                if all(leaf is not seen for seen in out):
                    out.append(leaf)
        return out

    def __enter__(self) -> TaskGroup:
        TaskGroupContext._stack().append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        TaskGroupContext._stack().pop()

    def __repr__(self) -> str:
        return f"<TaskGroup: {self.group_id}>"


class MappedTaskGroup(ExpandsInput, TaskGroup):
    """A task group copied once per element of its input: made by ``.expand()`` or
    ``.expand_kwargs()`` on a ``@task_group`` function (see :mod:`~tradewind.sdk.mapped_group`).

    Every task inside gets one task instance per element, whether or not it uses the mapped
    argument; ``expand_input`` is the group's input, as a mapped task's.
    """

    def __init__(self, group_id: str | None, *, expand_input: Any, **kwargs: Any) -> None:
        super().__init__(group_id, **kwargs)
        self.expand_input = expand_input

    def _check_children(self) -> None:
        # As Airflow: a copy per element cannot be made for a task that runs whatever its
        # upstream tasks did (it would have to run before the group's length is known).
        for child in self.children.values():
            if getattr(child, "trigger_rule", None) == "always":
                raise DagDefinitionError(
                    "Task-generated mapping within a mapped task group is not allowed with "
                    "trigger rule 'always'"
                )

    @property
    def roots(self) -> Sequence[AbstractOperator]:
        self._check_children()
        return super().roots

    @property
    def leaves(self) -> Sequence[AbstractOperator]:
        self._check_children()
        return super().leaves

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            # The tasks that feed the expansion run before the whole group (as in Airflow).
            for ref in self.expand_input.references():
                for op, _ in ref.iter_references():
                    self.set_upstream(op)
        super().__exit__(*exc)

    def __repr__(self) -> str:
        return f"<MappedTaskGroup: {self.group_id}>"


def task_group(group_id: str | Callable[..., Any] | None = None, **group_kwargs: Any) -> Any:
    """Make a function into a task-group factory; each call adds one group to the DAG.

    The function's name is the default group id; a second call gets a ``__1`` suffix.
    The call returns what the function returns, or the group if it returns nothing.
    ``.partial(...).expand(...)`` and ``.expand_kwargs(...)`` make a mapped group instead
    (:class:`~tradewind.sdk.mapped_group.TaskGroupFactory`).
    """
    from tradewind.sdk.mapped_group import TaskGroupFactory

    if callable(group_id):
        return TaskGroupFactory(group_id, {})
    if group_id is not None:
        group_kwargs["group_id"] = group_id

    def decorator(fn: Callable[..., Any]) -> TaskGroupFactory:
        return TaskGroupFactory(fn, group_kwargs)

    return decorator
