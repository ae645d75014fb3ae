"""``GET /api/v2/dagStats``: each DAG's runs counted by state (every state listed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PrincipalDep, SessionDep
from tradewind.api.errors import ApiError
from tradewind.api.schemas.dag_stats import (
    DagStatsCollectionResponse,
    DagStatsResponse,
    DagStatsStateResponse,
)
from tradewind.db.queries.dag_versions import run_counts
from tradewind.states import DagRunState

router = APIRouter(tags=["DagStats"])


@router.get("/dagStats")
def get_dag_stats(
    session: SessionDep,
    principal: PrincipalDep,
    dag_ids: Annotated[list[str], Query()] = [],  # noqa: B006
) -> DagStatsCollectionResponse:
    """Run counts by state of the DAGs in ``dag_ids`` (all the caller may read when none
    is given) that have runs."""
    readable = principal.dag_ids_with(Action.READ, Resource.DAG_RUN)
    if readable is not None and not readable:
        raise ApiError(403, "Forbidden: your roles do not allow can_read on any DAG's runs")
    counts = run_counts(session, dag_ids, None if readable is None else frozenset(readable))
    dags = [
        DagStatsResponse(
            dag_id=dag_id,
            dag_display_name=display_name,
            stats=[
                DagStatsStateResponse(state=state, count=by_state.get(state.value, 0))
                for state in DagRunState
            ],
        )
        for (dag_id, display_name), by_state in counts.items()
    ]
    return DagStatsCollectionResponse(dags=dags, total_entries=len(dags))
