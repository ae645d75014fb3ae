"""``DELETE /dags/{dag_id}`` (v2 and v1): the DAG and every trace of it, as
``tradewind dags delete`` does.

The rows go in one transaction (:func:`~tradewind.db.queries.delete_dag.delete_dag`), with an
audit row saying who deleted the DAG; after the commit, what they referred to outside the
database goes too: XCom values in object storage and the DAG's task log folder. A DAG with a
running task instance is not deleted (409, as in Airflow). The DAG's file is left alone: if
it still defines the DAG, the DAG processor adds it again.
"""

from __future__ import annotations

import contextlib
import logging
import shutil

from fastapi import APIRouter, Request, Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tradewind.api.auth.principal import Principal
from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PrincipalDep, SessionDep
from tradewind.api.errors import ApiError
from tradewind.db.models import XComRow
from tradewind.db.queries import audit
from tradewind.db.queries import xcom as xcom_queries
from tradewind.db.queries.dag_listing import dag_row
from tradewind.db.queries.delete_dag import delete_dag as delete_dag_rows
from tradewind.db.queries.delete_dag import has_running_tasks
from tradewind.xcom.backend import BaseXCom, XComResult, get_backend

log = logging.getLogger(__name__)

router = APIRouter(tags=["DAG"])
v1_router = APIRouter(tags=["DAG"])


def delete_dag_everywhere(
    session: Session, request: Request, principal: Principal, dag_id: str
) -> None:
    """Check, delete and commit, then remove what is stored outside the database."""
    principal.require(Action.DELETE, Resource.DAG, dag_id)
    if dag_row(session, dag_id) is None:
        raise ApiError(404, f"Dag with id: {dag_id} was not found")
    if has_running_tasks(session, dag_id):
        raise ApiError(409, f"Task instances of dag with id: '{dag_id}' are still running")
    backend = get_backend()
    stored = (
        xcom_queries.rows_where(
            session.connection(), XComRow.dag_id == dag_id, prefix=backend.purged_prefix
        )
        if backend.purges
        else []
    )
    counts = delete_dag_rows(session, dag_id)
    audit.record(session, "delete_dag", dag_id=dag_id, owner=principal.username, extra=counts)
    session.commit()
    purge_stored(request.app.state.engine, dag_id, stored, backend)
    remove_log_folder(dag_id)


def purge_stored(engine: Engine, dag_id: str, stored: list[XComResult], backend: BaseXCom) -> None:
    """Remove the DAG's XCom data in object storage. Storage may use a connection kept in
    the metadata DB (``xcom.objectstorage_conn_id``), so connections are read as the service
    reads them; without a usable secrets setup it goes on without them. Failures are logged
    (``tradewind xcom purge`` removes leftovers later), never raised: the rows are gone."""
    from tradewind.db.queries.xcom_purge import purge_dag_storage, purge_deleted

    with contextlib.ExitStack() as stack:
        try:
            from tradewind.scheduler.worker_services import service_secrets
            from tradewind.sdk.secrets_access import use_reader

            stack.enter_context(use_reader(service_secrets(engine)))
        except Exception as err:  # no Fernet key, or a malformed one
            log.warning("purging XCom storage without metadata DB connections: %s", err)
        purge_deleted(stored, backend)
        purge_dag_storage(dag_id, backend)


def remove_log_folder(dag_id: str) -> int:
    """Remove ``<logs>/dag_id=<dag_id>``; how many files went."""
    from tradewind.task_logs.paths import logs_folder, safe_part

    try:
        folder = logs_folder() / f"dag_id={safe_part(dag_id, 'dag_id')}"
    except ValueError:
        return 0  # an id that cannot be a folder name has no log folder
    if not folder.is_dir():
        return 0
    count = sum(1 for p in folder.rglob("*") if p.is_file())
    shutil.rmtree(folder, ignore_errors=True)
    return count


@router.delete("/dags/{dag_id}", status_code=204)
def delete_dag(
    dag_id: str, request: Request, session: SessionDep, principal: PrincipalDep
) -> Response:
    """Delete the DAG, its runs, task instances, XCom, versions, code, audit rows and logs."""
    delete_dag_everywhere(session, request, principal, dag_id)
    return Response(status_code=204)


@v1_router.delete("/dags/{dag_id}", status_code=204)
def delete_dag_v1(
    dag_id: str, request: Request, session: SessionDep, principal: PrincipalDep
) -> Response:
    """Airflow 2's ``DELETE /dags/{dag_id}``: the same as v2's."""
    delete_dag_everywhere(session, request, principal, dag_id)
    return Response(status_code=204)
