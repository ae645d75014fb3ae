"""``EmptyOperator``: a task that does nothing; useful as a join or a marker."""

from __future__ import annotations

from typing import Any

from tradewind.sdk.baseoperator import BaseOperator


class EmptyOperator(BaseOperator):
    """Does nothing and succeeds (still subject to its trigger rule).

    >>> from tradewind.sdk import DAG
    >>> with DAG("doc_empty") as d:
    ...     EmptyOperator(task_id="join", trigger_rule="none_failed")
    <Task(EmptyOperator): join>
    """

    ui_color = "#e8f7e4"

    def execute(self, context: Any) -> None:
        return None
