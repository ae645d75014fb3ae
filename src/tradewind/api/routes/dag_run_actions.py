"""Changing DAG runs (``/api/v2``): trigger, mark (``PATCH``), delete, clear.

Each change is one transaction with its audit row; bad input changes nothing. What must
follow the commit (waking the scheduler, removing a deleted run's stored XCom and logs)
runs as a background task, after the response is sent.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from sqlalchemy.orm import Session

from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PrincipalDep, SessionDep
from tradewind.api.errors import ApiError
from tradewind.api.routes.dag_run_common import (
    dag_of_run,
    find_run,
    remove_run_traces,
    trigger_run,
    utc,
    wake_scheduler,
    xcom_backend,
)
from tradewind.api.routes.dag_runs import respond
from tradewind.api.schemas.dag_runs import (
    DAGRunClearBody,
    DAGRunPatchBody,
    DAGRunPatchStates,
    DAGRunResponse,
    TriggerDAGRunPostBody,
)
from tradewind.api.schemas.task_instances import TaskInstanceCollectionResponse
from tradewind.db.queries import audit, dagrun_state, ti_listing
from tradewind.db.queries.clear import clear_task_instances, clearable_task_instances
from tradewind.db.queries.delete_dag import delete_dag_run as delete_run_rows
from tradewind.states import DagRunState

router = APIRouter(tags=["DagRun"])


@router.post("/dags/{dag_id}/dagRuns")
def trigger_dag_run(
    dag_id: str,
    body: TriggerDAGRunPostBody,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    principal: PrincipalDep,
) -> DAGRunResponse:
    """Trigger a run: queued at once, started by the scheduler (a paused DAG's runs wait
    until it is unpaused). ``logical_date`` is required and may be null."""
    principal.require(Action.CREATE, Resource.DAG_RUN, dag_id)
    interval = None
    if body.data_interval_start is not None and body.data_interval_end is not None:
        start = utc(body.data_interval_start, "data_interval_start")
        end = utc(body.data_interval_end, "data_interval_end")
        assert start is not None and end is not None
        interval = (start, end)
    run, target = trigger_run(
        request,
        session,
        principal,
        dag_id,
        logical_date=utc(body.logical_date, "logical_date"),
        data_interval=interval,
        run_after=utc(body.run_after, "run_after"),
        run_id=body.dag_run_id,
        conf=body.conf,
        note=body.note,
    )
    background.add_task(wake_scheduler)
    assert target.version is not None
    return DAGRunResponse.of(run, target.display_name, {target.version.id: target.version})


@router.patch("/dags/{dag_id}/dagRuns/{dag_run_id}")
def patch_dag_run(
    dag_id: str,
    dag_run_id: str,
    body: DAGRunPatchBody,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    principal: PrincipalDep,
    update_mask: Annotated[list[str] | None, Query()] = None,
) -> DAGRunResponse:
    """Mark the run success, failed or queued (its task instances as Airflow marks them),
    and/or set its note. With ``update_mask``, only the fields it names change."""
    principal.require(Action.EDIT, Resource.DAG_RUN, dag_id)
    run, name = find_run(session, dag_id, dag_run_id)
    fields = set(body.model_fields_set)
    if update_mask:
        fields &= set(update_mask)
    extra: dict[str, object] = {}
    if "state" in fields and body.state is not None:
        extra["state"] = body.state.value
        try:
            if body.state is DAGRunPatchStates.QUEUED:
                dagrun_state.mark_queued(session, run)
                background.add_task(wake_scheduler)
            else:
                dag = dag_of_run(request, session, run)
                mark = (
                    dagrun_state.mark_success
                    if body.state is DAGRunPatchStates.SUCCESS
                    else dagrun_state.mark_failed
                )
                extra["task_instances"] = dagrun_state.states_of(mark(session, dag, run))
        except dagrun_state.RunChanged as err:
            raise ApiError(409, str(err)) from None
    if "note" in fields:
        dagrun_state.set_note(session, run, body.note)
        extra["note"] = body.note
    audit.record(
        session,
        "patch_dag_run",
        dag_id=dag_id,
        run_id=dag_run_id,
        owner=principal.username,
        extra=extra,
    )
    return respond(session, [(run, name)])[0]


@router.delete("/dags/{dag_id}/dagRuns/{dag_run_id}", status_code=204)
def delete_dag_run(
    dag_id: str,
    dag_run_id: str,
    background: BackgroundTasks,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """Delete a run and every trace of it: task instances, their tries, XCom (and what it
    stored outside the database), its log files. A running run cannot be deleted."""
    principal.require(Action.DELETE, Resource.DAG_RUN, dag_id)
    run, _ = find_run(session, dag_id, dag_run_id)
    if run.state == DagRunState.RUNNING.value:
        raise ApiError(400, f"Cannot delete DagRun in state {run.state}: mark it first")
    delete_run(request, background, session, principal.username, dag_id, dag_run_id)
    return Response(status_code=204)


def delete_run(
    request: Request,
    background: BackgroundTasks,
    session: Session,
    username: str | None,
    dag_id: str,
    run_id: str,
) -> None:
    """Delete the run's rows with an audit row; what they refer to goes after the commit."""
    backend = xcom_backend()
    prefix = backend.purged_prefix if backend.purges else None
    counts, stored = delete_run_rows(session, dag_id, run_id, xcom_prefix=prefix)
    audit.record(
        session, "delete_dag_run", dag_id=dag_id, run_id=run_id, owner=username, extra=counts
    )
    background.add_task(
        remove_run_traces,
        request.app.state.engine,
        backend,
        dag_id,
        run_id,
        stored if backend.purges else [],
    )


@router.post("/dags/{dag_id}/dagRuns/{dag_run_id}/clear")
def clear_dag_run(
    dag_id: str,
    dag_run_id: str,
    body: DAGRunClearBody,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    principal: PrincipalDep,
) -> TaskInstanceCollectionResponse | DAGRunResponse:
    """Clear the run's task instances so they run again (``only_failed``: the failed ones).
    With ``dry_run`` (the default) nothing changes: the answer lists what would be cleared."""
    principal.require(Action.EDIT, Resource.DAG_RUN, dag_id)
    run, name = find_run(session, dag_id, dag_run_id)
    dag = dag_of_run(request, session, run)
    task_ids = list(dag.task_dict)
    if body.dry_run:
        instances = clearable_task_instances(
            session, dag_id, task_ids, run_id=dag_run_id, only_failed=body.only_failed
        )
        details = ti_listing.by_ids(session, [ti.id for ti in instances])
        return TaskInstanceCollectionResponse.of(details)
    cleared = clear_task_instances(
        session,
        dag_id,
        task_ids,
        run_id=dag_run_id,
        only_failed=body.only_failed,
        retries={tid: task.retries for tid, task in dag.task_dict.items()},
    )
    audit.record(
        session,
        "clear_dag_run",
        dag_id=dag_id,
        run_id=dag_run_id,
        owner=principal.username,
        extra={"only_failed": body.only_failed, "cleared": cleared},
    )
    if cleared:
        background.add_task(wake_scheduler)
    session.refresh(run)
    return respond(session, [(run, name)])[0]
