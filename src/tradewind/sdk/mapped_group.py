"""Mapped task groups: ``@task_group`` functions expanded like mapped tasks.

``group_fn.expand(x=[1, 2, 3])`` builds the group once, with a stand-in
(:class:`MappedArgument`) for each mapped argument, and marks it mapped: at run time every
task inside gets one task instance per element (map index ``i`` reads element ``i``), even a
task that does not use the argument. ``.partial(y=1)`` fixes arguments for every copy;
``.expand_kwargs([{...}, ...])`` takes one dict of arguments per copy. Inside the group, copy
``i`` of a task depends on copy ``i`` of its upstream tasks in the group; a task after the
group receives the values of every copy of the group's last task, in map-index order.

>>> from tradewind.sdk import DAG, task, task_group
>>> with DAG("doc_mapped_group") as d:
...     @task
...     def double(x):
...         return 2 * x
...     @task
...     def total(values):
...         return sum(values)
...     @task_group
...     def process(x):
...         return double(x)
...     _ = total(process.expand(x=[1, 2, 3]))
>>> d.task_group.children["process"].is_mapped, sorted(d.task_dict["total"].upstream_task_ids)
(True, ['process.double'])

As in Airflow 3.3, a mapped task (``.expand()``) cannot sit inside a mapped group, a task
in a group mapped over an upstream's output cannot use the trigger rule ``always``, and a
mapped argument cannot be expanded over again.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tradewind.sdk.mapping import DictOfListsExpandInput, ExpandInput, ListOfDictsExpandInput
from tradewind.sdk.taskgroup import MappedTaskGroup, TaskGroup
from tradewind.sdk.xcom_arg import RETURN_VALUE, LengthLookup, PlainXComArg, XComArg

if TYPE_CHECKING:
    from tradewind.sdk.abstractoperator import AbstractOperator


class MappedArgument(XComArg):
    """Stand-in for one mapped argument of a mapped group: each copy's element at run time.

    Its references are the group input's (so a task using it waits for what feeds the
    group); it resolves to this copy's element of the group's input.
    """

    def __init__(self, expand_input: ExpandInput, key: str) -> None:
        self.expand_input = expand_input
        self.key = key
        #: The group this argument belongs to (set once the group exists).
        self.group: MappedTaskGroup | None = None

    def iter_references(self) -> Iterator[tuple[AbstractOperator, str]]:
        for ref in self.expand_input.references():
            yield from ref.iter_references()

    def resolve(self, context: Mapping[str, Any]) -> Any:
        from tradewind.sdk.map_indexes import group_position

        ti = context["ti"]
        if self.group is None or ti.map_index < 0:
            raise RuntimeError(f"mapped argument {self.key!r} is resolved only in a mapped copy")
        lengths: LengthLookup = ti.map_length
        index = group_position(ti.task, ti.map_index, self.group, lengths)
        values = self.expand_input.resolve(context, index)
        if self.key not in values:
            # As Airflow: expand_kwargs() gives a stand-in for every argument of the
            # function, and a copy whose dict lacks one fails when a task reads it.
            raise KeyError(
                f"mapped task group {self.group.group_id!r}: the arguments of copy {index} "
                f"have no {self.key!r}"
            )
        return values[self.key]

    def get_length(self, lengths: LengthLookup) -> int | None:
        raise TypeError(
            f"cannot expand over mapped argument {self.key!r} of a mapped task group: nested "
            "mapping is not supported (as in Airflow)"
        )

    def __repr__(self) -> str:
        return f"<MappedArgument {self.key!r}>"


def _is_mappable(value: Any) -> bool:
    return isinstance(value, (XComArg, Mapping, Sequence)) and not isinstance(value, str)


def _check_return_value(values: Any) -> None:
    """As Airflow: a group maps over a task's ``return_value`` only, not another key."""
    for value in values if isinstance(values, (list, tuple)) else [values]:
        if isinstance(value, PlainXComArg) and value.key != RETURN_VALUE:
            raise ValueError(
                f"cannot map over XCom with custom key {value.key!r} from {value.operator!r}"
            )


