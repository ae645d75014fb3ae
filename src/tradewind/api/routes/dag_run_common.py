"""What the DAG run routes of ``/api/v2`` and ``/api/v1`` share: access, lookups, the
serialized-DAG cache, dates, and the work done after a commit (waking the scheduler,
removing a deleted run's stored XCom and logs). No routes here."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request
from sqlalchemy.orm import Session

from tradewind.api.auth.principal import Principal
from tradewind.api.auth.roles import Action, Resource
from tradewind.api.errors import ApiError
from tradewind.db.models import DagRun
from tradewind.db.queries import dagrun_listing

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from tradewind.db.queries.dags import SerializedDagCache
    from tradewind.serialization.dag_json import SerializedDAG
    from tradewind.xcom.backend import XComResult

log = logging.getLogger(__name__)

#: At most this many ``order_by`` values (Airflow's limit).
MAX_SORT_PARAMS = 10
#: Largest integer id accepted in a path or filter (the columns are 32-bit).
MAX_INT_ID = 2**31 - 1


def dag_cache(request: Request) -> SerializedDagCache:
    """The app's serialized DAGs by version id (see :func:`tradewind.api.app.create_app`)."""
    cache: SerializedDagCache = request.app.state.dag_cache
    return cache


def dag_of_run(request: Request, session: Session, run: DagRun) -> SerializedDAG:
    """The serialized DAG ``run`` follows (its latest version if that one is gone); 404
    when the DAG has none."""
    cache = dag_cache(request)
    dag = cache.get(session, run.dag_version_id) if run.dag_version_id is not None else None
    if dag is None:
        target = dagrun_listing.trigger_target(session, run.dag_id)
        if target is not None and target.version is not None:
            dag = cache.get(session, target.version.id)
    if dag is None:
        raise ApiError(404, f"Dag with id {run.dag_id} was not found")
    return dag


def unstorable(*ids: str) -> bool:
    """Whether an id from a path cannot be in the database (it has a NUL, which PostgreSQL
    refuses in a query): such a thing is not found, without asking."""
    return any("\x00" in value for value in ids)


def run_not_found(dag_id: str, run_id: str) -> ApiError:
    """Airflow 3's 404 for a run."""
    return ApiError(404, f"The DagRun with dag_id: `{dag_id}` and run_id: `{run_id}` was not found")


def find_run(session: Session, dag_id: str, run_id: str) -> tuple[DagRun, str | None]:
    """The run and its DAG's display name; 404 otherwise."""
    found = (
        None
        if unstorable(dag_id, run_id)
        else dagrun_listing.get_run_with_dag(session, dag_id, run_id)
    )
    if found is None:
        raise run_not_found(dag_id, run_id)
    return found


def listed_dags(
    session: Session, principal: Principal, dag_id: str
) -> tuple[list[str] | None, set[str] | None]:
    """``(dag_ids, readable)`` to list the runs of ``dag_id`` (``~``: every DAG the caller
    may read). 403 without access, then 404 for an unknown DAG."""
    if dag_id == "~":
        return None, readable_dags(principal)
    principal.require(Action.READ, Resource.DAG_RUN, dag_id)
    exists = not unstorable(dag_id) and dagrun_listing.dag_display_name(session, dag_id)[0]
    if not exists:
        raise ApiError(404, f"The DAG with dag_id: `{dag_id}` was not found")
    return [dag_id], None


def readable_dags(principal: Principal) -> set[str] | None:
    """The DAGs whose runs the caller may read (``None``: all); 403 when none."""
    readable = principal.dag_ids_with(Action.READ, Resource.DAG_RUN)
    if readable == set():
        principal.require(Action.READ, Resource.DAG_RUN)
    return readable


def utc(value: datetime | None, what: str = "date") -> datetime | None:
    """``value`` in UTC (naive values are read as UTC, as Airflow does); 400 for a date
    that cannot be expressed in UTC."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ApiError(400, f"Invalid {what}: {value.isoformat()} is out of range") from None


def check_sort(values: Sequence[str] | str | None) -> None:
    """400 for more ``order_by`` values than Airflow takes."""
    if isinstance(values, list | tuple) and len(values) > MAX_SORT_PARAMS:
        raise ApiError(
            400,
            f"Ordering with more than {MAX_SORT_PARAMS} parameters is not allowed. "
            f"Provided: {list(values)}",
        )


def wake_scheduler() -> None:
    """Nudge a local scheduler (after the commit: it must see what was written)."""
    from tradewind.scheduler.wakeup import notify

    with contextlib.suppress(OSError):
        notify()


def xcom_backend() -> Any:
    """This process's XCom backend (it says which deleted rows need their data removed)."""
    from tradewind.xcom.backend import get_backend

    return get_backend()


