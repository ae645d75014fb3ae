"""``depends_on_past`` and ``wait_for_downstream``: may a task instance run, given the run
before this one?

Pure: the caller loads what the previous run's task instances look like (:class:`PastRuns`)
and asks :func:`past_blocker`, which returns ``None`` when the past allows the task instance
to run, else why it waits. Semantics follow Airflow 3.3's ``PrevDagrunDep``:

* only tasks with ``depends_on_past`` (``wait_for_downstream`` implies it, as in Airflow)
  are checked; a failing check only holds the task instance back (it keeps "no status"),
  it never fails or skips it;
* the *previous run* is the same DAG's run with the latest logical date before this one's;
  with ``catchup`` manually triggered runs are passed over. A run without a logical date,
  the first run, and the first run of a backfill have no past to wait for; nor does a task
  whose start date comes after the previous run's logical date (with ``catchup``);
* the task must have task instances in the previous run, and *every one* of them (all map
  indexes of a mapped task, as Airflow counts them) must be ``success`` or ``skipped``.
  A task with none there (added since) waits, unless ``ignore_first_depends_on_past`` and
  it never ran in any earlier run;
* ``wait_for_downstream`` also needs every task instance of the task's *direct* downstream
  tasks in the previous run to be ``success`` or ``skipped``.

``dags test`` keeps no history, so every run it makes is a first run and passes.

>>> from types import SimpleNamespace as T
>>> task = T(task_id="load", depends_on_past=True, wait_for_downstream=False,
...          ignore_first_depends_on_past=True, downstream_task_ids=frozenset(), start_date=None)
>>> past = PastRuns(previous=PreviousRun(None, {"load": (TI.FAILED,)}))
>>> print(past_blocker(task, past))  # doctest: +ELLIPSIS
depends_on_past is true for this task, but 1 previous task instance(s) are not in a ...
>>> past_blocker(task, PastRuns(previous=PreviousRun(None, {"load": (TI.SKIPPED,)}))) is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tradewind.states import TaskInstanceState as TI

#: States of a previous task instance that let its successor run (Airflow's).
DONE_FOR_PAST = frozenset({TI.SUCCESS, TI.SKIPPED})


@dataclass(frozen=True)
class PreviousRun:
    """The run before this one: its logical date and the states of its task instances
    (every map index) by task id, for the tasks the check needs."""

    logical_date: datetime | None
    states: Mapping[str, tuple[TI | None, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class PastRuns:
    """What the runs before this one tell ``depends_on_past``.

    ``previous`` is ``None`` when there is none (or this run has no logical date);
    ``ran_before`` names tasks with a task instance in *any* earlier run (needed only for
    tasks missing from ``previous``); ``first_in_backfill`` is true for a backfill's first
    run.
    """

    previous: PreviousRun | None = None
    ran_before: frozenset[str] = frozenset()
    first_in_backfill: bool = False


def depends_on_past(task: Any) -> bool:
    """Whether ``task`` waits on the previous run (``wait_for_downstream`` implies it)."""
    return bool(task.depends_on_past or task.wait_for_downstream)


def needed_task_ids(tasks: Any) -> set[str]:
    """Task ids whose states in the previous run the check for ``tasks`` reads."""
    out: set[str] = set()
    for task in tasks:
        if depends_on_past(task):
            out.add(task.task_id)
            if task.wait_for_downstream:
                out |= set(task.downstream_task_ids)
    return out


def _not_done(states: tuple[TI | None, ...] | None) -> int:
    return sum(1 for s in states or () if s not in DONE_FOR_PAST)


def past_blocker(
    task: Any,
    past: PastRuns,
    *,
    catchup: bool = False,
    dag_start_date: datetime | None = None,
) -> str | None:
    """Why ``task`` must wait for the previous run, or ``None`` if it need not.

    ``task`` has the SDK's names (``depends_on_past``, ``wait_for_downstream``,
    ``ignore_first_depends_on_past``, ``downstream_task_ids``, ``start_date``). ``catchup``
    and ``dag_start_date`` are the DAG's (a task's start date defaults to its DAG's).
    """
    if not depends_on_past(task):
        return None
    if past.first_in_backfill:
        return None
    previous = past.previous
    if previous is None:
        return None
    start = _task_start(task.start_date, dag_start_date)
    if catchup and start and previous.logical_date and previous.logical_date < start:
        return None
    own = previous.states.get(task.task_id)
    if not own:
        if task.ignore_first_depends_on_past and task.task_id not in past.ran_before:
            return None
        return (
            "depends_on_past is true for this task's DAG, but the previous task instance "
            "has not run yet"
        )
    unfinished = _not_done(own)
    if unfinished:
        return (
            f"depends_on_past is true for this task, but {unfinished} previous task "
            "instance(s) are not in a successful state"
        )
    if task.wait_for_downstream and any(
        _not_done(previous.states.get(d)) for d in task.downstream_task_ids
    ):
        return (
            "the tasks downstream of the previous task instance(s) haven't completed, "
            "and wait_for_downstream is True"
        )
    return None


def _task_start(task_start: datetime | None, dag_start: datetime | None) -> datetime | None:
    """The task's effective start date, as Airflow's ``DAG.add_task`` sets it (a naive task
    start date, which the SDK keeps as given, is taken as UTC here)."""
    if task_start is not None and task_start.tzinfo is None:
        task_start = task_start.replace(tzinfo=UTC)
    if task_start is None:
        return dag_start
    if dag_start is None:
        return task_start
    return max(task_start, dag_start)
