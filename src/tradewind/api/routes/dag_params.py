"""The query parameters of ``GET /dags`` and ``PATCH /dags``, as Airflow 3 names them.

Each set is one pydantic model read with ``Query()`` (FastAPI validates it in one go, which
costs half of what two dozen separate parameters do on the busiest route). A naive datetime
is read as UTC (a comparison with a stored time needs a time zone).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import BaseModel, Field

from tradewind.api.deps import MAX_INT
from tradewind.api.schemas.dags import BUNDLE_NAME
from tradewind.db.queries.dag_listing import DagFilters, DateRange
from tradewind.states import DagRunState

_PATTERN = "SQL LIKE expression matched anywhere in the value (`~` for all)"

#: The range of the integer columns (ids, version numbers, map indexes, tries): a number
#: outside it is a 422, not a database error.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
Int32Path = Annotated[int, Path(ge=INT32_MIN, le=INT32_MAX)]
Int32Query = Annotated[int | None, Query(ge=INT32_MIN, le=INT32_MAX)]


def aware(value: datetime | None) -> datetime | None:
    """``value`` with a time zone (UTC when it had none)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class CommonDagQuery(BaseModel):
    """What both ``GET /dags`` and ``PATCH /dags`` filter on, and their page."""

    limit: int | None = Field(None, ge=0, le=MAX_INT)
    offset: int = Field(0, ge=0, le=MAX_INT)
    tags: list[str] = []
    tags_match_mode: Literal["any", "all"] | None = None
    owners: list[str] = []
    dag_id_pattern: str | None = Field(None, description=_PATTERN)
    exclude_stale: bool = True
    paused: bool | None = None

    def filters(self, dag_ids: frozenset[str] | None) -> DagFilters:
        """The filters these parameters select, among ``dag_ids`` (``None``: all)."""
        return DagFilters(
            dag_ids=dag_ids,
            exclude_stale=self.exclude_stale,
            paused=self.paused,
            dag_id_pattern=self.dag_id_pattern,
            tags=tuple(self.tags),
            tags_match_all=self.tags_match_mode == "all",
            owners=tuple(self.owners),
        )


class DagPatchQuery(CommonDagQuery):
    update_mask: list[str] | None = None


class DagListQuery(CommonDagQuery):
    """``GET /dags``: the common filters, the latest run's, and ``order_by``."""

    order_by: list[str] = Field(
        [],
        description="dag_id, dag_display_name, next_dagrun, last_run_state, "
        "last_run_start_date; `-` in front for descending",
    )
    dag_display_name_pattern: str | None = Field(None, description=_PATTERN)
    has_import_errors: bool | None = None
    last_dag_run_state: DagRunState | None = None
    #: The latest run's state, or ``none`` for DAGs without a started run.
    dag_run_state: list[Literal["queued", "running", "success", "failed", "none"]] = []
    dag_run_start_date_gte: datetime | None = None
    dag_run_start_date_gt: datetime | None = None
    dag_run_start_date_lte: datetime | None = None
    dag_run_start_date_lt: datetime | None = None
    dag_run_end_date_gte: datetime | None = None
    dag_run_end_date_gt: datetime | None = None
    dag_run_end_date_lte: datetime | None = None
    dag_run_end_date_lt: datetime | None = None
    bundle_name: str | None = None
    bundle_version: str | None = None
    is_favorite: bool | None = None

    def filters(self, dag_ids: frozenset[str] | None) -> DagFilters:
        common = super().filters(dag_ids)
        # One bundle without versions, and no favorites: these filters pass all or nothing.
        nothing = (
            (self.bundle_name is not None and self.bundle_name != BUNDLE_NAME)
            or self.bundle_version is not None
            or self.is_favorite is True
        )
        return replace(
            common,
            dag_display_name_pattern=self.dag_display_name_pattern,
            has_import_errors=self.has_import_errors,
            last_run_state=self.last_dag_run_state.value if self.last_dag_run_state else None,
            last_run_states=tuple(None if s == "none" else s for s in self.dag_run_state),
            last_run_start=DateRange(
                aware(self.dag_run_start_date_gte),
                aware(self.dag_run_start_date_gt),
                aware(self.dag_run_start_date_lte),
                aware(self.dag_run_start_date_lt),
            ),
            last_run_end=DateRange(
                aware(self.dag_run_end_date_gte),
                aware(self.dag_run_end_date_gt),
                aware(self.dag_run_end_date_lte),
                aware(self.dag_run_end_date_lt),
            ),
            match_nothing=nothing,
        )
