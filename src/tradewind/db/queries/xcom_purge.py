"""Removing XCom data kept outside the metadata DB, so nothing is orphaned.

Rows are deleted first, in their transaction; what they referred to goes after the commit
(:func:`purge_deleted`), so a rolled-back delete never leaves a row pointing at nothing. A
failure there (storage unreachable) is logged, not raised: the rows are gone either way, and
:func:`purge_older_than` (``tradewind xcom purge``) also removes stored objects no row
refers to, such as those of a task killed between writing its value and recording it.

>>> purge_deleted([])  # nothing deleted, nothing to do
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from tradewind.db.models import XComRow
from tradewind.db.queries import xcom as xcom_queries
from tradewind.xcom.backend import BaseXCom, XComResult, get_backend
from tradewind.xcom.reference import REF_START, parse_ref

log = logging.getLogger(__name__)


def purge_deleted(rows: list[XComResult], backend: BaseXCom | None = None) -> None:
    """Remove what these deleted rows referred to outside the DB (after the commit)."""
    if not rows:
        return
    backend = backend or get_backend()
    try:
        backend.purge_many(rows)
    except Exception as err:  # storage is another system: anything may fail there
        log.warning(
            "could not remove the stored data of %d deleted XCom value(s): %s; "
            "`tradewind xcom purge` removes it later",
            len(rows),
            err,
        )


def purge_dag_storage(dag_id: str, backend: BaseXCom | None = None) -> None:
    """Remove everything object storage holds for ``dag_id`` (its folder), including
    objects no row refers to any more."""
    from tradewind.xcom.object_storage_xcom import ObjectStorageXCom

    backend = backend or get_backend()
    if isinstance(backend, ObjectStorageXCom) and backend.store is not None:
        try:
            backend.store.delete_prefix(backend.store.prefix_url(dag_id))
        except Exception as err:  # see purge_deleted
            log.warning("could not remove the stored XCom data of DAG %s: %s", dag_id, err)


@dataclass
class PurgeReport:
    """What :func:`purge_older_than` removed."""

    rows: int = 0
    orphans: int = 0


def purge_older_than(
    session: Session,
    cutoff: datetime,
    *,
    dag_id: str | None = None,
    dry_run: bool = False,
    backend: BaseXCom | None = None,
) -> PurgeReport:
    """Delete XCom rows older than ``cutoff`` (of one DAG, or all) and what they refer to,
    and stored objects older than ``cutoff`` that no row refers to. The caller commits;
    stored data goes after that (:meth:`PurgeReport` counts both)."""
    backend = backend or get_backend()
    condition = XComRow.timestamp < cutoff
    if dag_id is not None:
        condition = condition & (XComRow.dag_id == dag_id)
    report = PurgeReport()
    if dry_run:
        report.rows = xcom_queries.count_where(session.connection(), condition)
        report.orphans = len(_orphans(session, cutoff, dag_id, backend))
        return report
    deleted = xcom_queries.delete_where(session.connection(), condition, returning=True)
    report.rows = len(deleted)
    orphans = _orphans(session, cutoff, dag_id, backend)
    report.orphans = len(orphans)
    session.commit()
    purge_deleted(deleted, backend)
    if orphans:
        from tradewind.xcom.object_storage_xcom import ObjectStorageXCom

        assert isinstance(backend, ObjectStorageXCom) and backend.store is not None
        backend.store.delete(orphans)
    return report


def _orphans(
    session: Session, cutoff: datetime, dag_id: str | None, backend: BaseXCom
) -> list[str]:
    """Stored objects older than ``cutoff`` that no row refers to."""
    from tradewind.xcom.object_storage_xcom import ObjectStorageXCom

    if not isinstance(backend, ObjectStorageXCom) or backend.store is None:
        return []
    store = backend.store
    prefix = store.prefix_url(dag_id) if dag_id is not None else None
    start = REF_START.encode()
    referred: set[str] = set()
    query = xcom_queries.values_starting_with(session.connection(), start, dag_id)
    for value in query:
        ref = parse_ref(value)
        if ref is not None:
            referred.add(ref.url)
    return [
        item.url
        for item in store.list_objects(prefix)
        # An object of unknown age may be a value being pushed right now: kept.
        if item.url not in referred and item.modified is not None and item.modified < cutoff
    ]
