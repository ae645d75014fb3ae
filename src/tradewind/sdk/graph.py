"""Reading a DAG's task graph: shared by the SDK's ``DAG`` and the serialized DAG.

A class using :class:`TaskGraph` has ``dag_id`` and ``task_dict`` (task id -> task, each
with ``upstream_task_ids`` and ``downstream_task_ids``) and says what a cycle raises.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class TaskGraph(Generic[T]):
    """``tasks``, ``roots``, ``leaves``, ``topological_sort()`` and friends."""

    dag_id: str
    task_dict: dict[str, T]

    @property
    def tasks(self) -> list[T]:
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        return list(self.task_dict)

    def get_task(self, task_id: str) -> T:
        try:
            return self.task_dict[task_id]
        except KeyError:
            raise KeyError(f"task {task_id!r} not found in DAG {self.dag_id!r}") from None

    def has_task(self, task_id: str) -> bool:
        return task_id in self.task_dict

    @property
    def roots(self) -> list[T]:
        tasks: dict[str, Any] = self.task_dict
        return [t for t in tasks.values() if not t.upstream_task_ids]

    @property
    def leaves(self) -> list[T]:
        tasks: dict[str, Any] = self.task_dict
        return [t for t in tasks.values() if not t.downstream_task_ids]

    def topological_sort(self) -> list[T]:
        """Tasks ordered so that each comes after all of its upstream tasks."""
        tasks: dict[str, Any] = self.task_dict
        indegree = {tid: len(t.upstream_task_ids) for tid, t in tasks.items()}
        ready = deque(tid for tid, n in indegree.items() if n == 0)
        order: list[T] = []
        while ready:
            tid = ready.popleft()
            order.append(tasks[tid])
            for down in sorted(tasks[tid].downstream_task_ids):
                indegree[down] -= 1
                if indegree[down] == 0:
                    ready.append(down)
        if len(order) != len(tasks):
            raise self._cycle_error()
        return order

    def _cycle_error(self) -> Exception:
        return ValueError(f"DAG {self.dag_id!r} has a cycle")
