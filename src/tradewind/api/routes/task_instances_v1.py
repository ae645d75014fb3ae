"""Task instances with Airflow 2's shapes (``/api/v1``): list, get, mapped instances, the
batch list, marking with a state and clearing; the same queries as ``/api/v2``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PageDep, PrincipalDep, SessionDep, SettingsDep, order_by
from tradewind.api.errors import ApiError
from tradewind.api.routes._ti_common import (
    DagIdPath,
    MapIndexPath,
    RunIdPath,
    StateList,
    TaskIdPath,
    TextList,
    bounds_param,
    parse_states,
    serialized_dag_or_404,
)
from tradewind.api.routes.task_instance_actions import clear_for, mark_or_note
from tradewind.api.routes.task_instances import batch_page, readable_dags
from tradewind.api.schemas.task_instances import Text
from tradewind.api.schemas.task_instances_v1 import (
    ClearTaskInstancesV1,
    ListTaskInstanceForm,
    TaskInstanceCollectionV1,
    TaskInstanceReference,
    TaskInstanceReferenceCollection,
    TaskInstanceV1,
    UpdateTaskInstance,
)
from tradewind.db.queries import ti_listing
from tradewind.db.queries.ti_listing import Bounds, TiFilter
from tradewind.states import TaskInstanceState

v1_router = APIRouter(tags=["TaskInstance"])

PREFIX = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances"
_TWO = ("gte", "lte")
ExecutionDate = Annotated[Bounds, Depends(bounds_param("execution_date", datetime, _TWO))]
StartDate = Annotated[Bounds, Depends(bounds_param("start_date", datetime, _TWO))]
EndDate = Annotated[Bounds, Depends(bounds_param("end_date", datetime, _TWO))]
UpdatedAt = Annotated[Bounds, Depends(bounds_param("updated_at", datetime, _TWO))]
Duration = Annotated[Bounds, Depends(bounds_param("duration", float, _TWO))]


def _ranges(**bounds: Bounds) -> dict[str, Bounds]:
    return {name: b for name, b in bounds.items() if b.is_set()}


@v1_router.get(PREFIX)
def get_task_instances_v1(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    execution_date: ExecutionDate,
    start_date: StartDate,
    end_date: EndDate,
    updated_at: UpdatedAt,
    duration: Duration,
    state: StateList = None,
    pool: TextList = None,
    queue: TextList = None,
    executor: TextList = None,
) -> TaskInstanceCollectionV1:
    """Task instances of a run (``~`` for every DAG and/or run)."""
    allowed = readable_dags(principal, dag_id)
    f = TiFilter(
        dag_ids=allowed if dag_id == "~" else [dag_id],
        run_ids=None if dag_run_id == "~" else [dag_run_id],
        states=parse_states(state),
        pools=pool or None,
        queues=queue or None,
        executors=executor or None,
        ranges=_ranges(
            logical_date=execution_date,
            start_date=start_date,
            end_date=end_date,
            updated_at=updated_at,
            duration=duration,
        ),
    )
    order = ti_listing.nulls_last(order_by(None, ti_listing.ORDER_COLUMNS, "map_index"))
    details, total = ti_listing.page(session, f, order, page.limit, page.offset)
    return TaskInstanceCollectionV1.of(details, total)


@v1_router.post(PREFIX + "/list")
def get_task_instances_batch_v1(
    dag_id: Annotated[Literal["~"], Path()],
    dag_run_id: Annotated[Literal["~"], Path()],
    body: ListTaskInstanceForm,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> TaskInstanceCollectionV1:
    """Task instances across DAGs and runs, filtered by the body."""
    ranges = _ranges(
        logical_date=Bounds(gte=body.execution_date_gte, lte=body.execution_date_lte),
        start_date=Bounds(gte=body.start_date_gte, lte=body.start_date_lte),
        end_date=Bounds(gte=body.end_date_gte, lte=body.end_date_lte),
        duration=Bounds(gte=body.duration_gte, lte=body.duration_lte),
    )
    states = parse_states(body.state) if body.state else None
    details, total = batch_page(session, principal, settings, body, states, ranges)
    return TaskInstanceCollectionV1.of(details, total)


@v1_router.get(PREFIX + "/{task_id}/listMapped")
def get_mapped_task_instances_v1(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    task_id: TaskIdPath,
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    execution_date: ExecutionDate,
    start_date: StartDate,
    end_date: EndDate,
    updated_at: UpdatedAt,
    duration: Duration,
    state: StateList = None,
    pool: TextList = None,
    queue: TextList = None,
    executor: TextList = None,
    order_by_: Annotated[Text | None, Query(alias="order_by")] = None,
) -> TaskInstanceCollectionV1:
    """The expanded instances of a mapped task in a run."""
    principal.require(Action.READ, Resource.TASK_INSTANCE, dag_id)
    dag = serialized_dag_or_404(session, dag_id)
    if task_id not in dag.task_dict:
        raise ApiError(404, f"Task id {task_id} not found")
    f = TiFilter(
        dag_ids=[dag_id],
        run_ids=[dag_run_id],
        task_ids=[task_id],
        mapped_only=True,
        states=parse_states(state),
        pools=pool or None,
        queues=queue or None,
        executors=executor or None,
        ranges=_ranges(
            logical_date=execution_date,
            start_date=start_date,
            end_date=end_date,
            updated_at=updated_at,
            duration=duration,
        ),
    )
    order = ti_listing.nulls_last(order_by(order_by_, ti_listing.ORDER_COLUMNS, "map_index"))
    details, total = ti_listing.page(session, f, order, page.limit, page.offset)
    return TaskInstanceCollectionV1.of(details, total)


def _one(
    session: SessionDep, dag_id: str, run_id: str, task_id: str, map_index: int
) -> TaskInstanceV1:
    found = ti_listing.get(session, dag_id, run_id, task_id, map_index)
    if found is None:
        raise ApiError(404, "Task instance not found")
    return TaskInstanceV1.of(found)


@v1_router.get(PREFIX + "/{task_id}/{map_index:int}")
def get_mapped_task_instance_v1(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    task_id: TaskIdPath,
    map_index: MapIndexPath,
    session: SessionDep,
    principal: PrincipalDep,
) -> TaskInstanceV1:
    """One instance of a mapped task."""
    principal.require(Action.READ, Resource.TASK_INSTANCE, dag_id)
    return _one(session, dag_id, dag_run_id, task_id, map_index)


@v1_router.get(PREFIX + "/{task_id}")
def get_task_instance_v1(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    task_id: TaskIdPath,
    session: SessionDep,
    principal: PrincipalDep,
) -> TaskInstanceV1:
    """One task instance."""
    principal.require(Action.READ, Resource.TASK_INSTANCE, dag_id)
    return _one(session, dag_id, dag_run_id, task_id, -1)


def _patch(
    session: SessionDep,
    principal: PrincipalDep,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int,
    body: UpdateTaskInstance,
) -> TaskInstanceReference:
    after, _ = mark_or_note(
        session,
        principal,
        dag_id,
        run_id,
        task_id,
        map_index,
        new_state=TaskInstanceState(body.new_state),
        dry_run=body.dry_run,
        conflict_if_unchanged=False,
    )
    return TaskInstanceReference.of(after[0])


@v1_router.patch(PREFIX + "/{task_id}/{map_index:int}")
def patch_mapped_task_instance_v1(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    task_id: TaskIdPath,
    map_index: MapIndexPath,
    body: UpdateTaskInstance,
    session: SessionDep,
    principal: PrincipalDep,
) -> TaskInstanceReference:
    """Mark one mapped instance with a state (``dry_run``, the default, changes nothing)."""
    return _patch(session, principal, dag_id, dag_run_id, task_id, map_index, body)


@v1_router.patch(PREFIX + "/{task_id}")
def patch_task_instance_v1(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    task_id: TaskIdPath,
    body: UpdateTaskInstance,
    session: SessionDep,
    principal: PrincipalDep,
) -> TaskInstanceReference:
    """Mark a task instance with a state (``dry_run``, the default, changes nothing)."""
    return _patch(session, principal, dag_id, dag_run_id, task_id, -1, body)


@v1_router.post("/dags/{dag_id}/clearTaskInstances")
def post_clear_task_instances_v1(
    dag_id: DagIdPath,
    body: ClearTaskInstancesV1,
    session: SessionDep,
    principal: PrincipalDep,
) -> TaskInstanceReferenceCollection:
    """Clear task instances so they run again (``dry_run``, the default, lists them only)."""
    cleared = clear_for(session, principal, dag_id, body)
    return TaskInstanceReferenceCollection(
        task_instances=[TaskInstanceReference.of(d) for d in cleared]
    )
