"""XCom entry bodies and answers: Airflow 3's (``/api/v2``) and Airflow 2's (``/api/v1``).

Listings carry no values (they can be large); one entry carries its value, previewed or
whole (see :mod:`tradewind.api.routes.xcom_values`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, JsonValue

from tradewind.api.schemas import StrictModel
from tradewind.api.schemas.bulk import INT_MAX, DbText
from tradewind.db.queries.xcom_listing import XComEntry


class XComResponse(BaseModel):
    key: str
    timestamp: datetime
    logical_date: datetime | None
    map_index: int
    task_id: str
    dag_id: str
    run_id: str
    dag_display_name: str
    task_display_name: str

    @staticmethod
    def fields(entry: XComEntry) -> dict[str, Any]:
        return {
            "key": entry.key,
            "timestamp": entry.timestamp,
            "logical_date": entry.logical_date,
            "map_index": entry.map_index,
            "task_id": entry.task_id,
            "dag_id": entry.dag_id,
            "run_id": entry.run_id,
            "dag_display_name": entry.dag_display_name,
            "task_display_name": entry.task_display_name,
        }


class XComResponseNative(XComResponse):
    value: Any


class XComResponseString(XComResponse):
    value: str | None


class XComCollectionResponse(BaseModel):
    xcom_entries: list[XComResponse]
    total_entries: int


class XComCreateBody(StrictModel):
    key: DbText = Field(min_length=1, max_length=512)
    value: JsonValue
    map_index: int = Field(default=-1, ge=-1, le=INT_MAX)


class XComUpdateBody(StrictModel):
    value: JsonValue
    map_index: int = Field(default=-1, ge=-1, le=INT_MAX)


# -- /api/v1 (Airflow 2) -------------------------------------------------------------------


class XComV1Item(BaseModel):
    key: str
    timestamp: datetime
    execution_date: datetime | None
    map_index: int
    task_id: str
    dag_id: str

    @staticmethod
    def fields(entry: XComEntry) -> dict[str, Any]:
        return {
            "key": entry.key,
            "timestamp": entry.timestamp,
            "execution_date": entry.logical_date,
            "map_index": entry.map_index,
            "task_id": entry.task_id,
            "dag_id": entry.dag_id,
        }


class XComV1(XComV1Item):
    value: Any


class XComV1Collection(BaseModel):
    xcom_entries: list[XComV1Item]
    total_entries: int
