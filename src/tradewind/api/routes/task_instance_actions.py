"""Changing task instances (Airflow 3's ``/api/v2``): mark with a state or set the note
(``PATCH``, with a ``dry_run`` variant), and clear so they run again.

Both need ``can_edit`` on Task Instances of the DAG, write an audit row in the same
transaction, and wake a local scheduler when something changed. Bad input changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tradewind.api.auth.principal import Principal
from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PrincipalDep, SessionDep
from tradewind.api.errors import ApiError
from tradewind.api.routes._ti_common import (
    DagIdPath,
    MapIndexPath,
    RunIdPath,
    TaskIdPath,
    find_run,
    run_or_404,
    serialized_dag_or_404,
    ti_not_found,
    wake_scheduler,
)
from tradewind.api.schemas.task_instances import (
    ClearTaskInstancesBody,
    PatchTaskInstanceBody,
    TaskInstanceCollectionResponse,
    Text,
)
from tradewind.db.queries import audit, ti_clear, ti_listing, ti_state
from tradewind.db.queries.ti_listing import TiDetail
from tradewind.states import TaskInstanceState

router = APIRouter(tags=["Task Instance"])

PREFIX = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances"
UpdateMask = Annotated[list[Text] | None, Query()]


def mark_or_note(
    session: SessionDep,
    principal: Principal,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int | None,
    *,
    new_state: TaskInstanceState | None,
    note: tuple[str | None] | None = None,
    upstream: bool = False,
    downstream: bool = False,
    past: bool = False,
    future: bool = False,
    dry_run: bool,
    conflict_if_unchanged: bool = True,
) -> tuple[list[TiDetail], list[TiDetail]]:
    """Mark a task's instances in a run (all map indexes, or one) and/or set their note
    (``note`` is a 1-tuple when it is to be set, so None can clear it). Returns the task's
    instances as they are after, and those the mark changed (or would, with ``dry_run``)."""
    principal.require(Action.EDIT, Resource.TASK_INSTANCE, dag_id)
    dag = serialized_dag_or_404(session, dag_id)
    if task_id not in dag.task_dict:
        raise ApiError(404, f"Task '{task_id}' not found in DAG '{dag_id}'")
    if not ti_listing.exists(session, dag_id, run_id, task_id, map_index):
        raise ti_not_found(dag_id, run_id, task_id, map_index)
    changed: list[str] = []
    if new_state is not None:
        run = run_or_404(session, dag_id, run_id)
        try:
            changed = ti_state.mark(
                session,
                dag,
                run,
                task_id,
                None if map_index is None else [map_index],
                new_state,
                upstream=upstream,
                downstream=downstream,
                past=past,
                future=future,
                dry_run=dry_run,
            )
        except ti_state.ScopeError as err:
            raise ApiError(400, str(err)) from None
        except ti_state.MarkRefused as err:
            raise ApiError(409, str(err)) from None
        if not changed and not dry_run and conflict_if_unchanged:
            raise ApiError(409, f"Task id {task_id} is already in {new_state.value} state")
    if not dry_run and note is not None:
        ti_state.set_notes(session, dag_id, run_id, task_id, map_index, note[0])
    if not dry_run and (new_state is not None or note is not None):
        audit.record(
            session,
            "patch_task_instance",
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            map_index=map_index,
            owner=principal.username,
            extra={
                "new_state": None if new_state is None else new_state.value,
                "note": None if note is None else note[0],
                "include_upstream": upstream,
                "include_downstream": downstream,
                "include_past": past,
                "include_future": future,
                "changed": len(changed),
            },
        )
        if changed:
            wake_scheduler()
    after = ti_listing.of_task(session, dag_id, run_id, task_id, map_index)
    return after, ti_listing.by_ids(session, changed)


def _patch(
    session: SessionDep,
    principal: Principal,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    map_index: int | None,
    body: PatchTaskInstanceBody,
    update_mask: list[str] | None,
    dry_run: bool,
) -> TaskInstanceCollectionResponse:
    fields = set(body.model_fields_set)
    if update_mask:
        fields &= set(update_mask)
    new_state = (
        TaskInstanceState(body.new_state)
        if "new_state" in fields and body.new_state is not None
        else None
    )
    note = (body.note,) if "note" in fields else None
    after, changed = mark_or_note(
        session,
        principal,
        dag_id,
        dag_run_id,
        task_id,
        map_index,
        new_state=new_state,
        note=note,
        upstream=body.include_upstream,
        downstream=body.include_downstream,
        past=body.include_past,
        future=body.include_future,
        dry_run=dry_run,
    )
    shown = changed if dry_run and new_state is not None else after
    return TaskInstanceCollectionResponse.of(shown)


@router.patch(PREFIX + "/{task_id}/dry_run")
def patch_task_instance_dry_run(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    task_id: TaskIdPath,
    body: PatchTaskInstanceBody,
    session: SessionDep,
    principal: PrincipalDep,
    update_mask: UpdateMask = None,
) -> TaskInstanceCollectionResponse:
    """The task instances a ``PATCH`` would change, changing nothing."""
    return _patch(session, principal, dag_id, dag_run_id, task_id, None, body, update_mask, True)


@router.patch(PREFIX + "/{task_id}/{map_index:int}/dry_run")
def patch_task_instance_dry_run_by_map_index(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    task_id: TaskIdPath,
    map_index: MapIndexPath,
    body: PatchTaskInstanceBody,
    session: SessionDep,
    principal: PrincipalDep,
    update_mask: UpdateMask = None,
) -> TaskInstanceCollectionResponse:
    """The task instances a ``PATCH`` of one map index would change, changing nothing."""
    return _patch(
        session, principal, dag_id, dag_run_id, task_id, map_index, body, update_mask, True
    )


@router.patch(PREFIX + "/{task_id}")
def patch_task_instance(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    task_id: TaskIdPath,
    body: PatchTaskInstanceBody,
    session: SessionDep,
    principal: PrincipalDep,
    update_mask: UpdateMask = None,
) -> TaskInstanceCollectionResponse:
    """Mark a task's instances in a run (every map index) with a state, and/or set their
    note; with ``include_*``, also its relatives and other runs."""
    return _patch(session, principal, dag_id, dag_run_id, task_id, None, body, update_mask, False)


@router.patch(PREFIX + "/{task_id}/{map_index:int}")
def patch_task_instance_by_map_index(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    task_id: TaskIdPath,
    map_index: MapIndexPath,
    body: PatchTaskInstanceBody,
    session: SessionDep,
    principal: PrincipalDep,
    update_mask: UpdateMask = None,
) -> TaskInstanceCollectionResponse:
    """Mark one map index of a task with a state, and/or set its note."""
    return _patch(
        session, principal, dag_id, dag_run_id, task_id, map_index, body, update_mask, False
    )


def clear_for(
    session: SessionDep,
    principal: Principal,
    dag_id: str,
    body: Any,
) -> list[TiDetail]:
    """Clear what ``body`` (Airflow 3's or 2's clear body) asks of ``dag_id``; the instances
    cleared (or, with ``dry_run``, that would be)."""
    principal.require(Action.EDIT, Resource.TASK_INSTANCE, dag_id)
    dag = serialized_dag_or_404(session, dag_id)
    if body.only_running:
        raise ApiError(
            400,
            "only_running is not supported: Tradewind never clears a running task instance "
            "(its try would run twice); mark it failed, then clear it",
        )
    run = None
    if body.dag_run_id is not None:
        run = find_run(session, dag_id, body.dag_run_id)
        if run is None:
            raise ApiError(404, f"Dag Run id {body.dag_run_id} not found in dag {dag_id}")
    past, future = body.include_past, body.include_future
    try:
        run_ids = ti_clear.runs_to_clear(
            session, dag_id, run, body.start_date, body.end_date, past=past, future=future
        )
    except ti_state.ScopeError as err:
        raise ApiError(400, str(err)) from None
    task_ids = _task_ids(dag, body)
    found = ti_clear.candidates(session, dag_id, task_ids, run_ids, only_failed=body.only_failed)
    ids = [ti_id for ti_id, _ in found]
    if not body.dry_run:
        cleared = ti_clear.clear(
            session,
            dag,
            task_ids,
            {run for _, run in found},
            only_failed=body.only_failed,
            reset_runs=body.reset_dag_runs,
        )
        audit.record(
            session,
            "post_clear_task_instances",
            dag_id=dag_id,
            run_id=body.dag_run_id,
            owner=principal.username,
            extra={
                "task_ids": sorted(task_ids),
                "only_failed": body.only_failed,
                "include_upstream": body.include_upstream,
                "include_downstream": body.include_downstream,
                "include_past": past,
                "include_future": future,
                "cleared": cleared,
            },
        )
        if cleared:
            wake_scheduler()
    return ti_listing.by_ids(session, ids)


def _task_ids(dag: Any, body: Any) -> set[str]:
    """The tasks a clear reaches: those named (every task when none is), and their relatives
    if asked. A ``[task_id, map_index]`` pair is refused unless its task is named whole."""
    if body.task_ids is None:
        return set(dag.task_dict)
    named = {t for t in body.task_ids if isinstance(t, str)}
    pairs = [t for t in body.task_ids if not isinstance(t, str) and t[0] not in named]
    if pairs:
        raise ApiError(
            400,
            f"Clearing single map indexes ({', '.join(f'{t}[{i}]' for t, i in pairs[:5])}) is "
            "not supported yet: give the task id to clear all of its map indexes",
        )
    if body.include_upstream or body.include_downstream:
        named |= ti_state.relatives(
            dag, named, upstream=body.include_upstream, downstream=body.include_downstream
        )
    return named


@router.post("/dags/{dag_id}/clearTaskInstances")
def post_clear_task_instances(
    dag_id: DagIdPath,
    body: ClearTaskInstancesBody,
    session: SessionDep,
    principal: PrincipalDep,
) -> TaskInstanceCollectionResponse:
    """Clear task instances so they run again (``dry_run``, the default, lists them only)."""
    return TaskInstanceCollectionResponse.of(clear_for(session, principal, dag_id, body))
