"""Backfills in the metadata DB: create (or dry-run) one, list, pause, unpause, cancel.

:func:`create_backfill` writes, in the caller's one transaction, the ``backfill`` row, a
``backfill_dag_run`` row per logical date (in run order: ``sort_ordinal``) and the runs: new
``backfill`` runs in ``queued`` state, and the existing finished runs its reprocess behaviour
re-runs, cleared back to ``queued`` and handed to the backfill. What it plans is decided by
:mod:`tradewind.scheduler.backfill`; a bad request raises before anything is written.

The scheduler starts a backfill's queued runs in ``sort_ordinal`` order within the
backfill's own ``max_active_runs`` (its runs do not count against the DAG's), and not while
the backfill or the DAG is paused. A backfill is complete when none of its runs is queued or
running; the scheduler records that with :func:`mark_completed` in each pass where a run
ended (Airflow's does it on a timer), and only one backfill per DAG may be incomplete at a
time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from tradewind.db.dialects import for_update_skip_locked
from tradewind.db.models import Backfill, BackfillDagRun, DagModel, DagRun, TaskInstance
from tradewind.db.queries import dagruns
from tradewind.db.queries.clear import clear_task_instances
from tradewind.db.queries.dags import latest_version
from tradewind.exceptions import TradewindException, UnknownDagError
from tradewind.scheduler.backfill import (
    IN_FLIGHT,
    BackfillAction,
    ExistingRun,
    PlannedRun,
    ReprocessBehavior,
    check_backfill_request,
    plan_backfill,
)
from tradewind.states import DagRunState
from tradewind.timetables.backfill import BackfillError, check_backfill, iter_backfill_runs

_ACTIVE = [DagRunState.QUEUED.value, DagRunState.RUNNING.value]
_FINISHED = [DagRunState.SUCCESS.value, DagRunState.FAILED.value]


class AlreadyRunningBackfill(TradewindException):
    """The DAG already has a backfill that is not complete (one at a time, as in Airflow)."""


#: The most runs one backfill made through the API may cover: runs are made one by one in
#: the request (about 2.5 ms each on PostgreSQL), holding the DAG's row locked, so a wider
#: range would keep a server thread and a database connection busy for long. Split it.
MAX_API_BACKFILL_RUNS = 1_000


class TooManyBackfillRuns(BackfillError):
    """The range holds more intervals than the caller allows in one backfill."""


class NoBackfillRunsToCreate(TradewindException):
    """The range holds no interval of the schedule that has ended."""


class BackfillNotFound(TradewindException):
    """No backfill with that id."""


class BackfillCompleted(TradewindException):
    """The backfill is complete (or cancelled): it cannot be paused, unpaused or cancelled."""


def _now() -> datetime:
    return datetime.now(UTC)


def _load_dag(session: Session, dag_id: str) -> tuple[int, Any]:
    """``(version id, serialized DAG)`` of the latest version of ``dag_id``."""
    from tradewind.serialization.dag_json import SerializedDAG

    version = latest_version(session, dag_id) if session.get(DagModel, dag_id) else None
    if version is None:
        raise UnknownDagError(
            f"DAG {dag_id!r} not found in the metadata database (is the DAG processor running "
            "on its folder? 'tradewind dag-processor --once' processes it now)"
        )
    return version.id, SerializedDAG.from_dict(version.data)


def _existing_runs(
    session: Session, dag_id: str, dates: list[datetime]
) -> dict[datetime, ExistingRun]:
    """The DAG's runs at ``dates``, by logical date (one ranged query, filtered here)."""
    if not dates:
        return {}
    wanted = set(dates)
    rows = session.execute(
        select(DagRun.id, DagRun.run_id, DagRun.state, DagRun.logical_date).where(
            DagRun.dag_id == dag_id,
            DagRun.logical_date >= min(dates),
            DagRun.logical_date <= max(dates),
        )
    ).all()
    return {
        logical: ExistingRun(run_pk, run_id, state)
        for run_pk, run_id, state, logical in rows
        if logical in wanted
    }


