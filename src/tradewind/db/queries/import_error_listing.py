"""Reading import errors (DAG files that failed to load) for the API: pages and single rows.

The DAG processor writes them (:func:`tradewind.db.queries.dags.record_import_error`), one
row per file, keyed by the file's path.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from tradewind.db.models import ImportError_
from tradewind.db.queries.search import search_clause, storable

_err = ImportError_.__table__

COLUMNS = (_err.c.id, _err.c.timestamp, _err.c.filename, _err.c.stacktrace)

#: ``order_by`` names (Airflow 3's and 2's). One bundle: ordering by it is ordering by id.
ORDERABLE: dict[str, Any] = {
    "id": _err.c.id,
    "import_error_id": _err.c.id,
    "timestamp": _err.c.timestamp,
    "filename": _err.c.filename,
    "bundle_name": _err.c.id,
    "stacktrace": _err.c.stacktrace,
}


def list_import_errors(
    session: Session,
    *,
    filename_pattern: str | None = None,
    order: list[Any],
    limit: int | None,
    offset: int,
) -> tuple[list[Any], int]:
    """A page of import errors and how many there are (whose file name matches the
    pattern, when one is given)."""
    where: list[Any] = []
    if filename_pattern is not None:
        clause = search_clause(_err.c.filename, filename_pattern)
        if not storable(filename_pattern):
            clause = false()
        if clause is not None:
            where.append(clause)
    query = select(*COLUMNS).where(*where).order_by(*order, _err.c.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    rows = list(session.execute(query).all())
    total = session.execute(select(func.count()).select_from(_err).where(*where)).scalar_one()
    return rows, int(total)


def get_import_error(session: Session, import_error_id: int) -> Any:
    return session.execute(select(*COLUMNS).where(_err.c.id == import_error_id)).first()
