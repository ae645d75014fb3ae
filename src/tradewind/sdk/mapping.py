"""Dynamic task mapping: one task definition, as many copies as its input has elements.

``Op.partial(**fixed).expand(**lists)`` (or ``@task`` functions' ``.partial().expand()``)
creates a :class:`MappedOperator`. When the run reaches it, the orchestrator learns the
length of each expanded input (a literal list/dict, or an upstream task's output), creates
one task instance per element (``map_index`` 0..n-1; none, and the task is skipped, when
the input is empty) and the runner builds each copy with :meth:`MappedOperator.unmap`.

Several keyword arguments to ``expand`` are crossed (every combination, the last argument
varying fastest); ``expand_kwargs`` takes one dict of arguments per copy instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tradewind.exceptions import DagDefinitionError
from tradewind.sdk.abstractoperator import (
    SCHEDULING_DEFAULTS,
    AbstractOperator,
    check_scheduling_args,
    validate_id,
)
from tradewind.sdk.xcom_arg import LengthLookup, XComArg, find_references, is_sequence

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator


class UnmappableInputError(DagDefinitionError):
    """An expanded input is not a list or dict."""


def _literal_length(name: str, value: Any) -> int:
    if isinstance(value, Mapping) or is_sequence(value):
        return len(value)
    raise UnmappableInputError(
        f"expand() argument {name!r} must be a list, dict or XComArg, got {type(value).__name__}"
    )


def _element(name: str, value: Any, index: int) -> Any:
    if isinstance(value, Mapping):
        return list(value.items())[index]
    if is_sequence(value):
        return value[index]
    raise UnmappableInputError(
        f"cannot map over {name!r}: the value at run time is a {type(value).__name__}, "
        "not a list or dict"
    )


class DictOfListsExpandInput:
    """``expand(a=[...], b=XComArg)``: the cross product of every argument's elements."""

    def __init__(self, value: dict[str, Any]) -> None:
        for name, item in value.items():
            if not isinstance(item, XComArg):
                _literal_length(name, item)
        self.value = value

    def references(self) -> list[XComArg]:
        return find_references(list(self.value.values()))

    def get_length(self, lengths: LengthLookup) -> int | None:
        total = 1
        for name, item in self.value.items():
            n = (
                item.get_length(lengths)
                if isinstance(item, XComArg)
                else _literal_length(name, item)
            )
            if n is None:
                return None
            total *= n
        return total

    def resolve(self, context: Mapping[str, Any], map_index: int) -> dict[str, Any]:
        resolved = {
            name: item.resolve(context) if isinstance(item, XComArg) else item
            for name, item in self.value.items()
        }
        sizes = {name: _literal_length(name, v) for name, v in resolved.items()}
        out: dict[str, Any] = {}
        remainder = map_index
        for name in reversed(list(resolved)):
            remainder, position = divmod(remainder, sizes[name]) if sizes[name] else (0, 0)
            out[name] = _element(name, resolved[name], position)
        return dict(reversed(list(out.items())))


class ListOfDictsExpandInput:
    """``expand_kwargs([{...}, {...}])`` or ``expand_kwargs(XComArg)``: one dict per copy."""

    def __init__(self, value: Any) -> None:
        if not isinstance(value, XComArg):
            if not isinstance(value, (list, tuple)):
                raise UnmappableInputError(
                    f"expand_kwargs() expects a list[dict] or an XComArg that gives one, "
                    f"not {type(value).__name__}"
                )
            for i, row in enumerate(value):
                if isinstance(row, XComArg):
                    continue
                if not isinstance(row, Mapping):
                    raise UnmappableInputError(
                        f"expand_kwargs() expects a list[dict], but element {i} is a "
                        f"{type(row).__name__}"
                    )
                bad = [k for k in row if not isinstance(k, str)]
                if bad:
                    raise UnmappableInputError(
                        f"expand_kwargs() element {i} has non-str keys {bad!r}; keys are "
                        "argument names"
                    )
        self.value = value

    def literal_keys(self) -> set[str]:
        """Argument names of the literal dicts (those known at definition time)."""
        if isinstance(self.value, XComArg):
            return set()
        return {k for row in self.value if isinstance(row, Mapping) for k in row}

    def references(self) -> list[XComArg]:
        return find_references(self.value)

    def get_length(self, lengths: LengthLookup) -> int | None:
        if isinstance(self.value, XComArg):
            return self.value.get_length(lengths)
        return len(self.value)

    def resolve(self, context: Mapping[str, Any], map_index: int) -> dict[str, Any]:
        rows = self.value.resolve(context) if isinstance(self.value, XComArg) else self.value
        row = rows[map_index]
        if isinstance(row, XComArg):
            row = row.resolve(context)
        if not isinstance(row, Mapping):
            raise UnmappableInputError(
                f"expand_kwargs() element {map_index} is a {type(row).__name__}, not a dict"
            )
        return {
            k: v.resolve(context) if isinstance(v, XComArg) else v for k, v in dict(row).items()
        }


