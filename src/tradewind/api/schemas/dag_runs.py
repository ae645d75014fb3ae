"""DAG run bodies of ``/api/v2``, with Airflow 3's field names (``DAGRunResponse``...).

Runs record who triggered them by hand (``triggering_user_name``: the API user, or the OS
user of ``tradewind dags trigger``) but no bundle version (null). ``dag_versions`` lists the
serialized version the run follows.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    NonNegativeInt,
    model_validator,
)

from tradewind.api.schemas import DateRangesBody, StrictModel
from tradewind.api.schemas.dag_versions import DagVersionResponse
from tradewind.db.models import DagRun
from tradewind.db.queries.dagrun_listing import ORDERABLE, VersionInfo
from tradewind.states import DagRunState


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


#: A string stored or searched in the database: no NUL (PostgreSQL refuses it in text).
Text = Annotated[str, AfterValidator(_no_nul), Field(json_schema_extra={"pattern": "^[^\\x00]*$"})]
#: A version number filter (the column is 32-bit).
VersionNumber = Annotated[int, Field(ge=0, le=2**31 - 1)]
#: A duration bound in seconds.
Seconds = Annotated[float, Field(allow_inf_nan=False)]


def order_by_doc(names: tuple[str, ...], *, many: bool) -> dict[str, Any]:
    """OpenAPI for an ``order_by`` value: the names, ``-`` for descending, commas between.
    Documented only: an unknown name gets Airflow's 400, not a validation error."""
    name = "-?(" + "|".join(names) + ")"
    text = {"type": "string", "pattern": f"^{name}(,{name})*$"}
    described = {"description": f"Order by {', '.join(names)}; `-name` for descending."}
    if many:
        return {**described, "items": text, "maxItems": 10}
    return {**described, **text}


def enum_doc(values: tuple[str, ...], *, many: bool) -> dict[str, Any]:
    """OpenAPI for a value among ``values`` (checked by the route, with Airflow's answer)."""
    text = {"type": "string", "enum": list(values)}
    return {"items": text} if many else text


#: Names runs may be ordered by (Airflow 3's, ``dag_run_id`` for ``run_id``).
RUN_ORDER = ORDERABLE
_STATES = ("queued", "running", "success", "failed", "none")
_RUN_TYPES = (
    "backfill", "scheduled", "manual", "operator_triggered", "asset_triggered",
    "asset_materialization", "none",
)  # fmt: skip


class DAGRunPatchStates(StrEnum):
    """The states a run may be marked with."""

    QUEUED = "queued"
    SUCCESS = "success"
    FAILED = "failed"


class DAGRunResponse(BaseModel):
    dag_run_id: str
    dag_id: str
    logical_date: datetime | None
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    run_after: datetime
    last_scheduling_decision: datetime | None
    run_type: str
    state: str
    triggered_by: str | None
    triggering_user_name: str | None
    conf: dict[str, Any] | None
    note: str | None
    dag_versions: list[DagVersionResponse]
    bundle_version: str | None
    dag_display_name: str

    @classmethod
    def of(
        cls, run: DagRun, display_name: str | None, versions: dict[int, VersionInfo]
    ) -> DAGRunResponse:
        """The response for ``run``; ``versions`` holds (at least) the one it follows."""
        name = display_name or run.dag_id
        version = versions.get(run.dag_version_id) if run.dag_version_id is not None else None
        shown = [] if version is None else [version_response(version, name)]
        duration = None
        if run.start_date is not None and run.end_date is not None:
            duration = (run.end_date - run.start_date).total_seconds()
        return cls(
            dag_run_id=run.run_id,
            dag_id=run.dag_id,
            logical_date=run.logical_date,
            queued_at=run.queued_at,
            start_date=run.start_date,
            end_date=run.end_date,
            duration=duration,
            data_interval_start=run.data_interval_start,
            data_interval_end=run.data_interval_end,
            run_after=run.run_after,
            last_scheduling_decision=run.last_scheduling_decision,
            run_type=run.run_type,
            state=run.state,
            triggered_by=run.triggered_by,
            triggering_user_name=run.triggering_user_name,
            conf=run.conf,
            note=run.note,
            dag_versions=shown,
            bundle_version=None,
            dag_display_name=name,
        )


