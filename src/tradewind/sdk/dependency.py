"""The ``>>`` / ``<<`` operators shared by tasks, task groups, XCom args and labels.

Every participant knows its *roots* (where an edge coming in attaches) and *leaves* (where
an edge going out starts). ``a >> b`` links every leaf of ``a`` to every root of ``b``;
lists work on either side, as in Airflow.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradewind.sdk.abstractoperator import AbstractOperator


class DependencyMixin:
    """Gives ``>>``, ``<<``, ``set_upstream`` and ``set_downstream`` to any task-like node."""

    @property
    def roots(self) -> Sequence[AbstractOperator]:
        raise NotImplementedError

    @property
    def leaves(self) -> Sequence[AbstractOperator]:
        raise NotImplementedError

    def set_downstream(self, other: Any, edge_label: str | None = None) -> None:
        """Make ``other`` (a node or a list of nodes) run after this one."""
        for node in _flatten(other):
            relate(self, node, edge_label)

    def set_upstream(self, other: Any, edge_label: str | None = None) -> None:
        """Make ``other`` (a node or a list of nodes) run before this one."""
        for node in _flatten(other):
            relate(node, self, edge_label)

    def __rshift__(self, other: Any) -> Any:
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Any) -> Any:
        # ``[a, b] >> self``
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> Any:
        # ``[a, b] << self``
        self.set_downstream(other)
        return self


def _flatten(value: Any) -> list[DependencyMixin]:
    if isinstance(value, DependencyMixin):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes, dict)):
        out: list[DependencyMixin] = []
        for item in value:
            out.extend(_flatten(item))
        return out
    raise TypeError(
        f"cannot set a dependency on {value!r} ({type(value).__name__}); expected a task, "
        "a task group, an XComArg or a list of them"
    )


def relate(upstream: DependencyMixin, downstream: DependencyMixin, label: str | None) -> None:
    """Link every leaf of ``upstream`` to every root of ``downstream``."""
    from tradewind.sdk.edges import Label

    if isinstance(downstream, Label):
        downstream.add_upstream(upstream)
        return
    if isinstance(upstream, Label):
        upstream.add_downstream(downstream)
        return
    for leaf in upstream.leaves:
        for root in downstream.roots:
            leaf.add_edge_to(root, label)
