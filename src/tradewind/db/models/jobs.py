"""Service processes' heartbeats, DAG import errors, and the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tradewind.db.models.base import ID_LENGTH, Base
from tradewind.db.types import UtcDateTime


class Job(Base):
    """A running service process (scheduler, DAG processor, triggerer) and its heartbeat."""

    __tablename__ = "job"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: SchedulerJob, DagProcessorJob, TriggererJob (Airflow's names).
    job_type: Mapped[str] = mapped_column(String(30), nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    hostname: Mapped[str | None] = mapped_column(String(500))
    pid: Mapped[int | None] = mapped_column(Integer)
    executor_class: Mapped[str | None] = mapped_column(String(500))
    start_date: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    end_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    latest_heartbeat: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    __table_args__ = (Index(None, "job_type", "state", "latest_heartbeat"),)


class ImportError_(Base):
    """A DAG file that failed to load, with its traceback."""

    __tablename__ = "import_error"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(String(2000), nullable=False, unique=True)
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    stacktrace: Mapped[str] = mapped_column(Text, nullable=False)


class Log(Base):
    """The audit log ("event log"): who did what, to which DAG, run or task, and when."""

    __tablename__ = "log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dttm: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    event: Mapped[str] = mapped_column(String(60), nullable=False)
    dag_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    run_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    task_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    map_index: Mapped[int | None] = mapped_column(Integer)
    try_number: Mapped[int | None] = mapped_column(Integer)
    logical_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    owner: Mapped[str | None] = mapped_column(String(500))
    extra: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index(None, "dag_id", "dttm"), Index(None, "dttm"))
