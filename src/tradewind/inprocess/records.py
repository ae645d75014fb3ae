"""What an in-process run reports: each task instance's record and the run's result."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tradewind.states import DagRunState
from tradewind.states import TaskInstanceState as TI


@dataclass
class TaskInstanceRecord:
    """One task instance of the run, as ``dags test`` tracks it."""

    task_id: str
    map_index: int = -1
    state: TI | None = None
    try_number: int = 0
    start_date: datetime | None = None
    end_date: datetime | None = None
    next_retry_at: datetime | None = None
    error: str | None = None
    rendered_map_index: str | None = None
    log: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """``task_id``, or ``task_id[map_index]`` for a mapped copy."""
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"

    @property
    def duration(self) -> float | None:
        if self.start_date and self.end_date:
            return (self.end_date - self.start_date).total_seconds()
        return None


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