ExpandInput = DictOfListsExpandInput | ListOfDictsExpandInput


class OperatorPartial:
    """The fixed half of a mapped task; call :meth:`expand` or :meth:`expand_kwargs`.

    ``explicit`` names the arguments the user gave to ``partial()``; the others in
    ``kwargs`` came from ``default_args`` and give way to expanded arguments.
    """

    def __init__(
        self,
        operator_class: type[BaseOperator],
        kwargs: dict[str, Any],
        explicit: set[str] | None = None,
    ) -> None:
        if "task_id" not in kwargs:
            raise TypeError(f"{operator_class.__name__}.partial() needs a task_id")
        self.operator_class = operator_class
        self.kwargs = kwargs
        self.explicit = set(kwargs) if explicit is None else set(explicit)
        self._expanded = False

    def expand(self, **mapped: Any) -> MappedOperator:
        """Create one copy of the task per element (the cross product for several args)."""
        if not mapped:
            raise TypeError("expand() needs at least one argument to map over")
        clash = set(mapped) & self.explicit
        if clash:
            raise TypeError(f"arguments given to both partial() and expand(): {sorted(clash)}")
        for name in mapped:
            self.kwargs.pop(name, None)
        return self._finish(DictOfListsExpandInput(mapped))

    def expand_kwargs(self, kwargs: Any) -> MappedOperator:
        """Create one copy per dict of arguments in ``kwargs`` (a list or an XComArg)."""
        return self._finish(ListOfDictsExpandInput(kwargs))

    def _finish(self, expand_input: ExpandInput) -> MappedOperator:
        if self._expanded:
            raise TypeError("this partial() was already expanded")
        self._expanded = True
        return MappedOperator(self.operator_class, dict(self.kwargs), expand_input)


class ExpandsInput:
    """What a mapped task and a mapped task group share: their copies come from
    ``expand_input`` (one per element, or per combination of elements)."""

    expand_input: ExpandInput

    @property
    def is_mapped(self) -> bool:
        return True

    @property
    def mapping_feeders(self) -> frozenset[str]:
        """Ids of the tasks whose output this expands over."""
        return frozenset(
            op.task_id for ref in self.expand_input.references() for op, _ in ref.iter_references()
        )

    def get_map_length(self, lengths: LengthLookup) -> int | None:
        """How many copies to make, or ``None`` while an input's length is not yet known."""
        return self.expand_input.get_length(lengths)


