"""What an in-process run reports: each task instance's record and the run's result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tradewind.scheduler.run_machine import TaskInstanceRecord
from tradewind.states import DagRunState


@dataclass
class DagRunResult:
    """How a run ended, with every task instance."""

    dag_id: str
    run_id: str
    state: DagRunState
    logical_date: datetime | None
    start_date: datetime
    end_date: datetime
    task_instances: list[TaskInstanceRecord]

    def task_states(self) -> dict[str, str | None]:
        return {
            ti.key: (ti.state.value if ti.state is not None else None) for ti in self.task_instances
        }

    def get(self, key: str) -> TaskInstanceRecord:
        for ti in self.task_instances:
            if ti.key == key:
                return ti
        raise KeyError(key)

    def to_json(self) -> dict[str, Any]:
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "state": self.state.value,
            "tasks": self.task_states(),
        }
