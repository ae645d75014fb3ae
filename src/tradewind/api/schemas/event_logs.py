"""The audit log: Airflow 3's ``EventLogResponse`` and Airflow 2's ``EventLog``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class EventLogResponse(BaseModel):
    event_log_id: int
    when: datetime
    dag_id: str | None
    task_id: str | None
    run_id: str | None
    map_index: int | None
    try_number: int | None
    event: str
    logical_date: datetime | None
    owner: str | None
    owner_display_name: str | None
    extra: str | None
    dag_display_name: str | None
    task_display_name: str | None


class EventLogCollectionResponse(BaseModel):
    event_logs: list[EventLogResponse]
    total_entries: int


class EventLogV1(BaseModel):
    event_log_id: int
    when: datetime
    dag_id: str | None
    task_id: str | None
    run_id: str | None
    map_index: int | None
    try_number: int | None
    event: str
    execution_date: datetime | None
    owner: str | None
    extra: str | None


class EventLogCollectionV1(BaseModel):
    event_logs: list[EventLogV1]
    total_entries: int