def plan(
    session: Session,
    dag_id: str,
    *,
    from_date: datetime,
    to_date: datetime,
    reprocess_behavior: ReprocessBehavior | str | None = None,
    run_backwards: bool = False,
    dag_run_conf: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    max_runs: int | None = None,
) -> tuple[int, Any, list[PlannedRun]]:
    """Check the request and say what a backfill would do: ``(version id, DAG, plan)``.

    Writes nothing (``--dry-run``). Raises :class:`~tradewind.exceptions.UnknownDagError`,
    :class:`BackfillError` (schedule, dates, ``depends_on_past``; with ``max_runs``,
    :class:`TooManyBackfillRuns` for a range of more intervals, found without walking it
    all) or :class:`~tradewind.exceptions.ParamValidationError` (conf).
    """
    version_id, dag = _load_dag(session, dag_id)
    if not dag.timetable.periodic:
        raise BackfillError(
            f"DAG {dag_id!r} has a non-periodic schedule ({dag.timetable.summary}) that does "
            "not support backfills"
        )
    check_backfill(dag.timetable, from_date, to_date, now=now)
    check_backfill_request(
        dag,
        reverse=run_backwards,
        reprocess_behavior=reprocess_behavior,
        dag_run_conf=dag_run_conf,
    )
    if max_runs is not None:
        _check_size(dag.timetable, from_date, to_date, now, max_runs)
    runs = iter_backfill_runs(
        dag.timetable, from_date, to_date, reverse=run_backwards, now=now, check=False
    )
    existing = _existing_runs(session, dag_id, [r.logical_date for r in runs])
    behavior = ReprocessBehavior(reprocess_behavior or ReprocessBehavior.NONE)
    return version_id, dag, plan_backfill(runs, existing, behavior)


def _check_size(
    timetable: Any, from_date: datetime, to_date: datetime, now: datetime | None, max_runs: int
) -> None:
    """Raise :class:`TooManyBackfillRuns` when the range holds more than ``max_runs``
    intervals, walking at most ``max_runs + 1`` of them."""
    from itertools import islice

    from tradewind.timetables.backfill import _walk  # lazy: stops where we stop asking
    from tradewind.timetables.base import current_time

    walked = islice(_walk(timetable, from_date, to_date, current_time(now)), max_runs + 1)
    if sum(1 for _ in walked) > max_runs:
        raise TooManyBackfillRuns(
            f"the range holds more than {max_runs} intervals of the schedule; a backfill may "
            "make at most that many runs: split the range"
        )


def create_backfill(
    session: Session,
    dag_id: str,
    *,
    from_date: datetime,
    to_date: datetime,
    reprocess_behavior: ReprocessBehavior | str | None = None,
    max_active_runs: int = 10,
    run_backwards: bool = False,
    dag_run_conf: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    max_runs: int | None = None,
) -> tuple[Backfill, list[PlannedRun]]:
    """Create a backfill and its runs; returns it and what was done for each date.

    Raises as :func:`plan` does (``max_runs`` goes to it), and also
    :class:`AlreadyRunningBackfill` and :class:`NoBackfillRunsToCreate`. The returned plan
    is what happened: a run that changed since it was planned (another scheduler holds it,
    or it started again) is skipped as ``"in flight"``, as in Airflow.
    """
    if max_active_runs < 1:
        raise BackfillError(f"max_active_runs must be at least 1, not {max_active_runs}")
    now = now or _now()
    # Serialize backfill creation per DAG (PostgreSQL); SQLite has a single writer anyway.
    session.execute(select(DagModel.dag_id).where(DagModel.dag_id == dag_id).with_for_update())
    mark_completed(session, now)
    version_id, dag, planned = plan(
        session,
        dag_id,
        from_date=from_date,
        to_date=to_date,
        reprocess_behavior=reprocess_behavior,
        run_backwards=run_backwards,
        dag_run_conf=dag_run_conf,
        now=now,
        max_runs=max_runs,
    )
    active = session.scalar(
        select(Backfill.id).where(Backfill.dag_id == dag_id, Backfill.completed_at.is_(None))
    )
    if active is not None:
        raise AlreadyRunningBackfill(
            f"Another backfill ({active}) is running for DAG {dag_id!r}. There can be only one "
            "running backfill per DAG: wait for it, or 'tradewind backfill cancel "
            f"{active}'."
        )
    if not planned:
        raise NoBackfillRunsToCreate(
            f"No runs to create for DAG {dag_id!r} in the range "
            f"[{from_date.isoformat()}, {to_date.isoformat()}]"
        )
    conf = dict(dag_run_conf) if dag_run_conf is not None else None
    backfill = Backfill(
        dag_id=dag_id,
        from_date=from_date,
        to_date=to_date,
        dag_run_conf=conf or {},
        is_paused=False,
        reprocess_behavior=ReprocessBehavior(reprocess_behavior or "none").value,
        max_active_runs=max_active_runs,
        run_backwards=run_backwards,
        created_at=now,
        updated_at=now,
    )
    session.add(backfill)
    session.flush()
    done: list[PlannedRun] = []
    for item in planned:
        run_pk: int | None = None
        if item.action is BackfillAction.CREATE:
            run_pk = _create_run(session, dag, version_id, backfill.id, item, conf)
        elif item.action is BackfillAction.CLEAR:
            run_pk = _clear_run(session, dag, backfill.id, item, conf, now)
        if run_pk is None and item.action is not BackfillAction.SKIP:
            item = dataclasses.replace(item, action=BackfillAction.SKIP, reason=IN_FLIGHT)
        session.add(
            BackfillDagRun(
                backfill_id=backfill.id,
                dag_run_id=run_pk,
                exception_reason=item.reason,
                logical_date=item.logical_date,
                sort_ordinal=item.sort_ordinal,
            )
        )
        done.append(item)
    if all(item.action is BackfillAction.SKIP for item in done):
        backfill.completed_at = now  # nothing to wait for
    session.flush()
    return backfill, done