class TaskGroupFactory:
    """What ``@task_group`` makes of a function: call it for one group, ``expand`` it for a
    mapped one. See the module docstring."""

    def __init__(
        self,
        function: Callable[..., Any],
        group_kwargs: dict[str, Any],
        partial_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not callable(function):
            raise TypeError(f"@task_group decorates a function, got {type(function).__name__}")
        self.function = function
        self.group_kwargs = dict(group_kwargs)
        self.partial_kwargs = dict(partial_kwargs or {})
        functools.update_wrapper(self, function)

    #: Recognised by ``@setup`` / ``@teardown``, which refuse task groups.
    _tw_task_group_factory = True

    def _create(self, group_class: Callable[..., TaskGroup], *args: Any, **kwargs: Any) -> Any:
        options = {"add_suffix_on_collision": True, **self.group_kwargs}
        group_id = options.pop("group_id", None) or self.function.__name__
        with group_class(group_id, **options) as group:
            if self.function.__doc__ and not group.tooltip:
                group.tooltip = inspect.cleandoc(self.function.__doc__)
            result = self.function(*args, **kwargs)
        return group if result is None else result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Add one group to the DAG; returns what the function returns, or the group."""
        return self._create(TaskGroup, *args, **kwargs)

    def override(self, **group_kwargs: Any) -> TaskGroupFactory:
        """A copy with other task-group arguments (``group_id``, ``tooltip``...)."""
        merged = {**self.group_kwargs, **group_kwargs}
        return TaskGroupFactory(self.function, merged, self.partial_kwargs)

    def partial(self, **kwargs: Any) -> TaskGroupFactory:
        """Fix some of the function's arguments for every copy; then call ``expand``."""
        self._check_names("partial", kwargs)
        clash = sorted(set(kwargs) & set(self.partial_kwargs))
        if clash:
            raise TypeError(f"duplicate partial arguments: {clash}")
        return TaskGroupFactory(self.function, self.group_kwargs, {**self.partial_kwargs, **kwargs})

    def expand(self, **mapped: Any) -> Any:
        """One copy of the group per element (the cross product for several arguments)."""
        if not mapped:
            raise TypeError("no arguments to expand against")
        self._check_names("expand", mapped)
        clash = sorted(set(mapped) & set(self.partial_kwargs))
        if clash:
            raise TypeError(f"arguments given to both partial() and expand(): {clash}")
        if any(isinstance(v, MappedArgument) for v in mapped.values()):
            raise ValueError("Nested Mapped TaskGroups are not yet supported")
        _check_return_value(list(mapped.values()))
        return self._expand(DictOfListsExpandInput(mapped), list(mapped))

    def expand_kwargs(self, kwargs: Any) -> Any:
        """One copy of the group per dict of arguments in ``kwargs`` (a list or an XComArg)."""
        if isinstance(kwargs, Sequence) and not isinstance(kwargs, str):
            for item in kwargs:
                if not isinstance(item, (XComArg, Mapping)):
                    raise TypeError(f"expected XComArg or list[dict], not {type(kwargs).__name__}")
        elif not isinstance(kwargs, XComArg):
            raise TypeError(f"expected XComArg or list[dict], not {type(kwargs).__name__}")
        params = inspect.signature(self.function).parameters.values()
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
            raise TypeError(
                "calling expand_kwargs() on task group function with * or ** is not supported"
            )
        _check_return_value(kwargs)
        # Which arguments each dict gives is known only at run time: every argument not
        # fixed by partial() gets a stand-in (as in Airflow).
        names = [p.name for p in params if p.name not in self.partial_kwargs]
        return self._expand(ListOfDictsExpandInput(kwargs), names)

    def _expand(self, expand_input: ExpandInput, names: list[str]) -> Any:
        stand_ins = {name: MappedArgument(expand_input, name) for name in names}

        def make(group_id: str, **options: Any) -> MappedTaskGroup:
            group = MappedTaskGroup(group_id, expand_input=expand_input, **options)
            for arg in stand_ins.values():
                arg.group = group
            return group

        return self._create(make, **self.partial_kwargs, **stand_ins)

    def _check_names(self, how: str, kwargs: dict[str, Any]) -> None:
        params = inspect.signature(self.function).parameters
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return
        for name, value in kwargs.items():
            if how == "expand" and name in params and not _is_mappable(value):
                raise ValueError(
                    f"expand() got an unexpected type {type(value).__name__!r} for keyword "
                    f"argument {name!r}"
                )
        unknown = [name for name in kwargs if name not in params]
        if len(unknown) == 1:
            raise TypeError(f"{how}() got an unexpected keyword argument {unknown[0]!r}")
        if unknown:
            names = ", ".join(repr(n) for n in unknown)
            raise TypeError(f"{how}() got unexpected keyword arguments {names}")

    def __repr__(self) -> str:
        return f"<TaskGroupFactory: {self.function.__name__}>"
