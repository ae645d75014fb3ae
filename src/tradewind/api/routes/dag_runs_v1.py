"""DAG runs of ``/api/v1`` (Airflow 2's shapes): list, list with a body, trigger, get, mark,
delete, clear, set the note. The work is shared with ``/api/v2``; only the bodies differ."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from sqlalchemy.orm import Session

from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PageDep, PrincipalDep, SessionDep, SettingsDep, order_by
from tradewind.api.errors import ApiError
from tradewind.api.routes.dag_run_actions import delete_run
from tradewind.api.routes.dag_run_common import (
    check_sort,
    dag_of_run,
    find_run,
    readable_dags,
    trigger_run,
    unstorable,
    utc,
    wake_scheduler,
)
from tradewind.api.schemas.dag_runs_v1 import (
    ClearDagRunV1,
    DAGRunCollectionV1,
    DagRunListQueryV1,
    DAGRunsBatchV1,
    DAGRunV1,
    SetDagRunNoteV1,
    TriggerDAGRunV1Body,
    UpdateDagRunStateV1,
)
from tradewind.api.schemas.task_instances_v1 import (
    TaskInstanceReference,
    TaskInstanceReferenceCollection,
)
from tradewind.db.models import DagRun
from tradewind.db.queries import audit, dagrun_listing, dagrun_state
from tradewind.db.queries.clear import clear_task_instances, clearable_task_instances
from tradewind.db.queries.dagrun_listing import Bounds, RunFilter
from tradewind.states import DagRunState

v1_router = APIRouter(tags=["DAGRun"])


def _not_found(dag_id: str, run_id: str) -> ApiError:
    return ApiError(404, f"DAGRun with DAG ID: '{dag_id}' and DagRun ID: '{run_id}' not found")


def _find(session: Session, dag_id: str, run_id: str) -> DagRun:
    """The run; 404 with Airflow 2's words otherwise."""
    try:
        return find_run(session, dag_id, run_id)[0]
    except ApiError:
        raise _not_found(dag_id, run_id) from None


def _bounds(gte: datetime | None, lte: datetime | None, name: str) -> Bounds | None:
    if gte is None and lte is None:
        return None
    return Bounds(gte=utc(gte, f"{name}_gte"), lte=utc(lte, f"{name}_lte"))


def _page(
    session: Session, run_filter: RunFilter, sort: str | None, limit: int, offset: int
) -> DAGRunCollectionV1:
    check_sort(sort)
    columns = dagrun_listing.order_columns_v1(session.get_bind().dialect.name)
    order = order_by(sort, columns, "id")
    rows, total = dagrun_listing.list_runs(session, run_filter, order, limit=limit, offset=offset)
    return DAGRunCollectionV1(dag_runs=[DAGRunV1.of(r) for r, _ in rows], total_entries=total)


def _ranges(**pairs: tuple[datetime | None, datetime | None]) -> dict[str, Bounds]:
    found = {}
    for column, (gte, lte) in pairs.items():
        bounds = _bounds(gte, lte, "execution_date" if column == "logical_date" else column)
        if bounds is not None:
            found[column] = bounds
    return found


