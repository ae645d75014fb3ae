"""A DAG as the service knows it: its row, its serialized versions, its source and tags.

The scheduler and the API never import DAG files; they read ``serialized_dag``, written by
the DAG processor. Each distinct serialization (by content hash) is a new version, and runs
record the version they were created from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tradewind.db.models.base import ID_LENGTH, Base
from tradewind.db.types import UtcDateTime


class DagModel(Base):
    """One row per DAG id: what the scheduler and listings need without the full JSON."""

    __tablename__ = "dag"

    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    dag_display_name: Mapped[str | None] = mapped_column(String(2000))
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The file no longer defines this DAG (it is kept until deleted, like Airflow).
    is_stale: Mapped[bool] = mapped_column(Boolean, default=False)
    fileloc: Mapped[str | None] = mapped_column(String(2000))
    owners: Mapped[str | None] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(Text)
    timetable_summary: Mapped[str | None] = mapped_column(String(1000))
    timetable_description: Mapped[str | None] = mapped_column(String(1000))
    max_active_tasks: Mapped[int] = mapped_column(Integer, default=16)
    max_active_runs: Mapped[int] = mapped_column(Integer, default=16)
    max_consecutive_failed_dag_runs: Mapped[int] = mapped_column(Integer, default=0)
    has_task_concurrency_limits: Mapped[bool] = mapped_column(Boolean, default=False)
    last_parsed_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: The DAG's ``access_control`` (``{role: {resource: [action]}}``), NULL when it has none;
    #: here so the API can check per-DAG access without reading serialized DAGs.
    access_control: Mapped[dict[str, dict[str, list[str]]] | None] = mapped_column(JSON)
    #: When the scheduler should next create a run, and for which interval.
    next_dagrun: Mapped[datetime | None] = mapped_column(UtcDateTime)
    next_dagrun_data_interval_start: Mapped[datetime | None] = mapped_column(UtcDateTime)
    next_dagrun_data_interval_end: Mapped[datetime | None] = mapped_column(UtcDateTime)
    next_dagrun_create_after: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index(None, "is_paused", "is_stale", "next_dagrun_create_after"),)


class DagTag(Base):
    __tablename__ = "dag_tag"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    dag_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True
    )

    # The key leads with the name; listings read a page of DAGs' tags by DAG id.
    __table_args__ = (Index(None, "dag_id"),)


class SerializedDagModel(Base):
    """One version of a DAG's serialized form (versioned JSON, keyed by content hash)."""

    __tablename__ = "serialized_dag"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("dag.dag_id", ondelete="CASCADE"), nullable=False
    )
    version_number: Mapped[int] = mapped_column(Integer, nullable=False)
    dag_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    #: The serialized DAG (see tradewind.serialization), as JSON.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    __table_args__ = (
        UniqueConstraint("dag_id", "version_number"),
        Index(None, "dag_id", "dag_hash"),
    )


class DagCode(Base):
    """The source text of a DAG file, as last parsed (for the API's "DAG source")."""

    __tablename__ = "dag_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("dag.dag_id", ondelete="CASCADE"), nullable=False
    )
    fileloc: Mapped[str] = mapped_column(String(2000), nullable=False)
    source_code: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    source_code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    last_updated: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("dag_id"),)