def remove_run_traces(
    engine: Engine, backend: Any, dag_id: str, run_id: str, stored: list[XComResult]
) -> None:
    """After a run's rows are deleted and committed: what its XCom rows stored outside the
    database, anything else under the run's storage folder, and its log files. Failures are
    logged (the rows are gone either way; ``tradewind xcom purge`` finds leftovers)."""
    import shutil

    from tradewind.db.queries.xcom_purge import purge_deleted
    from tradewind.scheduler.worker_services import service_secrets
    from tradewind.sdk.secrets_access import use_reader
    from tradewind.task_logs.paths import logs_folder, safe_part

    if backend.purges:
        with use_reader(service_secrets(engine)):
            purge_deleted(stored, backend)
            store = getattr(backend, "store", None)
            if store is not None:
                try:
                    store.delete_prefix(store.prefix_url(dag_id, run_id))
                except Exception as err:  # storage is another system
                    log.warning("could not remove stored XCom of run %s: %s", run_id, err)
    try:
        folder = (
            logs_folder() / f"dag_id={safe_part(dag_id, 'dag_id')}"
            f"/run_id={safe_part(run_id, 'run_id')}"
        )
    except ValueError:
        return
    if folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)


def trigger_run(
    request: Request,
    session: Session,
    principal: Principal,
    dag_id: str,
    *,
    logical_date: datetime | None,
    data_interval: tuple[datetime, datetime] | None = None,
    run_after: datetime | None = None,
    run_id: str | None = None,
    conf: dict[str, Any] | None = None,
    note: str | None = None,
) -> tuple[DagRun, dagrun_listing.TriggerTarget]:
    """Create a manual run of ``dag_id`` for the caller, with its audit row, in the request's
    transaction: one read of the DAG, the serialized DAG from the cache, the inserts.

    403 without access; 404 for an unknown or stale DAG; 400 for a DAG whose file has an
    import error, a bad run id or a conf its params refuse; 409 for a run id or logical date
    the DAG already has. Paused DAGs accept runs (they start when it is unpaused).
    """
    from sqlalchemy.exc import IntegrityError

    from tradewind.db.queries import audit, dagruns

    principal.require(Action.CREATE, Resource.DAG_RUN, dag_id)
    target = None if unstorable(dag_id) else dagrun_listing.trigger_target(session, dag_id)
    if target is None or target.is_stale:
        raise ApiError(404, f"DAG with dag_id: '{dag_id}' not found")
    if target.has_import_errors:
        raise ApiError(
            400, f"DAG with dag_id: '{dag_id}' has import errors and cannot be triggered"
        )
    dag = None if target.version is None else dag_cache(request).get(session, target.version.id)
    if dag is None or target.version is None:
        raise ApiError(404, f"DAG with dag_id: '{dag_id}' has not been serialized yet")
    try:
        run = dagruns.trigger_manual_run(
            session,
            dag,
            dag_version_id=target.version.id,
            logical_date=logical_date,
            run_id=run_id,
            data_interval=data_interval,
            run_after=run_after,
            conf=conf,
            note=note,
            triggering_user_name=principal.username,
        )
    except dagruns.DuplicateRunError as err:
        raise ApiError(409, str(err)) from None
    except IntegrityError:
        raise ApiError(
            409, f"DAG {dag_id!r} got a run with that run id or logical date meanwhile"
        ) from None
    except ValueError as err:  # a bad run id, conf refused by the params, a timetable error
        raise ApiError(400, str(err)) from None
    audit.record(
        session,
        "trigger_dag_run",
        dag_id=dag_id,
        run_id=run.run_id,
        owner=principal.username,
        extra={"logical_date": logical_date, "conf": conf or {}},
    )
    return run, target
