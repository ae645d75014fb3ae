"""Another DAG's runs and task instances at some logical dates, for ``ExternalTaskSensor``.

A sensor asks this every poke, for as long as it waits, so each answer is two small
indexed reads: the DAG's row with the id of its latest serialized version (primary key, and
the ``(dag_id, version_number)`` unique index), then one grouped query over
``dag_run (dag_id, logical_date)`` joined to ``task_instance (dag_id, run_id, ...)`` that
returns a count per run, task and state rather than a row per task instance (a mapped task
may have thousands).

>>> from datetime import UTC, datetime
>>> from sqlalchemy import create_engine
>>> from tradewind.db.models import Base
>>> engine = create_engine("sqlite://")
>>> Base.metadata.create_all(engine)
>>> with engine.connect() as conn:
...     dag_presence(conn, "etl"), states_at(conn, "etl", [datetime(2024, 1, 1, tzinfo=UTC)], None)
(('missing', None), ([None], [{}]))
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Connection, and_, func, select
from sqlalchemy.orm import Session

from tradewind.db.models import DagModel, DagRun, SerializedDagModel, TaskInstance

Bind = Session | Connection
DagPresence = Literal["active", "deleted", "missing"]
#: ``{task_id: {state: count}}``; ``None`` is the state of an instance not scheduled yet.
TaskCounts = dict[str, dict[str | None, int]]


def dag_presence(bind: Bind, dag_id: str) -> tuple[DagPresence, int | None]:
    """Whether ``dag_id`` is known (``active``, ``deleted``: its file no longer defines it,
    or ``missing``) and the id of its latest serialized version, in one query."""
    latest = (
        select(SerializedDagModel.id)
        .where(SerializedDagModel.dag_id == dag_id)
        .order_by(SerializedDagModel.version_number.desc())
        .limit(1)
        .scalar_subquery()
    )
    row = bind.execute(select(DagModel.is_stale, latest).where(DagModel.dag_id == dag_id)).first()
    if row is None:
        return "missing", None
    stale, version_id = row
    return ("deleted" if stale else "active"), version_id


def states_at(
    bind: Bind,
    dag_id: str,
    logical_dates: Sequence[datetime],
    task_ids: Collection[str] | None,
) -> tuple[list[str | None], list[TaskCounts]]:
    """For each of ``logical_dates`` (in order): the state of ``dag_id``'s run at that date
    (``None`` without one), and ``{task_id: {state: count}}`` of the task instances of
    ``task_ids`` in it (every map index counts).
    Without ``task_ids`` only the runs are read."""
    if not logical_dates:
        return [], []
    dates = sorted({when.astimezone(UTC) for when in logical_dates})
    runs: dict[datetime | None, str] = {}
    tasks: dict[datetime | None, TaskCounts] = {}
    if not task_ids:
        only_runs = select(DagRun.logical_date, DagRun.state).where(
            DagRun.dag_id == dag_id, DagRun.logical_date.in_(dates)
        )
        runs.update((when, state) for when, state in bind.execute(only_runs))
    else:
        # LEFT JOIN: a run none of whose task instances is asked for still gives its state.
        joined = and_(
            TaskInstance.dag_id == DagRun.dag_id,
            TaskInstance.run_id == DagRun.run_id,
            TaskInstance.task_id.in_(sorted(set(task_ids))),
        )
        grouped = (
            select(
                DagRun.logical_date,
                DagRun.state,
                TaskInstance.task_id,
                TaskInstance.state,
                func.count(TaskInstance.task_id),
            )
            .select_from(DagRun)
            .outerjoin(TaskInstance, joined)
            .where(DagRun.dag_id == dag_id, DagRun.logical_date.in_(dates))
            .group_by(DagRun.logical_date, DagRun.state, TaskInstance.task_id, TaskInstance.state)
        )
        for when, run_state, task_id, ti_state, count in bind.execute(grouped):
            runs[when] = run_state
            # task_id is NULL (typed as str) on the row of a run with none of the tasks.
            if task_id is not None:
                by_state = tasks.setdefault(when, {}).setdefault(task_id, {})
                by_state[ti_state] = int(count)
    ordered = [when.astimezone(UTC) for when in logical_dates]
    return [runs.get(when) for when in ordered], [dict(tasks.get(when, {})) for when in ordered]
