"""Task instances (one per task, map index and run), their past tries, and mapping lengths."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tradewind.db.models.base import ID_LENGTH, Base
from tradewind.db.types import UtcDateTime, new_uuid7


class _TaskInstanceColumns:
    """Columns a task instance and each of its past tries share."""

    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    map_index: Mapped[int] = mapped_column(Integer, nullable=False, default=-1)
    try_number: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_tries: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: tradewind.states.TaskInstanceState value; NULL is "no status yet".
    state: Mapped[str | None] = mapped_column(String(20))
    start_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    duration: Mapped[float | None] = mapped_column(Float)
    hostname: Mapped[str | None] = mapped_column(String(1000))
    unixname: Mapped[str | None] = mapped_column(String(1000))
    pid: Mapped[int | None] = mapped_column(Integer)
    pool: Mapped[str] = mapped_column(String(256), nullable=False, default="default_pool")
    pool_slots: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    queue: Mapped[str | None] = mapped_column(String(256))
    priority_weight: Mapped[int | None] = mapped_column(Integer)
    operator: Mapped[str | None] = mapped_column(String(1000))
    custom_operator_name: Mapped[str | None] = mapped_column(String(1000))
    queued_dttm: Mapped[datetime | None] = mapped_column(UtcDateTime)
    scheduled_dttm: Mapped[datetime | None] = mapped_column(UtcDateTime)
    queued_by_job_id: Mapped[int | None] = mapped_column(Integer)
    executor: Mapped[str | None] = mapped_column(String(1000))
    executor_config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: When an ``up_for_retry`` instance may run again.
    next_retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    rendered_map_index: Mapped[str | None] = mapped_column(String(250))
    external_executor_id: Mapped[str | None] = mapped_column(String(250))
    #: Heartbeat of the try while it runs (leases: a stale one is failed or retried).
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    dag_version_id: Mapped[int | None] = mapped_column(Integer)
    task_display_name: Mapped[str | None] = mapped_column(String(2000))
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: A deferred task's trigger, when it gives up waiting, and where it resumes (the
    #: method, and its keyword arguments in the XCom codec's text).
    trigger_id: Mapped[int | None] = mapped_column(Integer)
    trigger_timeout: Mapped[datetime | None] = mapped_column(UtcDateTime)
    next_method: Mapped[str | None] = mapped_column(String(1000))
    next_kwargs: Mapped[str | None] = mapped_column(Text)


class TaskInstance(_TaskInstanceColumns, Base):
    """The current try of one task instance."""

    __tablename__ = "task_instance"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid7)

    __table_args__ = (
        UniqueConstraint("dag_id", "run_id", "task_id", "map_index"),
        ForeignKeyConstraint(
            ["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"
        ),
        # Covers the scheduler's per-pass check of a run's rows (state, try, map index).
        Index(None, "dag_id", "run_id", "state", "try_number", "map_index"),
        Index(None, "state", "pool"),
        Index(None, "state", "queue"),
        # Finds the instance a trigger wakes (as Airflow's ``ti_trigger_id``).
        Index(None, "trigger_id"),
    )


class TaskInstanceHistory(_TaskInstanceColumns, Base):
    """A finished try of a task instance that was tried again (retry or clear)."""

    __tablename__ = "task_instance_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_instance_id: Mapped[str] = mapped_column(String(36), nullable=False)

    __table_args__ = (
        UniqueConstraint("dag_id", "run_id", "task_id", "map_index", "try_number"),
        ForeignKeyConstraint(
            ["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"
        ),
    )


class TaskMap(Base):
    """How many elements a pushed value had: what mapped tasks downstream expand over."""

    __tablename__ = "task_map"

    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    map_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(512), primary_key=True, default="return_value")
    length: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (
        ForeignKeyConstraint(
            ["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"
        ),
    )
