"""Backfills (``/api/v2``): list a DAG's, get one, create one (or dry-run it), pause,
unpause, cancel. The work is :mod:`tradewind.db.queries.backfills`, as the CLI's."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Query
from sqlalchemy.orm import Session

from tradewind.api.auth.principal import Principal
from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PageDep, PrincipalDep, SessionDep, order_by
from tradewind.api.errors import ApiError
from tradewind.api.routes.dag_run_common import (
    MAX_INT_ID,
    check_sort,
    unstorable,
    utc,
    wake_scheduler,
)
from tradewind.api.schemas.backfills import (
    BackfillCollectionResponse,
    BackfillPostBody,
    BackfillResponse,
    DryRunBackfillCollectionResponse,
    DryRunBackfillResponse,
)
from tradewind.api.schemas.dag_runs import Text, order_by_doc
from tradewind.db.models import Backfill
from tradewind.db.queries import audit, backfill_listing, backfills
from tradewind.exceptions import UnknownDagError
from tradewind.scheduler.backfill import BackfillAction

router = APIRouter(tags=["Backfill"])

BackfillId = Annotated[int, Path(ge=0, le=MAX_INT_ID)]


def _find(session: Session, principal: Principal, action: Action, backfill_id: int) -> Backfill:
    """The backfill, once the caller may do ``action`` to backfills of its DAG (403 first
    for a caller who may do it to none)."""
    if principal.dag_ids_with(action, Resource.BACKFILL) == set():
        principal.require(action, Resource.BACKFILL)
    backfill = session.get(Backfill, backfill_id)
    if backfill is None:
        raise ApiError(404, f"Could not find backfill with id {backfill_id}")
    principal.require(action, Resource.BACKFILL, backfill.dag_id)
    return backfill


def _response(session: Session, backfill: Backfill) -> BackfillResponse:
    return BackfillResponse.of(backfill, backfill_listing.display_name(session, backfill.dag_id))


@router.get("/backfills")
def list_backfills(
    dag_id: Annotated[Text, Query()],
    page: PageDep,
    session: SessionDep,
    principal: PrincipalDep,
    order_by_: Annotated[
        list[Text], Query(alias="order_by", json_schema_extra=order_by_doc(("id",), many=True))
    ] = ["id"],  # noqa: B006
) -> BackfillCollectionResponse:
    """A DAG's backfills (``order_by`` ``id`` or ``-id``)."""
    principal.require(Action.READ, Resource.BACKFILL, dag_id)
    check_sort(order_by_)
    order_by(order_by_, {"id": Backfill.id}, "id")
    descending = bool(order_by_) and order_by_[0].strip().startswith("-")
    if unstorable(dag_id):
        return BackfillCollectionResponse(backfills=[], total_entries=0)
    rows, total = backfill_listing.page_backfills(
        session, dag_id, descending=descending, limit=page.limit, offset=page.offset
    )
    return BackfillCollectionResponse(
        backfills=[BackfillResponse.of(b, name) for b, name in rows], total_entries=total
    )


@router.get("/backfills/{backfill_id}")
def get_backfill(
    backfill_id: BackfillId, session: SessionDep, principal: PrincipalDep
) -> BackfillResponse:
    """One backfill."""
    return _response(session, _find(session, principal, Action.READ, backfill_id))


def _set_paused(
    session: Session, principal: Principal, backfill_id: int, paused: bool
) -> BackfillResponse:
    _find(session, principal, Action.EDIT, backfill_id)
    try:
        backfill = backfills.set_paused(session, backfill_id, paused)
    except backfills.BackfillCompleted:
        raise ApiError(409, "Backfill is already completed.") from None
    audit.record(
        session,
        "pause_backfill" if paused else "unpause_backfill",
        dag_id=backfill.dag_id,
        owner=principal.username,
        extra={"backfill_id": backfill_id},
    )
    return _response(session, backfill)


@router.put("/backfills/{backfill_id}/pause")
def pause_backfill(
    backfill_id: BackfillId, session: SessionDep, principal: PrincipalDep
) -> BackfillResponse:
    """None of its runs start until it is unpaused (running ones go on)."""
    return _set_paused(session, principal, backfill_id, True)


@router.put("/backfills/{backfill_id}/unpause")
def unpause_backfill(
    backfill_id: BackfillId,
    background: BackgroundTasks,
    session: SessionDep,
    principal: PrincipalDep,
) -> BackfillResponse:
    """Its queued runs may start again."""
    response = _set_paused(session, principal, backfill_id, False)
    background.add_task(wake_scheduler)
    return response


