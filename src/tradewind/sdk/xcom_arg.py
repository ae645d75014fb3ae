"""``XComArg``: a reference to a task's future output, resolved when a task runs.

Passing an XComArg to another task both makes that task depend on the producer and hands it
the value at run time. ``arg["key"]`` reads one key of a ``multiple_outputs`` result;
``arg.map(fn)`` transforms each element before a mapped task sees it; ``arg.zip(...)`` and
``arg.concat(...)`` combine several outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tradewind.sdk.dependency import DependencyMixin

if TYPE_CHECKING:
    from tradewind.sdk.abstractoperator import AbstractOperator

RETURN_VALUE = "return_value"

#: "No value given" for ``zip(fillvalue=...)`` (``None`` is a valid fill value).
NOTSET: Any = type("_NotSet", (), {"__repr__": lambda self: "NOTSET"})()

#: ``lengths(task_id, key)`` gives the length of a pushed list/dict, or ``None`` if unknown.
LengthLookup = Callable[[str, str], "int | None"]


class XComArg(DependencyMixin):
    """Base of every XCom reference. See the module docstring."""

    def iter_references(self) -> Iterator[tuple[AbstractOperator, str]]:
        raise NotImplementedError

    def resolve(self, context: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def get_length(self, lengths: LengthLookup) -> int | None:
        raise NotImplementedError

    def map(self, fn: Callable[[Any], Any]) -> MapXComArg:
        return MapXComArg(self, [fn])

    def zip(self, *others: XComArg, fillvalue: Any = NOTSET) -> ZipXComArg:
        """Elements taken in step: as long as the shortest input, or as the longest when
        ``fillvalue`` is given (missing elements are filled with it)."""
        return ZipXComArg([self, *others], fillvalue=fillvalue)

    def concat(self, *others: XComArg) -> ConcatXComArg:
        return ConcatXComArg([self, *others])

    @property
    def roots(self) -> Sequence[AbstractOperator]:
        return [op for op, _ in self.iter_references()]

    @property
    def leaves(self) -> Sequence[AbstractOperator]:
        return [op for op, _ in self.iter_references()]

    def __iter__(self) -> Iterator[Any]:
        raise TypeError("an XComArg is not iterable while the DAG is defined; use .expand()")


class PlainXComArg(XComArg):
    """The value one task pushed under ``key`` (``return_value`` by default)."""

    def __init__(self, operator: AbstractOperator, key: str = RETURN_VALUE) -> None:
        self.operator = operator
        self.key = key

    def __getitem__(self, key: str) -> PlainXComArg:
        return PlainXComArg(self.operator, key)

    def as_setup(self) -> PlainXComArg:
        """Mark the producing task as a setup task; returns this XComArg."""
        self.operator.as_setup()
        return self

    def as_teardown(
        self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None
    ) -> PlainXComArg:
        """Mark the producing task as a teardown of ``setups``; returns this XComArg.

        ``create() >> work() >> delete().as_teardown(setups=create_arg)``
        """
        self.operator.as_teardown(setups=setups, on_failure_fail_dagrun=on_failure_fail_dagrun)
        return self

    def iter_references(self) -> Iterator[tuple[AbstractOperator, str]]:
        yield self.operator, self.key

    def resolve(self, context: Mapping[str, Any]) -> Any:
        return context["ti"].resolve_upstream_output(self.operator.task_id, self.key)

    def get_length(self, lengths: LengthLookup) -> int | None:
        return lengths(self.operator.task_id, self.key)

    def __repr__(self) -> str:
        key = "" if self.key == RETURN_VALUE else f", {self.key!r}"
        return f"<XComArg {self.operator.task_id}{key}>"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PlainXComArg)
            and other.operator is self.operator
            and other.key == self.key
        )

    def __hash__(self) -> int:
        return hash((id(self.operator), self.key))


class MapXComArg(XComArg):
    """Each element of another XComArg passed through callables (``arg.map(fn)``)."""

    def __init__(self, arg: XComArg, callables: list[Callable[[Any], Any]]) -> None:
        self.arg = arg
        self.callables = callables

    def map(self, fn: Callable[[Any], Any]) -> MapXComArg:
        return MapXComArg(self.arg, [*self.callables, fn])

    def iter_references(self) -> Iterator[tuple[AbstractOperator, str]]:
        yield from self.arg.iter_references()

    def _apply(self, value: Any) -> Any:
        for fn in self.callables:
            value = fn(value)
        return value

    def resolve(self, context: Mapping[str, Any]) -> Any:
        value = self.arg.resolve(context)
        if isinstance(value, Mapping):
            return [self._apply(item) for item in value.items()]
        if is_sequence(value):
            return [self._apply(item) for item in value]
        raise TypeError(f"map() needs a list or dict to map over, got {type(value).__name__}")

    def get_length(self, lengths: LengthLookup) -> int | None:
        return self.arg.get_length(lengths)


class ZipXComArg(XComArg):
    """Elements of several XComArgs taken in step, like :func:`zip`."""

    _MISSING: Any = NOTSET

    def __init__(self, args: list[XComArg], *, fillvalue: Any = NOTSET) -> None:
        self.args = args
        self.fillvalue = fillvalue

    def iter_references(self) -> Iterator[tuple[AbstractOperator, str]]:
        for arg in self.args:
            yield from arg.iter_references()

    def resolve(self, context: Mapping[str, Any]) -> Any:
        import itertools

        values = [list(_items(arg.resolve(context))) for arg in self.args]
        if self.fillvalue is self._MISSING:
            return list(zip(*values, strict=False))
        return list(itertools.zip_longest(*values, fillvalue=self.fillvalue))

    def get_length(self, lengths: LengthLookup) -> int | None:
        found = [arg.get_length(lengths) for arg in self.args]
        if any(n is None for n in found):
            return None
        counts = [n for n in found if n is not None]
        return min(counts) if self.fillvalue is self._MISSING else max(counts)


class ConcatXComArg(XComArg):
    """Several XComArgs' elements one after another."""

    def __init__(self, args: list[XComArg]) -> None:
        self.args = args

    def iter_references(self) -> Iterator[tuple[AbstractOperator, str]]:
        for arg in self.args:
            yield from arg.iter_references()

    def resolve(self, context: Mapping[str, Any]) -> Any:
        out: list[Any] = []
        for arg in self.args:
            out.extend(_items(arg.resolve(context)))
        return out

    def get_length(self, lengths: LengthLookup) -> int | None:
        found = [arg.get_length(lengths) for arg in self.args]
        if any(n is None for n in found):
            return None
        return sum(n for n in found if n is not None)


def is_sequence(value: Any) -> bool:
    """A list-like value that can be mapped over (not a str or bytes)."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))


def _items(value: Any) -> Any:
    if isinstance(value, Mapping):
        return value.items()
    if is_sequence(value):
        return value
    raise TypeError(f"expected a list or dict, got {type(value).__name__}")


def find_references(value: Any) -> list[XComArg]:
    """Every XComArg nested anywhere in ``value`` (lists, tuples, sets, dicts)."""
    found: list[XComArg] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, XComArg):
            found.append(item)
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return found


def set_dependencies_from_args(task: AbstractOperator, *values: Any) -> None:
    """Make ``task`` depend on every task whose output appears in ``values``.

    A task built at run time for one map index has no DAG yet and links nothing.
    """
    if task.dag is None:
        return
    for arg in find_references(values):
        for op, _ in arg.iter_references():
            op.set_downstream(task)
