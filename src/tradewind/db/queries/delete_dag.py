"""Deleting a DAG and every trace of it, in one transaction.

Rows that reference the DAG by foreign key go with it (``ON DELETE CASCADE``: versions,
code, tags, runs, task instances and their tries, task maps, XCom, backfills); rows that do
not (import errors of its file, the audit log) are deleted here explicitly. Counts are taken
first, so the caller can say what went. Log files and XCom stored outside the database are
the caller's to remove after the commit.
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
    XComRow,
)


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
