"""Edge labels: ``a >> Label("on error") >> b`` names the edge from ``a`` to ``b``."""

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
    ...     EmptyOperator(task_id="a") >> Label("then") >> EmptyOperator(task_id="b")
    >>> dag.edge_info[("a", "b")]
    {'label': 'then'}
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.pending_upstream: list[DependencyMixin] = []

    @property
    def roots(self) -> Sequence[AbstractOperator]:
        return []

    @property
    def leaves(self) -> Sequence[AbstractOperator]:
        return []

    def __repr__(self) -> str:
        return f"Label({self.label!r})"
