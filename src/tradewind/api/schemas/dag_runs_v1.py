"""DAG run bodies of ``/api/v1``, with Airflow 2's field names (``DAGRun``...).

Airflow 2 calls the logical date ``execution_date`` too, and says whether a run was
triggered from outside (``external_trigger``: manual and operator-triggered runs). Its
run types are ``backfill``, ``manual``, ``scheduled`` and ``dataset_triggered``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, NonNegativeInt

from tradewind.api.schemas import StrictModel
from tradewind.api.schemas.dag_runs import RUN_ORDER, Text, enum_doc, order_by_doc
from tradewind.db.models import DagRun

#: Tradewind's run types as Airflow 2 names them.
_V1_RUN_TYPES = {"asset_triggered": "dataset_triggered", "operator_triggered": "manual"}
_EXTERNAL = {"manual", "operator_triggered"}
V1State = Literal["queued", "running", "success", "failed"]
#: Airflow 2's ``order_by`` names for runs.
V1_RUN_ORDER = (*RUN_ORDER, "execution_date", "external_trigger")


class DAGRunV1(BaseModel):
    dag_run_id: str
    dag_id: str
    logical_date: datetime | None
    execution_date: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    last_scheduling_decision: datetime | None
    run_type: str
    state: str
    external_trigger: bool
    conf: dict[str, Any]
    note: str | None

    @classmethod
    def of(cls, run: DagRun) -> DAGRunV1:
        return cls(
            dag_run_id=run.run_id,
            dag_id=run.dag_id,
            logical_date=run.logical_date,
            execution_date=run.logical_date,
            start_date=run.start_date,
            end_date=run.end_date,
            data_interval_start=run.data_interval_start,
            data_interval_end=run.data_interval_end,
            last_scheduling_decision=run.last_scheduling_decision,
            run_type=_V1_RUN_TYPES.get(run.run_type, run.run_type),
            state=run.state,
            external_trigger=run.run_type in _EXTERNAL,
            conf=run.conf or {},
            note=run.note,
        )


class DAGRunCollectionV1(BaseModel):
    dag_runs: list[DAGRunV1]
    total_entries: int


class TriggerDAGRunV1Body(StrictModel):
    """``POST /dags/{dag_id}/dagRuns`` (v1): everything optional; the logical date defaults
    to now, the run id to ``manual__<logical date>``. Naive dates are UTC."""

    dag_run_id: Text | None = None
    logical_date: datetime | None = None
    execution_date: datetime | None = None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    conf: dict[str, Any] | None = None
    note: Text | None = None


class UpdateDagRunStateV1(StrictModel):
    state: Literal["success", "failed", "queued"]


class ClearDagRunV1(StrictModel):
    dry_run: bool = True


class SetDagRunNoteV1(StrictModel):
    note: Text | None


class DAGRunsBatchV1(StrictModel):
    """``POST /dags/~/dagRuns/list`` (v1)."""

    order_by: Text | None = Field(None, json_schema_extra=order_by_doc(V1_RUN_ORDER, many=False))
    page_offset: NonNegativeInt = 0
    page_limit: NonNegativeInt = 100
    dag_ids: list[Text] | None = None
    states: list[V1State] | None = None
    execution_date_gte: datetime | None = None
    execution_date_lte: datetime | None = None
    start_date_gte: datetime | None = None
    start_date_lte: datetime | None = None
    end_date_gte: datetime | None = None
    end_date_lte: datetime | None = None


class DagRunListQueryV1(BaseModel):
    """The filters of ``GET /dags/{dag_id}/dagRuns`` (v1); ``limit``/``offset`` apart."""

    order_by: Text = Field("id", json_schema_extra=order_by_doc(V1_RUN_ORDER, many=False))
    state: list[Text] = Field(
        default_factory=list,
        json_schema_extra=enum_doc(("queued", "running", "success", "failed"), many=True),
    )
    execution_date_gte: datetime | None = None
    execution_date_lte: datetime | None = None
    start_date_gte: datetime | None = None
    start_date_lte: datetime | None = None
    end_date_gte: datetime | None = None
    end_date_lte: datetime | None = None
    updated_at_gte: datetime | None = None
    updated_at_lte: datetime | None = None