def version_response(version: VersionInfo, display_name: str) -> DagVersionResponse:
    """A version as Airflow shows it (no bundles in Tradewind: those fields are null)."""
    return DagVersionResponse(
        id=version.id,
        version_number=version.version_number,
        dag_id=version.dag_id,
        bundle_name=None,
        bundle_version=None,
        created_at=version.created_at,
        dag_display_name=display_name,
        bundle_url=None,
    )


class DAGRunCollectionResponse(BaseModel):
    dag_runs: list[DAGRunResponse]
    total_entries: int


class TriggerDAGRunPostBody(StrictModel):
    """``POST /dags/{dag_id}/dagRuns``. ``logical_date`` must be given (it may be null)."""

    dag_run_id: Text | None = None
    data_interval_start: AwareDatetime | None = None
    data_interval_end: AwareDatetime | None = None
    logical_date: AwareDatetime | None
    run_after: datetime | None = None
    conf: dict[str, Any] | None = None
    note: Text | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> TriggerDAGRunPostBody:
        start, end = self.data_interval_start, self.data_interval_end
        if (start is None) != (end is None):
            raise ValueError(
                "Either both data_interval_start and data_interval_end must be provided or "
                "both must be None"
            )
        if start is not None and end is not None and end < start:
            raise ValueError("data_interval_end must not be before data_interval_start")
        return self


class DAGRunPatchBody(StrictModel):
    """``PATCH /dags/{dag_id}/dagRuns/{dag_run_id}``: mark the run, or set its note."""

    state: DAGRunPatchStates | None = None
    note: Annotated[Text | None, Field(max_length=1000)] = None


class DAGRunClearBody(StrictModel):
    """``POST .../clear``: without ``dry_run: false`` nothing changes (Airflow 3's default)."""

    dry_run: bool = True
    only_failed: bool = False


class DAGRunsBatchBody(DateRangesBody):
    """``POST /dags/~/dagRuns/list``: the filters of the list as a body."""

    order_by: Text | None = Field(None, json_schema_extra=order_by_doc(RUN_ORDER, many=False))
    page_offset: NonNegativeInt = 0
    page_limit: NonNegativeInt = 100
    dag_ids: list[Text] | None = None
    states: list[DagRunState | None] | None = None


class DagRunListQuery(BaseModel):
    """The filters of ``GET /dags/{dag_id}/dagRuns`` (Airflow 3's names); ``limit`` and
    ``offset`` are read apart. Unknown parameters are ignored, as Airflow does."""

    order_by: list[Text] = Field(
        default_factory=lambda: ["id"], json_schema_extra=order_by_doc(RUN_ORDER, many=True)
    )
    run_after_gte: datetime | None = None
    run_after_gt: datetime | None = None
    run_after_lte: datetime | None = None
    run_after_lt: datetime | None = None
    logical_date_gte: datetime | None = None
    logical_date_gt: datetime | None = None
    logical_date_lte: datetime | None = None
    logical_date_lt: datetime | None = None
    start_date_gte: datetime | None = None
    start_date_gt: datetime | None = None
    start_date_lte: datetime | None = None
    start_date_lt: datetime | None = None
    end_date_gte: datetime | None = None
    end_date_gt: datetime | None = None
    end_date_lte: datetime | None = None
    end_date_lt: datetime | None = None
    updated_at_gte: datetime | None = None
    updated_at_gt: datetime | None = None
    updated_at_lte: datetime | None = None
    updated_at_lt: datetime | None = None
    run_type: list[Text] = Field(
        default_factory=list, json_schema_extra=enum_doc(_RUN_TYPES, many=True)
    )
    state: list[Text] = Field(default_factory=list, json_schema_extra=enum_doc(_STATES, many=True))
    dag_version: list[VersionNumber] = Field(default_factory=list)
    duration_gte: Seconds | None = None
    duration_gt: Seconds | None = None
    duration_lte: Seconds | None = None
    duration_lt: Seconds | None = None
    run_id_pattern: Text | None = Field(
        None, description="SQL LIKE expression: `%` and `_` are wildcards; `~` for all."
    )
    dag_id_pattern: Text | None = Field(
        None, description="SQL LIKE expression: `%` and `_` are wildcards; `~` for all."
    )
    triggering_user_name_pattern: Text | None = None
    conf_contains: Text | None = Field(None, description="Runs whose conf JSON has this text.")
