"""XCom entries of a task instance: list, read, add and edit (``/api/v2``), list and read
(``/api/v1``). ``~`` for the DAG, run or task lists across all of them.

Reading needs read access to the DAG's XComs (Viewer and up, or the DAG's
``access_control``); adding and editing, Op or Admin. Values are written through the XCom
backend, so a big one goes to object storage as a task's would, and what an edited value
referred to there is removed once the change is committed.

The scheduler sends the value a mapped task expands over along with each mapped copy it
queues, read once per run and kept until the run ends (or the upstream runs again). So an
edit of such a value while its run is running would reach some copies and not others:
it is refused (409) until the run has finished. Adding a new entry is always safe (a value
the scheduler found missing is read by each copy itself).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request
from sqlalchemy import Engine

from tradewind.api.auth.principal import Principal
from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PageDep, PrincipalDep, SessionDep
from tradewind.api.errors import ApiError, ProblemDetail
from tradewind.api.routes.xcom_values import (
    native,
    read_value,
    storage_secrets,
    stringified,
)
from tradewind.api.schemas.bulk import INT_MAX
from tradewind.api.schemas.xcom import (
    XComCollectionResponse,
    XComCreateBody,
    XComResponse,
    XComResponseNative,
    XComResponseString,
    XComUpdateBody,
    XComV1,
    XComV1Collection,
    XComV1Item,
)
from tradewind.db.queries import audit
from tradewind.db.queries import xcom_listing as queries
from tradewind.db.queries.search import storable
from tradewind.xcom.backend import BaseXCom, XComResult, result_of
from tradewind.xcom.base import XComKey

log = logging.getLogger(__name__)
PREFIX = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries"
router = APIRouter(tags=["XCom"])
v1_router = APIRouter(tags=["XCom"])

#: Object storage, or the XCom backend's settings, can fail where the request cannot.
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ProblemDetail, "description": "XCom storage or backend unavailable"}
}
MapIndex = Annotated[int, Query(ge=-1, le=INT_MAX)]


def _backend() -> BaseXCom:
    """This process's XCom backend (503 when the setting names one that cannot be made)."""
    from tradewind.exceptions import XComError
    from tradewind.xcom.backend import get_backend

    try:
        return get_backend()
    except XComError as err:
        raise ApiError(503, f"the XCom backend is not usable: {err}") from None


def _entries(
    session: SessionDep, principal: Principal, page: PageDep, where: queries.XComFilter
) -> tuple[list[queries.XComEntry], int]:
    """A page of entries the caller may read (403 for one DAG it may not)."""
    if where.dag_id == queries.ANY:
        readable = principal.dag_ids_with(Action.READ, Resource.XCOM)
        if readable == set():  # reads no DAG's XComs at all
            principal.require(Action.READ, Resource.XCOM)
        if readable is not None:
            where = dataclasses.replace(where, readable_dag_ids=frozenset(readable))
    else:
        principal.require(Action.READ, Resource.XCOM, where.dag_id)
    texts = [where.key, where.key_pattern, where.run_id_pattern, where.task_id_pattern]
    texts.append(where.dag_display_name_pattern)
    if any(t is not None and not storable(t) for t in texts):
        raise ApiError(400, "filters must not contain NUL characters or lone surrogates")
    if not all(storable(t) for t in (where.dag_id, where.run_id, where.task_id)):
        return [], 0
    return queries.xcom_page(session, where, limit=page.limit, offset=page.offset)


@router.get(PREFIX)
def get_xcom_entries(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    xcom_key: str | None = None,
    map_index: Annotated[int | None, Query(ge=-1, le=INT_MAX)] = None,
    xcom_key_pattern: str | None = None,
    dag_display_name_pattern: str | None = None,
    run_id_pattern: str | None = None,
    task_id_pattern: str | None = None,
) -> XComCollectionResponse:
    """Entries without their values (they can be large: read one entry for its value).
    ``~`` as the DAG, run or task id lists across all of them."""
    where = queries.XComFilter(
        dag_id=dag_id,
        run_id=dag_run_id,
        task_id=task_id,
        map_index=map_index,
        key=xcom_key,
        key_pattern=xcom_key_pattern,
        run_id_pattern=run_id_pattern,
        task_id_pattern=task_id_pattern,
        dag_display_name_pattern=dag_display_name_pattern,
    )
    entries, total = _entries(session, principal, page, where)
    return XComCollectionResponse(
        xcom_entries=[XComResponse.model_validate(XComResponse.fields(e)) for e in entries],
        total_entries=total,
    )


