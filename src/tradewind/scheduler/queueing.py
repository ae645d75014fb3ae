"""Which scheduled task instances go to the executor now: pools, limits and priority.

Pure: the scheduler loop loads candidates and counts, calls :func:`select_for_queueing`, and
queues what it returns in one transaction. The rules are Airflow 3's: candidates in order
of priority weight (highest first), then the run's ``run_after``, then map index; a task is
held back when its pool lacks slots (a bigger task does not block smaller ones behind it),
when its DAG run has ``max_active_tasks`` running or queued, when the task has
``max_active_tis_per_dag`` (or ``..._per_dagrun``) active, or when the executor is full.
Each held-back task gets the reason, so "why is my task not running" has an answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Candidate:
    """A ``scheduled`` task instance that may be queued."""

    ti_id: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    priority_weight: int
    pool: str
    pool_slots: int
    run_after: datetime
    max_active_tasks: int
    max_active_tis_per_dag: int | None = None
    max_active_tis_per_dagrun: int | None = None


@dataclass
class PoolSlots:
    """A pool's size and free slots; ``total == -1`` means unlimited."""

    total: int
    open: int

    @property
    def unlimited(self) -> bool:
        return self.total < 0


@dataclass
class ActiveCounts:
    """Task instances holding a slot now (queued or running), by DAG run and by task."""

    per_dag_run: Counter[tuple[str, str]] = field(default_factory=Counter)
    per_task: Counter[tuple[str, str]] = field(default_factory=Counter)
    per_task_run: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def add(self, dag_id: str, run_id: str, task_id: str, n: int = 1) -> None:
        self.per_dag_run[(dag_id, run_id)] += n
        self.per_task[(dag_id, task_id)] += n
        self.per_task_run[(dag_id, run_id, task_id)] += n


@dataclass
class QueueingDecision:
    queued: list[Candidate] = field(default_factory=list)
    #: ti_id -> why it stays scheduled.
    held: dict[str, str] = field(default_factory=dict)


def order(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Priority first, then older runs, then map index (Airflow's queueing order)."""
    return sorted(candidates, key=lambda c: (-c.priority_weight, c.run_after, c.map_index))


def select_for_queueing(
    candidates: Iterable[Candidate],
    pools: dict[str, PoolSlots],
    active: ActiveCounts,
    executor_slots: int,
) -> QueueingDecision:
    """Choose what to queue. ``pools`` and ``active`` are updated as slots are taken.

    >>> from datetime import datetime, timezone
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> c = [Candidate(str(i), "d", "r", f"t{i}", -1, i, "p", 1, t, 16) for i in range(3)]
    >>> d = select_for_queueing(c, {"p": PoolSlots(2, 2)}, ActiveCounts(), 10)
    >>> [x.ti_id for x in d.queued], d.held
    (['2', '1'], {'0': "pool 'p' has 0 of 2 slots open"})
    """
    decision = QueueingDecision()
    for c in order(candidates):
        reason = _hold_reason(c, pools, active, executor_slots - len(decision.queued))
        if reason is not None:
            decision.held[c.ti_id] = reason
            continue
        decision.queued.append(c)
        pool = pools[c.pool]
        if not pool.unlimited:
            pool.open -= c.pool_slots
        active.add(c.dag_id, c.run_id, c.task_id)
    return decision


def _hold_reason(
    c: Candidate, pools: dict[str, PoolSlots], active: ActiveCounts, executor_slots: int
) -> str | None:
    pool = pools.get(c.pool)
    if pool is None:
        return f"pool {c.pool!r} does not exist"
    if not pool.unlimited:
        if c.pool_slots > pool.total:
            return f"needs {c.pool_slots} slots but pool {c.pool!r} has only {pool.total}"
        if c.pool_slots > pool.open:
            return f"pool {c.pool!r} has {max(pool.open, 0)} of {pool.total} slots open"
    if active.per_dag_run[(c.dag_id, c.run_id)] >= c.max_active_tasks:
        return f"its DAG run has max_active_tasks={c.max_active_tasks} tasks active"
    limit = c.max_active_tis_per_dag
    if limit is not None and active.per_task[(c.dag_id, c.task_id)] >= limit:
        return f"task has max_active_tis_per_dag={limit} instances active"
    limit = c.max_active_tis_per_dagrun
    if limit is not None and active.per_task_run[(c.dag_id, c.run_id, c.task_id)] >= limit:
        return f"task has max_active_tis_per_dagrun={limit} instances active in this run"
    if executor_slots <= 0:
        return "the executor has no free slots (parallelism)"
    return None
