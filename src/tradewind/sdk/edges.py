"""Edge labels: ``a >> Label("on error") >> b`` names the edge from ``a`` to ``b``.

A label is not a task. It remembers the nodes linked to each side of it, and every time a
node is added on one side it is linked to every node already on the other side, so the
order of the ``>>`` / ``<<`` operations does not matter (``b << Label("x") << a`` works).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tradewind.sdk.dependency import DependencyMixin

if TYPE_CHECKING:
    from tradewind.sdk.abstractoperator import AbstractOperator


class Label(DependencyMixin):
    """A label for the edges it sits on; it is not a task and never runs.

    >>> from tradewind.sdk import DAG, Label
    >>> from tradewind.operators import EmptyOperator
    >>> with DAG("labels") as dag:
    ...     _ = EmptyOperator(task_id="a") >> Label("then") >> EmptyOperator(task_id="b")
    >>> dag.edge_info[("a", "b")]
    {'label': 'then'}
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.pending_upstream: list[DependencyMixin] = []
        self.pending_downstream: list[DependencyMixin] = []

    def add_upstream(self, node: DependencyMixin) -> None:
        """``node >> label``: link ``node`` to everything already after the label."""
        from tradewind.sdk.dependency import relate

        self.pending_upstream.append(node)
        for down in self.pending_downstream:
            relate(node, down, self.label)

    def add_downstream(self, node: DependencyMixin) -> None:
        """``label >> node``: link everything already before the label to ``node``."""
        from tradewind.sdk.dependency import relate

        self.pending_downstream.append(node)
        for up in self.pending_upstream:
            relate(up, node, self.label)

    @property
    def roots(self) -> Sequence[AbstractOperator]:
        return []

    @property
    def leaves(self) -> Sequence[AbstractOperator]:
        return []

    def __repr__(self) -> str:
        return f"Label({self.label!r})"