def _entry(session: SessionDep, key: XComKey) -> queries.XComEntry | None:
    if not all(storable(t) for t in (key.dag_id, key.run_id, key.task_id, key.key)):
        return None
    return queries.get_entry(session, key)


def _value(request: Request, entry: queries.XComEntry, deserialize: bool) -> object:
    assert entry.value is not None
    result = XComResult(
        entry.dag_id, entry.run_id, entry.task_id, entry.map_index, entry.key, entry.value
    )
    backend = _backend()
    if not deserialize:
        return read_value(backend, result, deserialize=False)
    with storage_secrets(request.app.state.engine):
        return read_value(backend, result, deserialize=True)


@router.get(
    f"{PREFIX}/{{xcom_key}}",
    response_model=XComResponseNative | XComResponseString,
    responses=UNAVAILABLE,
)
def get_xcom_entry(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    xcom_key: str,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    map_index: MapIndex = -1,
    deserialize: bool = False,
    stringify: bool = False,
) -> XComResponseNative | XComResponseString:
    """One entry with its value: a preview (nothing is downloaded), or with
    ``deserialize`` the whole value; ``stringify`` renders it as text."""
    principal.require(Action.READ, Resource.XCOM, dag_id)
    entry = _entry(session, XComKey(dag_id, dag_run_id, task_id, map_index, xcom_key))
    if entry is None:
        raise ApiError(404, f"XCom entry with key: `{xcom_key}` not found")
    value = _value(request, entry, deserialize)
    fields = XComResponse.fields(entry)
    if stringify:
        return XComResponseString.model_validate({**fields, "value": stringified(value)})
    return XComResponseNative.model_validate({**fields, "value": native(value)})


def _serialize(backend: BaseXCom, key: XComKey, value: object) -> XComResult:
    """What the backend stores for ``value`` (object storage for a big one); 400 if it
    cannot be stored, 503 if its storage fails."""
    from tradewind.exceptions import XComError
    from tradewind.xcom.backend import serialize_under

    try:
        return serialize_under(backend, key, value)
    except (XComError, TypeError, ValueError) as err:
        raise ApiError(400, f"Couldn't serialise the XCom with key: `{key.key}`: {err}") from None
    except Exception as err:  # storage is another system: anything may fail there
        log.warning("storing XCom %r failed", key.key, exc_info=True)
        raise ApiError(503, f"cannot store XCom `{key.key}`: {err}") from None


def _purge(engine: Engine, backend: BaseXCom, results: list[XComResult]) -> None:
    """Remove what rows no longer refer to (after the change is committed)."""
    from tradewind.db.queries.xcom_purge import purge_deleted

    with storage_secrets(engine):
        purge_deleted(results, backend)


