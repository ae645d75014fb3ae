"""Planning a backfill: which logical dates get a new run, which existing runs run again, and
which are left alone and why. Pure: no database, no clock but the one passed in.

The rules are Airflow 3.3.2's (``airflow/models/backfill.py``). The dates come from
:func:`~tradewind.timetables.backfill.iter_backfill_runs`; for each one, in that order
(``sort_ordinal`` 1, 2, ...):

- no run has that logical date: a new ``backfill`` run is **created**;
- a run is still queued or running: it is never touched (``"in flight"``);
- a run has finished: with ``reprocess_behavior`` ``none`` it is kept (``"already exists"``);
  with ``failed`` a failed run is **cleared** and runs again, a successful one is kept; with
  ``completed`` every finished run is cleared and runs again.

A DAG with ``depends_on_past`` tasks cannot be backfilled backwards, and must say which
finished runs to re-run (``failed`` or ``completed``), since a skipped date would leave a hole
its successors wait on.

>>> from datetime import UTC, datetime
>>> from tradewind.timetables import CronDataIntervalTimetable, iter_backfill_runs
>>> dates = iter_backfill_runs(
...     CronDataIntervalTimetable("@daily", timezone="UTC"),
...     datetime(2024, 1, 1, tzinfo=UTC),
...     datetime(2024, 1, 3, tzinfo=UTC),
...     now=datetime(2024, 6, 1, tzinfo=UTC),
... )
>>> existing = {
...     datetime(2024, 1, 1, tzinfo=UTC): ExistingRun(1, "scheduled__2024-01-02", "failed"),
...     datetime(2024, 1, 2, tzinfo=UTC): ExistingRun(2, "scheduled__2024-01-03", "running"),
... }
>>> for p in plan_backfill(dates, existing, ReprocessBehavior.FAILED):
...     print(p.sort_ordinal, p.logical_date.day, p.action, p.reason)
1 1 clear None
2 2 skip in flight
3 3 create None
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tradewind.states import DagRunState
from tradewind.timetables.backfill import BackfillError
from tradewind.timetables.base import DataInterval, NextRun
from tradewind.timetables.run_id import generate_run_id

#: ``BackfillDagRun.exception_reason`` values: Airflow's words.
IN_FLIGHT = "in flight"
ALREADY_EXISTS = "already exists"

_FINISHED = frozenset({DagRunState.SUCCESS.value, DagRunState.FAILED.value})


class ReprocessBehavior(StrEnum):
    """Which finished runs a backfill runs again (``--reprocess-behavior``)."""

    NONE = "none"
    FAILED = "failed"
    COMPLETED = "completed"


class BackfillAction(StrEnum):
    """What a backfill does for one logical date."""

    CREATE = "create"
    CLEAR = "clear"
    SKIP = "skip"


@dataclass(frozen=True)
class ExistingRun:
    """The run a DAG already has for a logical date, as far as planning needs it."""

    id: int
    run_id: str
    state: str


@dataclass(frozen=True)
class PlannedRun:
    """One logical date of a backfill and what happens to it.

    ``run_id`` is the new run's id for :attr:`BackfillAction.CREATE`, else the existing run's.
    """

    sort_ordinal: int
    logical_date: datetime
    data_interval: DataInterval
    run_after: datetime
    action: BackfillAction
    run_id: str
    existing: ExistingRun | None = None
    reason: str | None = None


def skip_reason(state: str, behavior: ReprocessBehavior) -> str | None:
    """Why an existing run in ``state`` is left alone, or ``None`` when it runs again.

    >>> skip_reason("running", ReprocessBehavior.COMPLETED)
    'in flight'
    >>> skip_reason("success", ReprocessBehavior.FAILED), skip_reason("failed", "failed")
    ('already exists', None)
    """
    behavior = ReprocessBehavior(behavior)
    if state not in _FINISHED:
        return IN_FLIGHT
    if behavior is ReprocessBehavior.NONE:
        return ALREADY_EXISTS
    if behavior is ReprocessBehavior.FAILED and state != DagRunState.FAILED.value:
        return ALREADY_EXISTS
    return None


def check_backfill_request(
    dag: Any,
    *,
    reverse: bool,
    reprocess_behavior: ReprocessBehavior | str | None,
    dag_run_conf: Mapping[str, Any] | None = None,
) -> None:
    """Raise :class:`BackfillError` for what Airflow refuses about this DAG and these options.

    ``dag`` is any DAG-like object (``tasks`` with ``depends_on_past``, ``params``). A conf
    that fails the DAG's params raises its :class:`~tradewind.exceptions.ParamValidationError`.
    """
    if any(task.depends_on_past for task in dag.tasks):
        if reverse:
            raise BackfillError(
                "Backfill cannot be run in reverse when the DAG has tasks where "
                "depends_on_past=True."
            )
        if reprocess_behavior is None or ReprocessBehavior(reprocess_behavior) is (
            ReprocessBehavior.NONE
        ):
            raise BackfillError(
                "DAG has tasks for which depends_on_past=True. You must set reprocess "
                "behavior to reprocess completed or reprocess failed "
                "(--reprocess-behavior completed|failed)."
            )
    dag.params.resolve(dict(dag_run_conf or {}))


def plan_backfill(
    runs: Iterable[NextRun],
    existing: Mapping[datetime, ExistingRun],
    reprocess_behavior: ReprocessBehavior | str,
) -> list[PlannedRun]:
    """What happens to each of ``runs`` (in order) given the runs that already exist,
    keyed by logical date."""
    behavior = ReprocessBehavior(reprocess_behavior)
    plan: list[PlannedRun] = []
    for ordinal, run in enumerate(runs, start=1):
        found = existing.get(run.logical_date)
        if found is None:
            action, run_id, reason = (
                BackfillAction.CREATE,
                generate_run_id("backfill", run.logical_date, run.run_after),
                None,
            )
        else:
            reason = skip_reason(found.state, behavior)
            action = BackfillAction.SKIP if reason else BackfillAction.CLEAR
            run_id = found.run_id
        plan.append(
            PlannedRun(
                sort_ordinal=ordinal,
                logical_date=run.logical_date,
                data_interval=run.data_interval,
                run_after=run.run_after,
                action=action,
                run_id=run_id,
                existing=found,
                reason=reason,
            )
        )
    return plan


def summarize(plan: Sequence[PlannedRun]) -> dict[BackfillAction, int]:
    """How many dates each action covers.

    >>> {str(action): n for action, n in summarize([]).items()}
    {'create': 0, 'clear': 0, 'skip': 0}
    """
    counts = dict.fromkeys(BackfillAction, 0)
    for item in plan:
        counts[item.action] += 1
    return counts


__all__ = [
    "ALREADY_EXISTS",
    "IN_FLIGHT",
    "BackfillAction",
    "ExistingRun",
    "PlannedRun",
    "ReprocessBehavior",
    "check_backfill_request",
    "plan_backfill",
    "skip_reason",
    "summarize",
]
