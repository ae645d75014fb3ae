"""DAG runs, and backfills (which own a set of runs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tradewind.db.models.base import ID_LENGTH, Base
from tradewind.db.types import UtcDateTime


class DagRun(Base):
    """One run of a DAG. ``run_id`` follows Airflow's forms (``manual__<iso>``...)."""

    __tablename__ = "dag_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("dag.dag_id", ondelete="CASCADE"), nullable=False
    )
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    logical_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    run_after: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    data_interval_start: Mapped[datetime | None] = mapped_column(UtcDateTime)
    data_interval_end: Mapped[datetime | None] = mapped_column(UtcDateTime)
    queued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    start_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: queued, running, success, failed (tradewind.states.DagRunState).
    state: Mapped[str] = mapped_column(String(50), nullable=False)
    #: manual, scheduled, backfill, asset_triggered.
    run_type: Mapped[str] = mapped_column(String(50), nullable=False)
    triggered_by: Mapped[str | None] = mapped_column(String(50))
    #: Who triggered a manual run (the API user, or the CLI's OS user).
    triggering_user_name: Mapped[str | None] = mapped_column(String(512))
    conf: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    note: Mapped[str | None] = mapped_column(Text)
    #: The serialized DAG version this run follows.
    dag_version_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("serialized_dag.id", ondelete="SET NULL")
    )
    backfill_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("backfill.id", ondelete="CASCADE")
    )
    clear_number: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_scheduling_decision: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("dag_id", "run_id"),
        UniqueConstraint("dag_id", "logical_date"),
        Index(None, "state", "dag_id"),
        Index(None, "dag_id", "run_after"),
    )


class Backfill(Base):
    """``tradewind backfill create``: runs for past intervals, created in order."""

    __tablename__ = "backfill"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("dag.dag_id", ondelete="CASCADE"), nullable=False
    )
    from_date: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    to_date: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    dag_run_conf: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    #: none, failed, completed: which existing runs are run again.
    reprocess_behavior: Mapped[str] = mapped_column(String(50), nullable=False, default="none")
    max_active_runs: Mapped[int] = mapped_column(Integer, nullable=False, default=10)
    run_backwards: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class BackfillDagRun(Base):
    """Each logical date a backfill covers: the run made for it, or why none was."""

    __tablename__ = "backfill_dag_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    backfill_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("backfill.id", ondelete="CASCADE"), nullable=False
    )
    dag_run_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("dag_run.id", ondelete="SET NULL")
    )
    exception_reason: Mapped[str | None] = mapped_column(String(250))
    logical_date: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    sort_ordinal: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (UniqueConstraint("backfill_id", "logical_date"),)