@router.post(PREFIX, status_code=201, responses=UNAVAILABLE)
def create_xcom_entry(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    body: XComCreateBody,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> XComResponseNative:
    """Add an entry to a task instance of a run (409 if the key is taken)."""
    from tradewind.db.queries.dags import load_serialized_dag

    principal.require(Action.CREATE, Resource.XCOM, dag_id)
    ids = (dag_id, dag_run_id, task_id)
    run = queries.run_of(session, dag_id, dag_run_id) if all(map(storable, ids)) else None
    dag = (
        load_serialized_dag(session, dag_id, run[1] if run else None) if storable(dag_id) else None
    )
    if dag is None:
        raise ApiError(404, f"Dag with ID: `{dag_id}` was not found")
    if task_id not in dag.task_dict:
        raise ApiError(404, f"Task with ID: `{task_id}` not found in dag: `{dag_id}`")
    if run is None:
        raise ApiError(404, f"Dag Run with ID: `{dag_run_id}` not found for dag: `{dag_id}`")
    key = XComKey(dag_id, dag_run_id, task_id, body.map_index, body.key)
    taken = f"The XCom with key: `{body.key}` with mentioned task instance already exists."
    if queries.get_entry(session, key) is not None:
        raise ApiError(409, taken)
    backend = _backend()
    engine = request.app.state.engine
    with storage_secrets(engine):
        result = _serialize(backend, key, body.value)
    try:
        queries.insert_entry(session, key, result.value)
    except queries.XComExistsError:
        _purge(engine, backend, [result])
        raise ApiError(409, taken) from None
    audit.record(
        session,
        "create_xcom_entry",
        dag_id=dag_id,
        run_id=dag_run_id,
        task_id=task_id,
        map_index=body.map_index,
        owner=principal.username,
        extra={"key": body.key},
    )
    entry = queries.get_entry(session, key)
    assert entry is not None
    return XComResponseNative.model_validate(
        {**XComResponse.fields(entry), "value": native(body.value)}
    )


def _refuse_while_prefetched(session: SessionDep, key: XComKey) -> None:
    """409 while the scheduler may be handing this value to mapped copies (see the
    module): it feeds a mapped task's expansion, and the run is running."""
    from tradewind.db.queries.dags import load_serialized_dag

    if key.map_index != -1:
        return
    run = queries.run_of(session, key.dag_id, key.run_id)
    if run is None or run[0] != "running":
        return
    dag = load_serialized_dag(session, key.dag_id, run[1])
    if dag is None:
        return
    consumers = sorted(
        task.task_id
        for task in dag.task_dict.values()
        if task.expand_input is not None
        and (key.task_id, key.key) in task.expand_input.references()
    )
    if consumers:
        raise ApiError(
            409,
            f"XCom `{key.key}` of task `{key.task_id}` is what mapped task(s) "
            f"{', '.join(consumers)} expand over, and run `{key.run_id}` is running: the "
            "scheduler hands this value to each mapped copy it queues, so changing it now "
            "would run copies on different inputs. Change it once the run has finished "
            "(then clear the mapped tasks to run them on the new value).",
        )


@router.patch(f"{PREFIX}/{{xcom_key}}", responses=UNAVAILABLE)
def update_xcom_entry(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    xcom_key: str,
    body: XComUpdateBody,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    principal: PrincipalDep,
) -> XComResponseNative:
    """Give an entry a new value (404 if there is none; 409 while mapped copies may be
    reading it, see the module)."""
    principal.require(Action.EDIT, Resource.XCOM, dag_id)
    key = XComKey(dag_id, dag_run_id, task_id, body.map_index, xcom_key)
    missing = f"The XCom with key: `{xcom_key}` with mentioned task instance doesn't exist."
    if _entry(session, key) is None:
        raise ApiError(404, missing)
    _refuse_while_prefetched(session, key)
    backend = _backend()
    engine = request.app.state.engine
    with storage_secrets(engine):
        result = _serialize(backend, key, body.value)
    old = queries.replace_value(session, key, result.value)
    if old is None:  # deleted meanwhile
        _purge(engine, backend, [result])
        raise ApiError(404, missing)
    if old != result.value:
        background.add_task(_purge, engine, backend, [result_of(key, old)])
    audit.record(
        session,
        "update_xcom_entry",
        dag_id=dag_id,
        run_id=dag_run_id,
        task_id=task_id,
        map_index=body.map_index,
        owner=principal.username,
        extra={"key": xcom_key},
    )
    entry = queries.get_entry(session, key)
    assert entry is not None
    return XComResponseNative.model_validate(
        {**XComResponse.fields(entry), "value": native(body.value)}
    )


# -- /api/v1 (Airflow 2) -------------------------------------------------------------------


@v1_router.get(PREFIX)
def get_xcom_entries_v1(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    map_index: Annotated[int | None, Query(ge=-1, le=INT_MAX)] = None,
    xcom_key: str | None = None,
) -> XComV1Collection:
    """Entries without values; ``~`` for the DAG, run or task lists across all."""
    where = queries.XComFilter(
        dag_id=dag_id, run_id=dag_run_id, task_id=task_id, map_index=map_index, key=xcom_key
    )
    entries, total = _entries(session, principal, page, where)
    return XComV1Collection(
        xcom_entries=[XComV1Item.model_validate(XComV1Item.fields(e)) for e in entries],
        total_entries=total,
    )


@v1_router.get(f"{PREFIX}/{{xcom_key}}", responses=UNAVAILABLE)
def get_xcom_entry_v1(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    xcom_key: str,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    map_index: MapIndex = -1,
    deserialize: bool = False,
    stringify: bool = True,
) -> XComV1:
    """One entry with its value; as Airflow 2, rendered as text unless ``stringify=false``."""
    principal.require(Action.READ, Resource.XCOM, dag_id)
    entry = _entry(session, XComKey(dag_id, dag_run_id, task_id, map_index, xcom_key))
    if entry is None:
        raise ApiError(404, f"XCom entry with key: `{xcom_key}` not found")
    value = _value(request, entry, deserialize)
    rendered = stringified(value) if stringify else native(value)
    return XComV1.model_validate({**XComV1Item.fields(entry), "value": rendered})
