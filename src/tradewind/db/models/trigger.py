"""What deferred tasks wait for, and sensors' reschedules.

A ``trigger`` row is one trigger to run in a triggerer: its class path and keyword
arguments (the XCom codec's text), and which triggerer job runs it now (``triggerer_id``;
``None`` until one takes it, or after its triggerer died). A deferred task instance points
at its trigger (``task_instance.trigger_id``). A ``task_reschedule`` row records one
reschedule of a sensor's try (Airflow's table): the first one's ``start_date`` is when the
try began poking, which its timeout counts from.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tradewind.db.models.base import Base
from tradewind.db.types import UtcDateTime


class Trigger(Base):
    """One trigger, run by at most one triggerer at a time."""

    __tablename__ = "trigger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    classpath: Mapped[str] = mapped_column(String(1000), nullable=False)
    kwargs: Mapped[str] = mapped_column(Text, nullable=False)
    created_date: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    triggerer_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index(None, "triggerer_id"),)


class TaskReschedule(Base):
    """One reschedule of a sensor's try."""

    __tablename__ = "task_reschedule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ti_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("task_instance.id", ondelete="CASCADE"), nullable=False
    )
    try_number: Mapped[int] = mapped_column(Integer, nullable=False)
    start_date: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    end_date: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    duration: Mapped[float] = mapped_column(Float, nullable=False)
    reschedule_date: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    __table_args__ = (Index(None, "ti_id", "try_number"),)