@router.put("/backfills/{backfill_id}/cancel")
def cancel_backfill(
    backfill_id: BackfillId, session: SessionDep, principal: PrincipalDep
) -> BackfillResponse:
    """Its runs not started yet fail, running ones finish, and it is complete."""
    _find(session, principal, Action.EDIT, backfill_id)
    try:
        backfill, failed = backfills.cancel(session, backfill_id)
    except backfills.BackfillCompleted:
        raise ApiError(409, "Backfill is already completed.") from None
    audit.record(
        session,
        "cancel_backfill",
        dag_id=backfill.dag_id,
        owner=principal.username,
        extra={"backfill_id": backfill_id, "failed_runs": failed},
    )
    return _response(session, backfill)


def _dates(body: BackfillPostBody) -> tuple[datetime, datetime]:
    """``from_date`` and ``to_date`` in UTC (naive ones are read as UTC, as Airflow does)."""
    start, end = utc(body.from_date, "from_date"), utc(body.to_date, "to_date")
    assert start is not None and end is not None
    return start, end


def _refused(err: Exception, dag_id: str) -> ApiError:
    """The answer for a backfill request the queries refuse (Airflow's codes)."""
    from sqlalchemy.exc import IntegrityError

    if isinstance(err, UnknownDagError):
        return ApiError(404, f"Could not find dag {dag_id}")
    if isinstance(err, backfills.AlreadyRunningBackfill):
        return ApiError(409, f"There is already a running backfill for dag {dag_id}")
    if isinstance(err, IntegrityError):
        return ApiError(409, f"The runs of DAG {dag_id!r} changed meanwhile: try again")
    # As a validation error's detail (a list), so the body matches the documented 422.
    return ApiError(422, [{"type": "value_error", "loc": ["body"], "msg": str(err), "input": None}])


_REFUSED = (
    UnknownDagError,
    backfills.AlreadyRunningBackfill,
    backfills.NoBackfillRunsToCreate,
    ValueError,  # dates, schedule, depends_on_past, conf refused by the params
)


@router.post("/backfills")
def create_backfill(
    body: BackfillPostBody,
    background: BackgroundTasks,
    session: SessionDep,
    principal: PrincipalDep,
) -> BackfillResponse:
    """Create a run for every interval of the DAG's schedule in ``[from_date, to_date]`` that
    has ended (see ``tradewind backfill create``); the scheduler starts them in order."""
    from sqlalchemy.exc import IntegrityError

    principal.require(Action.CREATE, Resource.BACKFILL, body.dag_id)
    if unstorable(body.dag_id):
        raise ApiError(404, f"Could not find dag {body.dag_id}")
    start, end = _dates(body)
    try:
        backfill, plan = backfills.create_backfill(
            session,
            body.dag_id,
            from_date=start,
            to_date=end,
            reprocess_behavior=body.reprocess_behavior,
            max_active_runs=body.max_active_runs,
            run_backwards=body.run_backwards,
            dag_run_conf=body.dag_run_conf,
            max_runs=backfills.MAX_API_BACKFILL_RUNS,
        )
    except (*_REFUSED, IntegrityError) as err:
        raise _refused(err, body.dag_id) from None
    started = sum(1 for item in plan if item.action is not BackfillAction.SKIP)
    audit.record(
        session,
        "create_backfill",
        dag_id=body.dag_id,
        owner=principal.username,
        extra={"backfill_id": backfill.id, "runs": started, **body.model_dump(mode="json")},
    )
    if started:
        background.add_task(wake_scheduler)
    return _response(session, backfill)


@router.post("/backfills/dry_run")
def create_backfill_dry_run(
    body: BackfillPostBody, session: SessionDep, principal: PrincipalDep
) -> DryRunBackfillCollectionResponse:
    """The logical dates a backfill would run (new runs and finished runs run again)."""
    principal.require(Action.CREATE, Resource.BACKFILL, body.dag_id)
    if unstorable(body.dag_id):
        raise ApiError(404, f"Could not find dag {body.dag_id}")
    start, end = _dates(body)
    try:
        _, _, plan = backfills.plan(
            session,
            body.dag_id,
            from_date=start,
            to_date=end,
            reprocess_behavior=body.reprocess_behavior,
            run_backwards=body.run_backwards,
            dag_run_conf=body.dag_run_conf,
            max_runs=backfills.MAX_API_BACKFILL_RUNS,
        )
    except _REFUSED as err:
        raise _refused(err, body.dag_id) from None
    dates = [
        DryRunBackfillResponse(logical_date=item.logical_date)
        for item in plan
        if item.action is not BackfillAction.SKIP
    ]
    return DryRunBackfillCollectionResponse(backfills=dates, total_entries=len(dates))
