"""Backfill bodies of ``/api/v2``, with Airflow 3's field names (``BackfillResponse``...)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, NonNegativeInt

from tradewind.api.schemas import StrictModel
from tradewind.api.schemas.dag_runs import Text
from tradewind.db.models import Backfill
from tradewind.scheduler.backfill import ReprocessBehavior


class BackfillPostBody(StrictModel):
    """``POST /backfills`` and ``POST /backfills/dry_run``. Naive dates are UTC."""

    dag_id: Text
    from_date: datetime
    to_date: datetime
    run_backwards: bool = False
    dag_run_conf: dict[str, Any] | None = None
    reprocess_behavior: ReprocessBehavior = ReprocessBehavior.NONE
    max_active_runs: int = Field(10, ge=1)


class BackfillResponse(BaseModel):
    id: NonNegativeInt
    dag_id: str
    from_date: datetime
    to_date: datetime
    dag_run_conf: dict[str, Any] | None
    is_paused: bool
    reprocess_behavior: ReprocessBehavior
    max_active_runs: int
    created_at: datetime
    completed_at: datetime | None
    updated_at: datetime
    dag_display_name: str

    @classmethod
    def of(cls, backfill: Backfill, display_name: str | None) -> BackfillResponse:
        return cls(
            id=backfill.id,
            dag_id=backfill.dag_id,
            from_date=backfill.from_date,
            to_date=backfill.to_date,
            dag_run_conf=backfill.dag_run_conf,
            is_paused=bool(backfill.is_paused),
            reprocess_behavior=ReprocessBehavior(backfill.reprocess_behavior),
            max_active_runs=backfill.max_active_runs,
            created_at=backfill.created_at,
            completed_at=backfill.completed_at,
            updated_at=backfill.updated_at or backfill.created_at,
            dag_display_name=display_name or backfill.dag_id,
        )


class BackfillCollectionResponse(BaseModel):
    backfills: list[BackfillResponse]
    total_entries: int


class DryRunBackfillResponse(BaseModel):
    logical_date: datetime


class DryRunBackfillCollectionResponse(BaseModel):
    backfills: list[DryRunBackfillResponse]
    total_entries: int
