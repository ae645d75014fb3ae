"""A DAG's source file (Airflow 3's ``DAGSourceResponse``)."""

from __future__ import annotations

from pydantic import BaseModel


class DAGSourceResponse(BaseModel):
    content: str | None
    dag_id: str
    version_number: int | None
    dag_display_name: str
