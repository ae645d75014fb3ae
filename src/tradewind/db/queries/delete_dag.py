"""Deleting a DAG and every trace of it, in one transaction.

Rows that reference the DAG by foreign key go with it (``ON DELETE CASCADE``: versions,
code, tags, runs, task instances and their tries, task maps, XCom, backfills); rows that do
not (import errors of its file, the audit log) are deleted here explicitly. Counts are taken
first, so the caller can say what went. Log files and XCom stored outside the database are
the caller's to remove after the commit.

:func:`delete_dag_run` does the same for one run.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tradewind.db.models import (
    DagModel,
    DagRun,
    ImportError_,
    Log,
    SerializedDagModel,
    TaskInstance,
    TaskInstanceHistory,
    TaskReschedule,
    Trigger,
    XComRow,
)
from tradewind.db.queries import xcom as xcom_queries
from tradewind.xcom.backend import XComResult


def delete_dag(session: Session, dag_id: str) -> dict[str, int]:
    """Delete ``dag_id`` everywhere; returns how many rows of each kind were removed."""

    def count(model: Any) -> int:
        query = select(func.count()).select_from(model).where(model.dag_id == dag_id)
        return int(session.execute(query).scalar_one())

    counts = {
        "runs": count(DagRun),
        "task instances": count(TaskInstance),
        "past tries": count(TaskInstanceHistory),
        "XCom values": count(XComRow),
        "versions": count(SerializedDagModel),
        "audit rows": count(Log),
    }
    dag = session.get(DagModel, dag_id)
    fileloc = dag.fileloc if dag is not None else None
    session.execute(delete(Log).where(Log.dag_id == dag_id))
    _delete_waits(session, TaskInstance.dag_id == dag_id)
    # Children first, so databases without enforced cascades (or a lagging SQLite pragma)
    # still end with nothing left behind.
    for model in (XComRow, TaskInstanceHistory, TaskInstance, DagRun):
        session.execute(delete(model).where(model.dag_id == dag_id))
    session.execute(delete(DagModel).where(DagModel.dag_id == dag_id))
    if fileloc:
        others = session.execute(
            select(func.count()).select_from(DagModel).where(DagModel.fileloc == fileloc)
        ).scalar_one()
        if not others:
            counts["import errors"] = int(
                session.execute(
                    delete(ImportError_).where(ImportError_.filename == fileloc)
                ).rowcount  # type: ignore[attr-defined]
            )
    return counts


def delete_dag_run(
    session: Session, dag_id: str, run_id: str, *, xcom_prefix: bytes | None = None
) -> tuple[dict[str, int], list[XComResult]]:
    """Delete one run with its task instances, their tries and XCom; how many rows of each
    kind went, and the deleted XCom rows whose value starts with ``xcom_prefix`` (all of
    them when ``None``), for the backend to purge what they stored after the commit.

    Raises ``KeyError`` when the DAG has no such run.
    """
    run = session.execute(
        select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
    ).first()
    if run is None:
        raise KeyError(f"DAG {dag_id!r} has no run {run_id!r}")
    of_run = (XComRow.dag_id == dag_id) & (XComRow.run_id == run_id)
    stored = xcom_queries.rows_where(session.connection(), of_run, prefix=xcom_prefix)
    counts: dict[str, int] = {}
    _delete_waits(session, (TaskInstance.dag_id == dag_id) & (TaskInstance.run_id == run_id))
    for model, what in (
        (XComRow, "XCom values"),
        (TaskInstanceHistory, "past tries"),
        (TaskInstance, "task instances"),
        (DagRun, "runs"),
    ):
        result = session.execute(
            delete(model).where(model.dag_id == dag_id, model.run_id == run_id)
        )
        counts[what] = int(result.rowcount)  # type: ignore[attr-defined]
    return counts, stored


def _delete_waits(session: Session, of_instances: Any) -> None:
    """The triggers and reschedule records of the task instances ``of_instances`` selects
    (neither has the DAG's id to delete it by)."""
    ids = select(TaskInstance.id).where(of_instances)
    session.execute(delete(TaskReschedule).where(TaskReschedule.ti_id.in_(ids)))
    waited_for = select(TaskInstance.trigger_id).where(
        of_instances, TaskInstance.trigger_id.is_not(None)
    )
    session.execute(delete(Trigger).where(Trigger.id.in_(waited_for)))


def has_running_tasks(session: Session, dag_id: str) -> bool:
    """Whether a task instance of ``dag_id`` is running (deleting it then is refused, as
    Airflow does: the task would report to rows that are gone)."""
    query = (
        select(TaskInstance.id)
        .where(TaskInstance.dag_id == dag_id, TaskInstance.state == "running")
        .limit(1)
    )
    return session.execute(query).first() is not None