@v1_router.get("/dags/{dag_id}/dagRuns")
def get_dag_runs_v1(
    dag_id: str,
    query: Annotated[DagRunListQueryV1, Query()],
    page: PageDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> DAGRunCollectionV1:
    """The runs of a DAG (``~``: of every DAG the caller may read)."""
    readable = None
    if dag_id == "~":
        readable = readable_dags(principal)
    else:
        principal.require(Action.READ, Resource.DAG_RUN, dag_id)
    valid = [s.value for s in DagRunState]
    if bad := [s for s in query.state if s not in valid]:
        raise ApiError(400, f"Invalid state {bad[0]!r}: valid values are {', '.join(valid)}")
    run_filter = RunFilter(
        dag_ids=None if dag_id == "~" else ["" if unstorable(dag_id) else dag_id],
        readable=readable,
        states=query.state or None,
        ranges=_ranges(
            logical_date=(query.execution_date_gte, query.execution_date_lte),
            start_date=(query.start_date_gte, query.start_date_lte),
            end_date=(query.end_date_gte, query.end_date_lte),
            updated_at=(query.updated_at_gte, query.updated_at_lte),
        ),
    )
    return _page(session, run_filter, query.order_by, page.limit, page.offset)


@v1_router.post("/dags/{dag_id}/dagRuns/list")
def get_dag_runs_batch_v1(
    dag_id: Literal["~"],
    body: DAGRunsBatchV1,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> DAGRunCollectionV1:
    """Runs across DAGs, with the filters in the body."""
    run_filter = RunFilter(
        dag_ids=body.dag_ids or None,
        readable=readable_dags(principal),
        states=list(body.states) if body.states else None,
        ranges=_ranges(
            logical_date=(body.execution_date_gte, body.execution_date_lte),
            start_date=(body.start_date_gte, body.start_date_lte),
            end_date=(body.end_date_gte, body.end_date_lte),
        ),
    )
    limit = min(body.page_limit, settings.maximum_page_limit)
    return _page(session, run_filter, body.order_by, limit, body.page_offset)


@v1_router.post("/dags/{dag_id}/dagRuns")
def post_dag_run_v1(
    dag_id: str,
    body: TriggerDAGRunV1Body,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    principal: PrincipalDep,
) -> DAGRunV1:
    """Trigger a run (the logical date defaults to now)."""
    principal.require(Action.CREATE, Resource.DAG_RUN, dag_id)
    logical = utc(body.logical_date, "logical_date")
    execution = utc(body.execution_date, "execution_date")
    if logical is not None and execution is not None and logical != execution:
        raise ApiError(400, "logical_date conflicts with execution_date")
    logical = logical or execution or datetime.now(UTC)
    start = utc(body.data_interval_start, "data_interval_start")
    end = utc(body.data_interval_end, "data_interval_end")
    if (start is None) != (end is None):
        raise ApiError(
            400, "Both 'data_interval_start' and 'data_interval_end' must be specified together"
        )
    if start is not None and end is not None and end < start:
        raise ApiError(400, "data_interval_end must not be before data_interval_start")
    run, _ = trigger_run(
        request,
        session,
        principal,
        dag_id,
        logical_date=logical,
        data_interval=(start, end) if start is not None and end is not None else None,
        run_id=body.dag_run_id,
        conf=body.conf,
        note=body.note,
    )
    background.add_task(wake_scheduler)
    return DAGRunV1.of(run)


@v1_router.get("/dags/{dag_id}/dagRuns/{dag_run_id}")
def get_dag_run_v1(
    dag_id: str, dag_run_id: str, session: SessionDep, principal: PrincipalDep
) -> DAGRunV1:
    """One run."""
    principal.require(Action.READ, Resource.DAG_RUN, dag_id)
    return DAGRunV1.of(_find(session, dag_id, dag_run_id))


@v1_router.patch("/dags/{dag_id}/dagRuns/{dag_run_id}")
def update_dag_run_state_v1(
    dag_id: str,
    dag_run_id: str,
    body: UpdateDagRunStateV1,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    principal: PrincipalDep,
) -> DAGRunV1:
    """Mark the run success, failed or queued (its task instances as Airflow marks them)."""
    principal.require(Action.EDIT, Resource.DAG_RUN, dag_id)
    run = _find(session, dag_id, dag_run_id)
    extra: dict[str, Any] = {"state": body.state}
    try:
        if body.state == "queued":
            dagrun_state.mark_queued(session, run)
            background.add_task(wake_scheduler)
        else:
            dag = dag_of_run(request, session, run)
            if body.state == "success":
                changed = dagrun_state.mark_success(session, dag, run)
            else:
                changed = dagrun_state.mark_failed(session, dag, run)
            extra["task_instances"] = dagrun_state.states_of(changed)
    except dagrun_state.RunChanged as err:
        raise ApiError(409, str(err)) from None
    audit.record(
        session,
        "patch_dag_run",
        dag_id=dag_id,
        run_id=dag_run_id,
        owner=principal.username,
        extra=extra,
    )
    return DAGRunV1.of(run)


@v1_router.delete("/dags/{dag_id}/dagRuns/{dag_run_id}", status_code=204)
def delete_dag_run_v1(
    dag_id: str,
    dag_run_id: str,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """Delete a run and every trace of it (Airflow 2 deletes running runs too)."""
    principal.require(Action.DELETE, Resource.DAG_RUN, dag_id)
    _find(session, dag_id, dag_run_id)
    delete_run(request, background, session, principal.username, dag_id, dag_run_id)
    return Response(status_code=204)


@v1_router.post("/dags/{dag_id}/dagRuns/{dag_run_id}/clear")
def clear_dag_run_v1(
    dag_id: str,
    dag_run_id: str,
    body: ClearDagRunV1,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    principal: PrincipalDep,
) -> TaskInstanceReferenceCollection | DAGRunV1:
    """Clear every task instance of the run; with ``dry_run`` (the default), only say which."""
    principal.require(Action.EDIT, Resource.DAG_RUN, dag_id)
    run = _find(session, dag_id, dag_run_id)
    dag = dag_of_run(request, session, run)
    task_ids = list(dag.task_dict)
    if body.dry_run:
        refs = [
            TaskInstanceReference(
                task_id=ti.task_id,
                dag_id=ti.dag_id,
                execution_date=run.logical_date,
                dag_run_id=ti.run_id,
            )
            for ti in clearable_task_instances(session, dag_id, task_ids, run_id=dag_run_id)
        ]
        return TaskInstanceReferenceCollection(task_instances=refs)
    cleared = clear_task_instances(
        session,
        dag_id,
        task_ids,
        run_id=dag_run_id,
        retries={tid: task.retries for tid, task in dag.task_dict.items()},
    )
    audit.record(
        session,
        "clear_dag_run",
        dag_id=dag_id,
        run_id=dag_run_id,
        owner=principal.username,
        extra={"cleared": cleared},
    )
    if cleared:
        background.add_task(wake_scheduler)
    session.refresh(run)
    return DAGRunV1.of(run)


@v1_router.patch("/dags/{dag_id}/dagRuns/{dag_run_id}/setNote")
def set_dag_run_note_v1(
    dag_id: str,
    dag_run_id: str,
    body: SetDagRunNoteV1,
    session: SessionDep,
    principal: PrincipalDep,
) -> DAGRunV1:
    """Replace the run's note."""
    principal.require(Action.EDIT, Resource.DAG_RUN, dag_id)
    run = _find(session, dag_id, dag_run_id)
    dagrun_state.set_note(session, run, body.note)
    audit.record(
        session,
        "set_dag_run_note",
        dag_id=dag_id,
        run_id=dag_run_id,
        owner=principal.username,
        extra={"note": body.note},
    )
    return DAGRunV1.of(run)
