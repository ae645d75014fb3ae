"""How many runs of each DAG are in each state (Airflow 3's ``DagStatsCollectionResponse``)."""

from __future__ import annotations

from pydantic import BaseModel

from tradewind.states import DagRunState


class DagStatsStateResponse(BaseModel):
    state: DagRunState
    count: int


class DagStatsResponse(BaseModel):
    dag_id: str
    dag_display_name: str
    stats: list[DagStatsStateResponse]


class DagStatsCollectionResponse(BaseModel):
    dags: list[DagStatsResponse]
    total_entries: int
