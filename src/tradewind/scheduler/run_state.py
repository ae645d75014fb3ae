"""A DAG run's state from its task instances' states (Airflow's rules).

When nothing is left unfinished: the run failed if any *effective leaf* failed (or was
upstream-failed), and succeeded otherwise. Effective leaves are the tasks with no downstream
other than teardowns that do not fail the run; teardowns count only with
``on_failure_fail_dagrun=True``. A run with unfinished tasks that cannot progress is
deadlocked and fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from tradewind.states import FAILED_STATES, FINISHED_STATES, DagRunState
from tradewind.states import TaskInstanceState as TI


def effective_leaves(
    downstream: Mapping[str, Iterable[str]],
    ignorable_teardowns: set[str],
) -> set[str]:
    """Task ids whose outcome decides the run.

    ``downstream`` maps each task id to its direct downstream ids; ``ignorable_teardowns``
    are teardowns without ``on_failure_fail_dagrun``.

    >>> sorted(effective_leaves({"a": ["b"], "b": ["td"], "td": []}, {"td"}))
    ['b']
    """
    leaves = {
        tid
        for tid, downs in downstream.items()
        if tid not in ignorable_teardowns and all(d in ignorable_teardowns for d in downs)
    }
    if not leaves:
        leaves = {tid for tid, downs in downstream.items() if not list(downs)}
    return leaves


def decide_run_state(
    states: Mapping[str, Sequence[TI | None]],
    leaves: set[str],
    *,
    can_progress: bool,
) -> DagRunState:
    """``states`` maps task id to its task instances' states (several when mapped).

    >>> decide_run_state({"a": [TI.SUCCESS], "b": [TI.FAILED]}, {"a"}, can_progress=False)
    <DagRunState.SUCCESS: 'success'>
    """
    unfinished = any(s not in FINISHED_STATES for group in states.values() for s in group)
    leaf_states = [s for tid in leaves for s in states.get(tid, []) if s is not TI.REMOVED]
    if not unfinished:
        if any(s in FAILED_STATES for s in leaf_states):
            return DagRunState.FAILED
        return DagRunState.SUCCESS
    if not can_progress:
        return DagRunState.FAILED
    return DagRunState.RUNNING
