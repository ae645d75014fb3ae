"""Choosing what the API's ``clearTaskInstances`` reaches (which runs), and clearing it with
:mod:`tradewind.db.queries.clear` (the one clear the CLI uses too), whose dry run lists
exactly what the real clear changes.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tradewind.db.models import DagRun
from tradewind.db.queries.clear import clear_task_instances, clearable_task_instances
from tradewind.db.queries.ti_state import ScopeError


def runs_to_clear(
    session: Session,
    dag_id: str,
    run: DagRun | None,
    start: datetime | None,
    end: datetime | None,
    *,
    past: bool,
    future: bool,
) -> list[str] | None:
    """The runs a clear reaches, as Airflow picks them: ``run`` alone, or with ``past`` /
    ``future`` every run up to / from its logical date; without a run, those with a logical
    date in ``[start, end]`` (``past`` / ``future`` drop a bound); None is every run."""
    if run is not None:
        if not (past or future):
            return [run.run_id]
        if run.logical_date is None:
            raise ScopeError(
                "Cannot use include_past or include_future with no logical_date (e.g. "
                "manually or asset-triggered)."
            )
        start = end = run.logical_date
    return runs_between(session, dag_id, None if past else start, None if future else end)


def runs_between(
    session: Session, dag_id: str, start: datetime | None, end: datetime | None
) -> list[str] | None:
    """Run ids of ``dag_id`` with a logical date in ``[start, end]``; None (every run) when
    neither bound is given."""
    if start is None and end is None:
        return None
    query = select(DagRun.run_id).where(DagRun.dag_id == dag_id)
    if start is not None:
        query = query.where(DagRun.logical_date >= start)
    if end is not None:
        query = query.where(DagRun.logical_date <= end)
    return sorted(session.scalars(query))


def candidates(
    session: Session,
    dag_id: str,
    task_ids: Collection[str],
    run_ids: Collection[str] | None,
    *,
    only_failed: bool,
) -> list[tuple[str, str]]:
    """``(id, run_id)`` of the instances a clear of ``task_ids`` in ``run_ids`` (None: every
    run) resets."""
    if not task_ids:
        return []
    scopes: list[str | None] = [None] if run_ids is None else [*sorted(set(run_ids))]
    return [
        (ti.id, ti.run_id)
        for run_id in scopes
        for ti in clearable_task_instances(
            session, dag_id, task_ids, run_id=run_id, only_failed=only_failed
        )
    ]


def clear(
    session: Session,
    dag: Any,
    task_ids: Collection[str],
    run_ids: Collection[str],
    *,
    only_failed: bool,
    reset_runs: bool = True,
) -> int:
    """Clear ``task_ids`` of ``dag`` in ``run_ids`` (those :func:`candidates` found); how
    many were reset. Each gets the task's retries again, as in Airflow; ``reset_runs`` is
    :func:`~tradewind.db.queries.clear.clear_task_instances`'."""
    if not task_ids:
        return 0
    retries = {tid: dag.task_dict[tid].retries for tid in task_ids if tid in dag.task_dict}
    return sum(
        clear_task_instances(
            session,
            dag.dag_id,
            task_ids,
            run_id=run_id,
            only_failed=only_failed,
            retries=retries,
            reset_runs=reset_runs,
        )
        for run_id in sorted(set(run_ids))
    )