def _create_run(
    session: Session,
    dag: Any,
    version_id: int,
    backfill_id: int,
    item: PlannedRun,
    conf: dict[str, Any] | None,
) -> int | None:
    try:
        run = dagruns.create_dag_run(
            session,
            dag,
            run_id=item.run_id,
            run_type="backfill",
            run_after=item.run_after,
            logical_date=item.logical_date,
            data_interval=(item.data_interval.start, item.data_interval.end),
            conf=conf,
            triggered_by="backfill",
            dag_version_id=version_id,
            backfill_id=backfill_id,
        )
    except dagruns.DuplicateRunError:
        return None  # made meanwhile (Airflow: IntegrityError -> "in flight")
    return run.id


def _clear_run(
    session: Session,
    dag: Any,
    backfill_id: int,
    item: PlannedRun,
    conf: dict[str, Any] | None,
    now: datetime,
) -> int | None:
    """Run a finished run again for the backfill: its task instances cleared (each try kept
    in the history, retries counted afresh as Airflow's clear does), the run queued and
    handed to the backfill. ``None`` if the run is locked or no longer finished."""
    assert item.existing is not None
    run_pk = item.existing.id
    query = select(DagRun.id).where(DagRun.id == run_pk)
    if session.execute(for_update_skip_locked(query, session)).scalar() is None:
        return None
    values: dict[str, Any] = {
        "state": DagRunState.QUEUED.value,
        "run_type": "backfill",
        "triggered_by": "backfill",
        "backfill_id": backfill_id,
        "clear_number": DagRun.clear_number + 1,
        "queued_at": now,
        "start_date": None,
        "end_date": None,
        "last_scheduling_decision": None,
        "updated_at": now,
    }
    if conf is not None:
        values["conf"] = conf
    moved = session.execute(
        update(DagRun)
        .where(DagRun.id == run_pk, DagRun.state.in_(_FINISHED))
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not moved:
        return None
    run_id = item.existing.run_id
    clear_task_instances(session, dag.dag_id, list(dag.task_dict), run_id=run_id)
    by_retries: dict[int, list[str]] = {}
    for task_id, task in dag.task_dict.items():
        by_retries.setdefault(task.retries, []).append(task_id)
    for retries, task_ids in by_retries.items():
        session.execute(
            update(TaskInstance)
            .where(
                TaskInstance.dag_id == dag.dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id.in_(task_ids),
                TaskInstance.state.is_(None),
            )
            .values(max_tries=TaskInstance.try_number + retries)
            .execution_options(synchronize_session=False)
        )
    return run_pk


def mark_completed(session: Session, now: datetime | None = None) -> int:
    """Record as complete every backfill none of whose runs is queued or running; returns
    how many. The scheduler calls it in a pass where a run ended, and on every sweep.

    A backfill another transaction holds (another scheduler marking it, a pause or a
    cancel) is skipped, not waited for: a scheduling pass never waits on one.
    """
    now = now or _now()
    unfinished = exists().where(DagRun.backfill_id == Backfill.id, DagRun.state.in_(_ACTIVE))
    done = select(Backfill.id).where(Backfill.completed_at.is_(None), ~unfinished)
    ids = list(session.execute(for_update_skip_locked(done, session)).scalars())
    if not ids:
        return 0
    result = session.execute(
        update(Backfill)
        .where(Backfill.id.in_(ids), Backfill.completed_at.is_(None))
        .values(completed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def list_backfills(session: Session, dag_id: str | None = None) -> list[Backfill]:
    """Backfills, newest first, optionally of one DAG."""
    query = select(Backfill).order_by(Backfill.id.desc())
    if dag_id is not None:
        query = query.where(Backfill.dag_id == dag_id)
    return list(session.execute(query).scalars())


def get_backfill(session: Session, backfill_id: int) -> Backfill:
    backfill = session.get(Backfill, backfill_id)
    if backfill is None:
        raise BackfillNotFound(f"backfill {backfill_id} not found")
    return backfill


def run_counts(session: Session, backfill_ids: list[int]) -> dict[int, dict[str, int]]:
    """``{backfill id: {run state: count}}`` of the runs each backfill owns."""
    counts: dict[int, dict[str, int]] = {b: {} for b in backfill_ids}
    if not backfill_ids:
        return counts
    rows = session.execute(
        select(DagRun.backfill_id, DagRun.state, func.count())
        .where(DagRun.backfill_id.in_(backfill_ids))
        .group_by(DagRun.backfill_id, DagRun.state)
    ).all()
    for backfill_id, state, n in rows:
        if backfill_id is not None:
            counts[backfill_id][state] = int(n)
    return counts


def _open(session: Session, backfill_id: int, now: datetime) -> Backfill:
    mark_completed(session, now)
    backfill = get_backfill(session, backfill_id)
    session.refresh(backfill)
    if backfill.completed_at is not None:
        raise BackfillCompleted(f"backfill {backfill_id} is already completed")
    return backfill


def set_paused(
    session: Session, backfill_id: int, paused: bool, now: datetime | None = None
) -> Backfill:
    """Pause (no more of its runs start; running ones go on) or unpause a backfill."""
    now = now or _now()
    backfill = _open(session, backfill_id, now)
    if bool(backfill.is_paused) != paused:
        backfill.is_paused = paused
        backfill.updated_at = now
    session.flush()
    return backfill


def cancel(session: Session, backfill_id: int, now: datetime | None = None) -> tuple[Backfill, int]:
    """Cancel a backfill as Airflow does: it is paused, its runs that have not started are
    failed, running ones finish, and it is complete. Returns it and how many runs failed."""
    now = now or _now()
    backfill = _open(session, backfill_id, now)
    backfill.is_paused = True
    owned = select(BackfillDagRun.dag_run_id).where(BackfillDagRun.backfill_id == backfill.id)
    failed = session.execute(
        update(DagRun)
        .where(DagRun.id.in_(owned), DagRun.state == DagRunState.QUEUED.value)
        .values(state=DagRunState.FAILED.value, end_date=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    backfill.completed_at = now
    backfill.updated_at = now
    session.flush()
    return backfill, int(failed)


__all__ = [
    "MAX_API_BACKFILL_RUNS",
    "AlreadyRunningBackfill",
    "BackfillCompleted",
    "BackfillNotFound",
    "NoBackfillRunsToCreate",
    "TooManyBackfillRuns",
    "cancel",
    "create_backfill",
    "get_backfill",
    "list_backfills",
    "mark_completed",
    "plan",
    "run_counts",
    "set_paused",
]
