"""Task instance bodies with Airflow 2's field names (``/api/v1``, its ``v1.yaml``).

``execution_date`` is the run's logical date; ``sla_miss`` is always null (Tradewind has no
SLA misses); ``hostname`` and ``unixname`` are ``""`` until a try ran, as in Airflow 2.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    field_validator,
    model_validator,
)

from tradewind.api.schemas import StrictModel
from tradewind.api.schemas.task_instances import (
    JobResponse,
    MarkState,
    Offset,
    Text,
    TriggerResponse,
    check_new_state,
    job_of,
    trigger_of,
)
from tradewind.db.queries.ti_listing import TiDetail

#: Airflow 2's TaskState: the states, plus "none" (deprecated) and null.
TaskState = Literal[
    "success",
    "running",
    "failed",
    "upstream_failed",
    "skipped",
    "up_for_retry",
    "up_for_reschedule",
    "queued",
    "none",
    "scheduled",
    "deferred",
    "removed",
    "restarting",
]


class JobV1(BaseModel):
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

    @classmethod
    def of(cls, job: JobResponse | None) -> JobV1 | None:
        return None if job is None else cls(**job.model_dump(exclude={"dag_display_name"}))


class TaskInstanceV1(BaseModel):
    """Airflow 2's TaskInstance."""

    task_id: str
    task_display_name: str
    dag_id: str
    dag_run_id: str
    execution_date: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    state: TaskState | None
    try_number: int
    map_index: int
    max_tries: int
    hostname: str
    unixname: str
    pool: str
    pool_slots: int
    queue: str | None
    priority_weight: int | None
    operator: str | None
    queued_when: datetime | None
    pid: int | None
    executor: str | None
    executor_config: str
    sla_miss: None = None
    rendered_map_index: str | None
    rendered_fields: dict[str, Any]
    trigger: TriggerResponse | None
    triggerer_job: JobV1 | None
    note: str | None

    @classmethod
    def of(cls, d: TiDetail) -> TaskInstanceV1:
        ti = d.ti
        return cls(
            task_id=ti.task_id,
            task_display_name=ti.task_display_name or ti.task_id,
            dag_id=ti.dag_id,
            dag_run_id=ti.run_id,
            execution_date=d.logical_date,
            start_date=ti.start_date,
            end_date=ti.end_date,
            duration=ti.duration,
            state=ti.state,  # type: ignore[arg-type]
            try_number=ti.try_number,
            map_index=ti.map_index,
            max_tries=ti.max_tries,
            hostname=ti.hostname or "",
            unixname=ti.unixname or "",
            pool=ti.pool,
            pool_slots=ti.pool_slots,
            queue=ti.queue,
            priority_weight=ti.priority_weight,
            operator=ti.operator,
            queued_when=ti.queued_dttm,
            pid=ti.pid,
            executor=ti.executor,
            executor_config=str(ti.executor_config if ti.executor_config is not None else {}),
            rendered_map_index=ti.rendered_map_index,
            rendered_fields={},
            trigger=trigger_of(d),
            # Airflow 2 shows the triggerer running the instance's trigger.
            triggerer_job=JobV1.of(job_of(d.triggerer_job)),
            note=getattr(ti, "note", None),
        )


class TaskInstanceCollectionV1(BaseModel):
    task_instances: list[TaskInstanceV1]
    total_entries: int

    @classmethod
    def of(cls, details: list[TiDetail], total: int | None = None) -> TaskInstanceCollectionV1:
        return cls(
            task_instances=[TaskInstanceV1.of(d) for d in details],
            total_entries=len(details) if total is None else total,
        )


class TaskInstanceReference(BaseModel):
    task_id: str
    dag_id: str
    execution_date: datetime | None
    dag_run_id: str

    @classmethod
    def of(cls, d: TiDetail) -> TaskInstanceReference:
        return cls(
            task_id=d.ti.task_id,
            dag_id=d.ti.dag_id,
            execution_date=d.logical_date,
            dag_run_id=d.ti.run_id,
        )


class TaskInstanceReferenceCollection(BaseModel):
    task_instances: list[TaskInstanceReference]


# -- request bodies ---------------------------------------------------------------------------


class ListTaskInstanceForm(StrictModel):
    """``POST /dags/~/dagRuns/~/taskInstances/list`` (Airflow 2)."""

    dag_ids: list[Text] | None = None
    dag_run_ids: list[Text] | None = None
    task_ids: list[Text] | None = None
    execution_date_gte: AwareDatetime | None = None
    execution_date_lte: AwareDatetime | None = None
    start_date_gte: AwareDatetime | None = None
    start_date_lte: AwareDatetime | None = None
    end_date_gte: AwareDatetime | None = None
    end_date_lte: AwareDatetime | None = None
    duration_gte: float | None = None
    duration_lte: float | None = None
    state: list[TaskState | None] | None = None
    pool: list[Text] | None = None
    queue: list[Text] | None = None
    executor: list[Text] | None = None
    page_offset: Offset = 0
    page_limit: int = Field(100, ge=1)
    order_by: Text | None = None


class ClearTaskInstancesV1(StrictModel):
    """``POST /dags/{dag_id}/clearTaskInstances`` (Airflow 2)."""

    dry_run: bool = True
    task_ids: list[Text] | None = Field(None, min_length=1)
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    only_failed: bool = True
    only_running: bool = False
    include_subdags: bool = Field(False, description="Accepted; Tradewind has no subdags.")
    include_parentdag: bool = Field(False, description="Accepted; Tradewind has no subdags.")
    reset_dag_runs: bool = True
    dag_run_id: Text | None = None
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ClearTaskInstancesV1:
        if self.only_failed and self.only_running:
            raise ValueError("only_failed and only_running both are set to True")
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise ValueError("end_date is sooner than start_date")
        if self.dag_run_id and (self.start_date or self.end_date):
            raise ValueError(
                "Exactly one of dag_run_id or (start_date and end_date) must be provided"
            )
        return self


class UpdateTaskInstance(StrictModel):
    """``PATCH .../taskInstances/{task_id}`` (Airflow 2): mark with a state."""

    dry_run: bool = True
    new_state: MarkState

    @field_validator("new_state", mode="before")
    @classmethod
    def _markable(cls, value: Any) -> Any:
        return check_new_state(value)
