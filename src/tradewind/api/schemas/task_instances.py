"""Task instance bodies with Airflow 3's field names (``/api/v2``); Airflow 2's are in
:mod:`tradewind.api.schemas.task_instances_v1`.

Fields Tradewind cannot fill are null or their natural default: ``rendered_fields`` is ``{}``
(rendered templates are not stored), bundle fields of ``dag_version`` are null.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    NonNegativeInt,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from tradewind.api.schemas import DateRangesBody, StrictModel
from tradewind.api.schemas.dag_versions import DagVersionResponse
from tradewind.db.queries.ti_listing import TiDetail
from tradewind.states import TaskInstanceState

#: Strings that reach the database may not hold NUL (no database stores it).
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, StringConstraints(pattern=NO_NUL)]
#: Offsets the databases can take (a 64-bit integer).
Offset = Annotated[int, Field(ge=0, le=2**63 - 1)]

#: The states a task instance may be marked with by hand.
MARKABLE = ("success", "failed", "skipped")
MarkState = Literal["success", "failed", "skipped"]


class TriggerResponse(BaseModel):
    id: int
    classpath: str
    kwargs: str
    created_date: datetime
    triggerer_id: int | None


class JobResponse(BaseModel):
    id: int
    dag_id: str | None
    state: str | None
    job_type: str | None
    start_date: datetime | None
    end_date: datetime | None
    latest_heartbeat: datetime | None
    executor_class: str | None
    hostname: str | None
    unixname: str | None
    dag_display_name: str | None = None


def trigger_of(d: TiDetail) -> TriggerResponse | None:
    t = d.trigger
    if t is None:
        return None
    return TriggerResponse(
        id=t.id,
        classpath=t.classpath,
        kwargs=t.kwargs,
        created_date=t.created_date,
        triggerer_id=t.triggerer_id,
    )


def job_of(job: Any) -> JobResponse | None:
    if job is None:
        return None
    return JobResponse(
        id=job.id,
        dag_id=None,
        state=job.state,
        job_type=job.job_type,
        start_date=job.start_date,
        end_date=job.end_date,
        latest_heartbeat=job.latest_heartbeat,
        executor_class=job.executor_class,
        hostname=job.hostname,
        unixname=None,
    )


def _version(d: TiDetail) -> DagVersionResponse | None:
    v = d.version
    if v is None:
        return None
    return DagVersionResponse(
        id=v.id,
        version_number=v.version_number,
        dag_id=v.dag_id,
        bundle_name=None,
        bundle_version=None,
        created_at=v.created_at,
        dag_display_name=v.dag_display_name,
        bundle_url=None,
    )


def common_fields(d: TiDetail) -> dict[str, Any]:
    """What the current row and a past try show alike."""
    ti = d.ti
    return {
        "task_id": ti.task_id,
        "dag_id": ti.dag_id,
        "dag_run_id": ti.run_id,
        "map_index": ti.map_index,
        "start_date": ti.start_date,
        "end_date": ti.end_date,
        "duration": ti.duration,
        "state": ti.state,
        "try_number": ti.try_number,
        "max_tries": ti.max_tries,
        "task_display_name": ti.task_display_name or ti.task_id,
        "dag_display_name": d.dag_display_name,
        "hostname": ti.hostname,
        "unixname": ti.unixname,
        "pool": ti.pool,
        "pool_slots": ti.pool_slots,
        "queue": ti.queue,
        "priority_weight": ti.priority_weight,
        "operator": ti.operator,
        "operator_name": ti.custom_operator_name or ti.operator,
        "queued_when": ti.queued_dttm,
        "scheduled_when": ti.scheduled_dttm,
        "pid": ti.pid,
        "executor": ti.executor,
        # Airflow shows the executor config as Python's text of it.
        "executor_config": str(ti.executor_config if ti.executor_config is not None else {}),
        "dag_version": _version(d),
    }


class TaskInstanceHistoryResponse(BaseModel):
    """One try of a task instance."""

    task_id: str
    dag_id: str
    dag_run_id: str
    map_index: int
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    state: TaskInstanceState | None
    try_number: int
    max_tries: int
    task_display_name: str
    dag_display_name: str
    hostname: str | None
    unixname: str | None
    pool: str
    pool_slots: int
    queue: str | None
    priority_weight: int | None
    operator: str | None
    operator_name: str | None
    queued_when: datetime | None
    scheduled_when: datetime | None
    pid: int | None
    executor: str | None
    executor_config: str
    dag_version: DagVersionResponse | None

    @classmethod
    def of(cls, d: TiDetail) -> TaskInstanceHistoryResponse:
        return cls(**common_fields(d))


class TaskInstanceHistoryCollectionResponse(BaseModel):
    task_instances: list[TaskInstanceHistoryResponse]
    total_entries: int


class TaskInstanceResponse(TaskInstanceHistoryResponse):
    """A task instance (its current try)."""

    id: str
    logical_date: datetime | None
    run_after: datetime | None
    note: str | None
    rendered_map_index: str | None
    rendered_fields: dict[str, Any]
    trigger: TriggerResponse | None
    triggerer_job: JobResponse | None

    @classmethod
    def of(cls, d: TiDetail) -> TaskInstanceResponse:
        ti = d.ti
        return cls(
            **common_fields(d),
            id=str(ti.id),
            logical_date=d.logical_date,
            run_after=d.run_after,
            note=ti.note,
            rendered_map_index=ti.rendered_map_index,
            rendered_fields={},
            trigger=trigger_of(d),
            # Airflow 3 shows here the job that queued the instance.
            triggerer_job=job_of(d.queued_by_job),
        )


class TaskInstanceCollectionResponse(BaseModel):
    task_instances: list[TaskInstanceResponse]
    total_entries: int

    @classmethod
    def of(
        cls, details: list[TiDetail], total: int | None = None
    ) -> TaskInstanceCollectionResponse:
        return cls(
            task_instances=[TaskInstanceResponse.of(d) for d in details],
            total_entries=len(details) if total is None else total,
        )


# -- request bodies ---------------------------------------------------------------------------


class TaskInstancesBatchBody(DateRangesBody):
    """``POST /dags/~/dagRuns/~/taskInstances/list``: filters, page and order."""

    dag_ids: list[Text] | None = None
    dag_run_ids: list[Text] | None = None
    task_ids: list[Text] | None = None
    state: list[TaskInstanceState | None] | None = None
    duration_gte: float | None = None
    duration_gt: float | None = None
    duration_lte: float | None = None
    duration_lt: float | None = None
    pool: list[Text] | None = None
    queue: list[Text] | None = None
    executor: list[Text] | None = None
    page_offset: Offset = 0
    page_limit: NonNegativeInt = 100
    order_by: Text | None = None


class ClearTaskInstancesBody(StrictModel):
    """``POST /dags/{dag_id}/clearTaskInstances``."""

    dry_run: bool = True
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    only_failed: bool = True
    only_running: bool = False
    reset_dag_runs: bool = Field(
        True,
        description="Cleared instances' finished runs go back to queued; false keeps the "
        "runs' states (a finished run's cleared instances then wait for the run to be "
        "queued again).",
    )
    task_ids: list[Text | tuple[Text, int]] | None = Field(None, min_length=1)
    dag_run_id: Text | None = None
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False
    run_on_latest_version: bool = Field(
        False, description="Accepted as Airflow's; each run keeps the DAG version it has."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ClearTaskInstancesBody:
        if self.only_failed and self.only_running:
            raise ValueError("only_failed and only_running both are set to True")
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise ValueError("end_date is sooner than start_date")
        if self.dag_run_id and (self.start_date or self.end_date):
            raise ValueError(
                "Exactly one of dag_run_id or (start_date and end_date) must be provided"
            )
        return self


def check_new_state(value: Any) -> Any:
    """Airflow's rule: ``new_state`` is one of success, failed, skipped (any case)."""
    if value is None:
        raise ValueError("'new_state' should not be empty")
    if not isinstance(value, str):
        raise ValueError(f"'new_state' must be one of {list(MARKABLE)}")
    lowered = value.lower()
    if lowered not in MARKABLE:
        raise ValueError(f"'{lowered}' is not one of {list(MARKABLE)}")
    return lowered


class PatchTaskInstanceBody(StrictModel):
    """``PATCH .../taskInstances/{task_id}``: mark with a state and/or set the note."""

    # Absent means "leave the state"; null is refused, as in Airflow.
    new_state: Annotated[
        MarkState | None, WithJsonSchema({"type": "string", "enum": list(MARKABLE)})
    ] = None
    note: Annotated[str, StringConstraints(max_length=1000, pattern=NO_NUL)] | None = None
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False

    @field_validator("new_state", mode="before")
    @classmethod
    def _markable(cls, value: Any) -> Any:
        return check_new_state(value)