class MappedOperator(ExpandsInput, AbstractOperator):
    """A task that becomes ``n`` task instances at run time. See the module docstring.

    ``expand_into`` names the argument the mapped values are merged into: ``None`` for the
    operator's own keyword arguments, ``"op_kwargs"`` for TaskFlow functions' arguments.
    """

    def __init__(
        self,
        operator_class: type[BaseOperator],
        partial_kwargs: dict[str, Any],
        expand_input: ExpandInput,
        expand_into: str | None = None,
    ) -> None:
        from tradewind.sdk.baseoperator import resolve_dag_and_group

        self._init_graph()
        self.operator_class = operator_class
        self.expand_input = expand_input
        self.expand_into = expand_into
        dag, group = resolve_dag_and_group(partial_kwargs)
        partial_kwargs.pop("dag", None)
        partial_kwargs.pop("task_group", None)
        raw_id = validate_id(partial_kwargs.pop("task_id"), "task_id")
        self.partial_kwargs = partial_kwargs
        self.task_group = group
        from tradewind.sdk.map_indexes import mapped_groups

        if group is not None and mapped_groups(group):
            raise DagDefinitionError(
                "operator expansion in an expanded task group is not yet supported "
                f"(task {raw_id!r} in mapped group {mapped_groups(group)[0].group_id!r})"
            )
        self.task_id = group.child_id(raw_id) if group is not None else raw_id
        validate_id(self.task_id, "task_id")
        _check_argument_names(
            operator_class, self.task_id, partial_kwargs, expand_input, expand_into
        )
        for name, default in SCHEDULING_DEFAULTS.items():
            setattr(self, name, partial_kwargs.get(name, default))
        check_scheduling_args(self)
        self.template_fields = operator_class.template_fields
        self.template_ext = operator_class.template_ext
        self.is_branching = operator_class.is_branching
        self.dag = None
        if dag is None:
            raise DagDefinitionError(f"mapped task {self.task_id!r} must be created inside a DAG")
        dag.add_task(self)
        for ref in expand_input.references():
            for op, _ in ref.iter_references():
                op.set_downstream(self)
        from tradewind.sdk.xcom_arg import set_dependencies_from_args

        set_dependencies_from_args(self, list(partial_kwargs.values()))

    def unmap(self, context: Mapping[str, Any], map_index: int) -> BaseOperator:
        """Build the concrete operator for ``map_index`` with its inputs resolved."""
        import copy

        values = self.expand_input.resolve(context, map_index)
        kwargs = copy.copy(self.partial_kwargs)
        if self.expand_into:
            merged = dict(kwargs.get(self.expand_into) or {})
            merged.update(values)
            kwargs[self.expand_into] = merged
        else:
            kwargs.update(values)
        return build_detached(self.operator_class, self, kwargs)

    @property
    def params(self) -> Any:
        from tradewind.sdk.params import ParamsDict

        return ParamsDict(self.partial_kwargs.get("params") or {})

    def __repr__(self) -> str:
        return f"<Mapped({self.operator_class.__name__}): {self.task_id}>"


def _check_argument_names(
    operator_class: type[BaseOperator],
    task_id: str,
    partial_kwargs: dict[str, Any],
    expand_input: ExpandInput,
    expand_into: str | None,
) -> None:
    """Fail at definition when ``partial()``/``expand()`` name arguments the operator lacks."""
    from tradewind.sdk.baseoperator import accepted_init_args

    klass: type = operator_class
    accepted = accepted_init_args(klass)
    name = operator_class.__name__
    unknown = sorted(set(partial_kwargs) - accepted)
    if unknown:
        raise TypeError(
            f"Invalid arguments were passed to {name}.partial() (task_id: {task_id}). "
            f"Invalid arguments were: {unknown}"
        )
    if expand_into is not None:
        return
    if isinstance(expand_input, DictOfListsExpandInput):
        given, how = set(expand_input.value), "expand"
    else:
        given, how = expand_input.literal_keys(), "expand_kwargs"
    unknown = sorted(given - accepted)
    if unknown:
        raise TypeError(
            f"{name}.{how}() got unexpected keyword arguments {unknown} (task_id: {task_id})"
        )


def build_detached(
    operator_class: type[BaseOperator], template: AbstractOperator, kwargs: dict[str, Any]
) -> BaseOperator:
    """Construct an operator outside any DAG context, then attach it to ``template``'s place.

    Used at run time to make the concrete task for one map index: it must not register
    itself in the DAG (the mapped task already holds that id).
    """
    from tradewind.sdk.dag import DagContext

    with DagContext.detached():
        op = operator_class(**{**kwargs, "task_id": template.task_id})
    op.dag = template.dag
    op.task_group = template.task_group
    op.upstream_task_ids = template.upstream_task_ids
    op.downstream_task_ids = template.downstream_task_ids
    return op


def mapped_tasks(tasks: Sequence[AbstractOperator]) -> list[MappedOperator]:
    return [t for t in tasks if isinstance(t, MappedOperator)]
