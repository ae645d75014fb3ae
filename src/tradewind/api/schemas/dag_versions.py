"""DAG versions (Airflow 3's ``DagVersionResponse``): one per distinct serialized DAG.

Airflow's version ``id`` is a UUID; Tradewind's is the ``serialized_dag`` row's integer id.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class DagVersionResponse(BaseModel):
    id: int
    version_number: int
    dag_id: str
    bundle_name: str | None
    bundle_version: str | None
    created_at: datetime
    dag_display_name: str
    bundle_url: str | None


class DAGVersionCollectionResponse(BaseModel):
    dag_versions: list[DagVersionResponse]
    total_entries: int
