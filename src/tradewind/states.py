"""States of task instances and DAG runs, and the transitions allowed between them.

The names and string values are Airflow's, so API clients and users see the same words.
Every state change in Tradewind goes through :func:`check_transition`, so an illegal move
(say, ``success`` back to ``running`` without a clear) is a bug that raises, not data drift.
"""

from __future__ import annotations

from enum import StrEnum


class TaskInstanceState(StrEnum):
    """State of one try-able unit: one task (or one map index of a mapped task) in one run."""

    REMOVED = "removed"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    RESTARTING = "restarting"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    UP_FOR_RESCHEDULE = "up_for_reschedule"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    DEFERRED = "deferred"

    def __str__(self) -> str:
        return self.value


class DagRunState(StrEnum):
    """State of one DAG run."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


TI = TaskInstanceState

#: States after which a task instance does nothing more in its run (until cleared).
FINISHED_STATES: frozenset[TaskInstanceState] = frozenset(
    {TI.SUCCESS, TI.FAILED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED}
)
#: Finished states that count as a failure when a leaf ends in them.
FAILED_STATES: frozenset[TaskInstanceState] = frozenset({TI.FAILED, TI.UPSTREAM_FAILED})
#: Finished states that count as success for the run.
SUCCESS_STATES: frozenset[TaskInstanceState] = frozenset({TI.SUCCESS, TI.SKIPPED})

# ``None`` is Airflow's "no status yet" (a task instance that was created but not scheduled).
_TI_TRANSITIONS: dict[TaskInstanceState | None, frozenset[TaskInstanceState]] = {
    None: frozenset(
        {TI.SCHEDULED, TI.QUEUED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED, TI.SUCCESS, TI.FAILED}
    ),
    # SCHEDULED -> DEFERRED: a task with start_from_trigger waits in the triggerer first.
    TI.SCHEDULED: frozenset(
        {TI.QUEUED, TI.DEFERRED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED, TI.FAILED}
    ),
    TI.QUEUED: frozenset({TI.RUNNING, TI.SCHEDULED, TI.FAILED, TI.SKIPPED, TI.UP_FOR_RETRY}),
    TI.RUNNING: frozenset(
        {
            TI.SUCCESS,
            TI.FAILED,
            TI.SKIPPED,
            TI.UP_FOR_RETRY,
            TI.UP_FOR_RESCHEDULE,
            TI.DEFERRED,
            TI.RESTARTING,
        }
    ),
    TI.UP_FOR_RETRY: frozenset({TI.SCHEDULED, TI.QUEUED, TI.FAILED, TI.SKIPPED}),
    TI.UP_FOR_RESCHEDULE: frozenset({TI.SCHEDULED, TI.QUEUED, TI.FAILED, TI.SKIPPED}),
    TI.DEFERRED: frozenset({TI.SCHEDULED, TI.QUEUED, TI.FAILED, TI.SKIPPED, TI.SUCCESS}),
    TI.RESTARTING: frozenset({TI.UP_FOR_RETRY, TI.FAILED, TI.SCHEDULED}),
    TI.SUCCESS: frozenset(),
    TI.FAILED: frozenset(),
    TI.SKIPPED: frozenset(),
    TI.UPSTREAM_FAILED: frozenset(),
    TI.REMOVED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A state change that the transition table does not allow."""


def check_transition(current: TaskInstanceState | None, new: TaskInstanceState) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> new`` is allowed.

    Finished states only leave through a clear, which resets to ``None`` and is not a
    transition checked here.

    >>> check_transition(None, TaskInstanceState.SCHEDULED)
    """
    if new not in _TI_TRANSITIONS[current]:
        raise IllegalTransition(f"task instance cannot move from {current} to {new}")
