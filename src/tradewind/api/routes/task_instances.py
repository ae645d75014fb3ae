"""Reading task instances (Airflow 3's ``/api/v2``): lists with filters, one instance, the
mapped instances of a task, and every try of an instance.

``~`` as the DAG id and/or run id lists across DAGs and runs (only those the caller may read).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from tradewind.api.auth.principal import Principal
from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PageDep, PrincipalDep, SessionDep, SettingsDep, order_by
from tradewind.api.errors import ApiError
from tradewind.api.routes._ti_common import (
    DagIdPath,
    IntList,
    MapIndexPath,
    MapIndexQuery,
    RunIdPath,
    StateList,
    TaskIdPath,
    TextList,
    TryNumberPath,
    bounds_param,
    dag_or_404,
    parse_states,
    run_or_404,
    serialized_dag_or_404,
    ti_not_found,
)
from tradewind.api.schemas.task_instances import (
    TaskInstanceCollectionResponse,
    TaskInstanceHistoryCollectionResponse,
    TaskInstanceHistoryResponse,
    TaskInstanceResponse,
    TaskInstancesBatchBody,
    Text,
)
from tradewind.api.settings import ApiSettings
from tradewind.db.models import DagRun
from tradewind.db.queries import ti_listing
from tradewind.db.queries.ti_listing import Bounds, TiDetail, TiFilter

router = APIRouter(tags=["Task Instance"])

PREFIX = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances"

RunAfter = Annotated[Bounds, Depends(bounds_param("run_after", datetime))]
LogicalDate = Annotated[Bounds, Depends(bounds_param("logical_date", datetime))]
StartDate = Annotated[Bounds, Depends(bounds_param("start_date", datetime))]
EndDate = Annotated[Bounds, Depends(bounds_param("end_date", datetime))]
UpdatedAt = Annotated[Bounds, Depends(bounds_param("updated_at", datetime))]
Duration = Annotated[Bounds, Depends(bounds_param("duration", float))]
OrderBy = Annotated[list[Text] | None, Query(alias="order_by")]


def readable_dags(principal: Principal, dag_id: str) -> set[str] | None:
    """The DAGs a listing may show: None for every DAG; 403 when the caller reads none."""
    if dag_id != "~":
        principal.require(Action.READ, Resource.TASK_INSTANCE, dag_id)
        return None
    allowed = principal.dag_ids_with(Action.READ, Resource.TASK_INSTANCE)
    if allowed is not None and not allowed:
        principal.require(Action.READ, Resource.TASK_INSTANCE)
    return allowed


def _ranges(**bounds: Bounds) -> dict[str, Bounds]:
    return {name: b for name, b in bounds.items() if b.is_set()}


class ListFilters:
    """The query filters every task-instance list takes (Airflow's names), as
    :class:`TiFilter` fields."""

    def __init__(
        self,
        run_after: RunAfter,
        logical_date: LogicalDate,
        start_date: StartDate,
        end_date: EndDate,
        updated_at: UpdatedAt,
        duration: Duration,
        state: StateList = None,
        pool: TextList = None,
        queue: TextList = None,
        executor: TextList = None,
        version_number: IntList = None,
        try_number: IntList = None,
        operator: TextList = None,
        map_index: IntList = None,
    ) -> None:
        self.fields: dict[str, Any] = {
            "map_indexes": map_index or None,
            "states": parse_states(state),
            "pools": pool or None,
            "queues": queue or None,
            "executors": executor or None,
            "operators": operator or None,
            "try_numbers": try_number or None,
            "version_numbers": version_number or None,
            "ranges": _ranges(
                run_after=run_after,
                logical_date=logical_date,
                start_date=start_date,
                end_date=end_date,
                updated_at=updated_at,
                duration=duration,
            ),
        }


ListFiltersDep = Annotated[ListFilters, Depends()]


@router.get(PREFIX)
def get_task_instances(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    filters: ListFiltersDep,
    task_id: Annotated[Text | None, Query()] = None,
    task_display_name_pattern: Annotated[Text | None, Query()] = None,
    dag_id_pattern: Annotated[Text | None, Query()] = None,
    order_by_: OrderBy = None,
) -> TaskInstanceCollectionResponse:
    """Task instances of a run (``~``: of every run; ``~`` as the DAG id: of every DAG)."""
    allowed = readable_dags(principal, dag_id)
    if dag_id != "~":
        dag_or_404(session, dag_id)
    if dag_run_id != "~":
        _run_exists_or_404(session, dag_id, dag_run_id)
    dag_ids: set[str] | None = allowed
    if dag_id != "~":
        dag_ids = {dag_id}
    f = TiFilter(
        dag_ids=dag_ids,
        run_ids=None if dag_run_id == "~" else [dag_run_id],
        task_ids=None if task_id is None else [task_id],
        task_display_name_pattern=task_display_name_pattern,
        dag_id_pattern=dag_id_pattern,
        **filters.fields,
    )
    order = ti_listing.nulls_last(order_by(order_by_, ti_listing.ORDER_COLUMNS, "map_index"))
    details, total = ti_listing.page(session, f, order, page.limit, page.offset)
    return TaskInstanceCollectionResponse.of(details, total)


def _run_exists_or_404(session: SessionDep, dag_id: str, run_id: str) -> None:
    if dag_id != "~":
        run_or_404(session, dag_id, run_id)
        return
    if session.scalar(select(DagRun.id).where(DagRun.run_id == run_id).limit(1)) is None:
        raise ApiError(404, f"DagRun with run_id: `{run_id}` was not found")


@router.post(PREFIX + "/list")
def get_task_instances_batch(
    dag_id: Annotated[Literal["~"], Path()],
    dag_run_id: Annotated[Literal["~"], Path()],
    body: TaskInstancesBatchBody,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> TaskInstanceCollectionResponse:
    """Task instances across DAGs and runs, filtered by the body (a POST, so long lists of
    ids fit)."""
    ranges: dict[str, Bounds] = {}
    for name in ("run_after", "logical_date", "start_date", "end_date", "duration"):
        bounds = Bounds(*(getattr(body, f"{name}_{op}") for op in ("gte", "gt", "lte", "lt")))
        if bounds.is_set():
            ranges[name] = bounds
    states = None if not body.state else [s.value if s else None for s in body.state]
    details, total = batch_page(session, principal, settings, body, states, ranges)
    return TaskInstanceCollectionResponse.of(details, total)


def batch_page(
    session: Session,
    principal: Principal,
    settings: ApiSettings,
    body: Any,
    states: list[str | None] | None,
    ranges: dict[str, Bounds],
) -> tuple[list[TiDetail], int]:
    """A page of a batch list (v2 or v1 body: ids, pools, queues, executors, order and
    page), over the DAGs the caller may read."""
    allowed = readable_dags(principal, "~")
    dag_ids: set[str] | None = None if body.dag_ids is None else set(body.dag_ids)
    if allowed is not None:
        dag_ids = allowed if dag_ids is None else dag_ids & allowed
    f = TiFilter(
        dag_ids=dag_ids,
        run_ids=body.dag_run_ids,
        task_ids=body.task_ids,
        states=states,
        pools=body.pool or None,
        queues=body.queue or None,
        executors=body.executor or None,
        ranges=ranges,
    )
    order = ti_listing.nulls_last(order_by(body.order_by, ti_listing.BATCH_ORDER_COLUMNS, "id"))
    limit = min(body.page_limit, settings.maximum_page_limit)
    return ti_listing.page(session, f, order, limit, body.page_offset)


@router.get(PREFIX + "/{task_id}/listMapped")
def get_mapped_task_instances(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    task_id: TaskIdPath,
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    filters: ListFiltersDep,
    order_by_: OrderBy = None,
) -> TaskInstanceCollectionResponse:
    """The expanded instances of a mapped task in a run."""
    principal.require(Action.READ, Resource.TASK_INSTANCE, dag_id)
    order = ti_listing.nulls_last(order_by(order_by_, ti_listing.ORDER_COLUMNS, "map_index"))
    own = TiFilter(dag_ids=[dag_id], run_ids=[dag_run_id], task_ids=[task_id], mapped_only=True)
    if ti_listing.page(session, own, order, 0, 0)[1] == 0:
        # None expanded yet (or none at all): say why, as Airflow does.
        dag = serialized_dag_or_404(session, dag_id)
        run_or_404(session, dag_id, dag_run_id)
        task = dag.task_dict.get(task_id)
        if task is None:
            raise ApiError(404, f"Task id {task_id} not found")
        from tradewind.sdk.map_indexes import expands

        if not expands(task):
            raise ApiError(404, f"Task id {task_id} is not mapped")
    f = TiFilter(
        dag_ids=[dag_id],
        run_ids=[dag_run_id],
        task_ids=[task_id],
        mapped_only=True,
        **filters.fields,
    )
    details, total = ti_listing.page(session, f, order, page.limit, page.offset)
    return TaskInstanceCollectionResponse.of(details, total)


def _tries(
    session: SessionDep, dag_id: str, dag_run_id: str, task_id: str, map_index: int
) -> TaskInstanceHistoryCollectionResponse:
    found = ti_listing.tries(session, dag_id, dag_run_id, task_id, map_index)
    if not found:
        raise ti_not_found(dag_id, dag_run_id, task_id, map_index)
    return TaskInstanceHistoryCollectionResponse(
        task_instances=[TaskInstanceHistoryResponse.of(d) for d in found],
        total_entries=len(found),
    )


def _one_try(
    session: SessionDep, dag_id: str, dag_run_id: str, task_id: str, map_index: int, n: int
) -> TaskInstanceHistoryResponse:
    found = ti_listing.one_try(session, dag_id, dag_run_id, task_id, map_index, n)
    if found is None:
        raise ApiError(
            404,
            f"The Task Instance with dag_id: `{dag_id}`, run_id: `{dag_run_id}`, task_id: "
            f"`{task_id}`, try_number: `{n}` and map_index: `{map_index}` was not found",
        )
    return TaskInstanceHistoryResponse.of(found)


@router.get(PREFIX + "/{task_id}/tries")
def get_task_instance_tries(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    task_id: TaskIdPath,
    session: SessionDep,
    principal: PrincipalDep,
    map_index: MapIndexQuery = -1,
) -> TaskInstanceHistoryCollectionResponse:
    """Every try of a task instance, the finished ones and the current one."""
    principal.require(Action.READ, Resource.TASK_INSTANCE, dag_id)
    return _tries(session, dag_id, dag_run_id, task_id, map_index)


@router.get(PREFIX + "/{task_id}/tries/{task_try_number}")
def get_task_instance_try_details(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    task_id: TaskIdPath,
    task_try_number: TryNumberPath,
    session: SessionDep,
    principal: PrincipalDep,
    map_index: MapIndexQuery = -1,
) -> TaskInstanceHistoryResponse:
    """One try of a task instance."""
    principal.require(Action.READ, Resource.TASK_INSTANCE, dag_id)
    return _one_try(session, dag_id, dag_run_id, task_id, map_index, task_try_number)


@router.get(PREFIX + "/{task_id}/{map_index:int}/tries")
def get_mapped_task_instance_tries(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    task_id: TaskIdPath,
    map_index: MapIndexPath,
    session: SessionDep,
    principal: PrincipalDep,
) -> TaskInstanceHistoryCollectionResponse:
    """Every try of one mapped instance."""
    principal.require(Action.READ, Resource.TASK_INSTANCE, dag_id)
    return _tries(session, dag_id, dag_run_id, task_id, map_index)


@router.get(PREFIX + "/{task_id}/{map_index:int}/tries/{task_try_number}")
def get_mapped_task_instance_try_details(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    task_id: TaskIdPath,
    map_index: MapIndexPath,
    task_try_number: TryNumberPath,
    session: SessionDep,
    principal: PrincipalDep,
) -> TaskInstanceHistoryResponse:
    """One try of one mapped instance."""
    principal.require(Action.READ, Resource.TASK_INSTANCE, dag_id)
    return _one_try(session, dag_id, dag_run_id, task_id, map_index, task_try_number)


@router.get(PREFIX + "/{task_id}/{map_index:int}")
def get_mapped_task_instance(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    task_id: TaskIdPath,
    map_index: MapIndexPath,
    session: SessionDep,
    principal: PrincipalDep,
) -> TaskInstanceResponse:
    """One instance of a task, by map index."""
    principal.require(Action.READ, Resource.TASK_INSTANCE, dag_id)
    found = ti_listing.get(session, dag_id, dag_run_id, task_id, map_index)
    if found is None:
        raise ApiError(
            404,
            f"The Mapped Task Instance with dag_id: `{dag_id}`, run_id: `{dag_run_id}`, "
            f"task_id: `{task_id}`, and map_index: `{map_index}` was not found",
        )
    return TaskInstanceResponse.of(found)


@router.get(PREFIX + "/{task_id}")
def get_task_instance(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    task_id: TaskIdPath,
    session: SessionDep,
    principal: PrincipalDep,
) -> TaskInstanceResponse:
    """One task instance (of a task that is not mapped)."""
    principal.require(Action.READ, Resource.TASK_INSTANCE, dag_id)
    found = ti_listing.get(session, dag_id, dag_run_id, task_id, None)
    if found is None:
        raise ApiError(
            404,
            f"The Task Instance with dag_id: `{dag_id}`, run_id: `{dag_run_id}` and task_id: "
            f"`{task_id}` was not found",
        )
    if found.ti.map_index != -1:
        raise ApiError(404, "Task instance is mapped, add the map_index value to the URL")
    return TaskInstanceResponse.of(found)
