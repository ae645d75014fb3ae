"""DAGs as the service stores them: ``dag`` rows, serialized versions, source, import errors.

The DAG processor writes through these functions; the scheduler, the API and the CLI read
the latest :class:`~tradewind.serialization.dag_json.SerializedDAG` with
:func:`load_serialized_dag` and never import user code. A serialized version is immutable:
a changed DAG (new content hash) gets a new row with the next ``version_number``, and runs
keep pointing at the version they were created from.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from tradewind.db.models import DagCode, DagModel, DagTag, ImportError_, Job, SerializedDagModel

if TYPE_CHECKING:
    from tradewind.serialization.dag_json import SerializedDAG

PROCESSOR_JOB_TYPE = "DagProcessorJob"


def _now() -> datetime:
    return datetime.now(UTC)


# -- dag rows ----------------------------------------------------------------------------------


def get_dag_rows(session: Session, dag_ids: Iterable[str]) -> dict[str, DagModel]:
    ids = sorted(set(dag_ids))
    if not ids:
        return {}
    rows = session.scalars(select(DagModel).where(DagModel.dag_id.in_(ids)))
    return {row.dag_id: row for row in rows}


def upsert_dag(
    session: Session,
    dag: SerializedDAG,
    *,
    fileloc: str,
    paused_by_default: bool,
    now: datetime | None = None,
) -> tuple[DagModel, bool]:
    """Create or refresh the ``dag`` row from a serialized DAG; ``(row, created)``.

    A new DAG is paused as its ``is_paused_upon_creation`` says, else ``paused_by_default``
    (``core.dags_are_paused_at_creation``); an existing DAG keeps its paused state.
    """
    now = now or _now()
    row = session.get(DagModel, dag.dag_id)
    created = row is None
    if row is None:
        paused = dag.is_paused_upon_creation
        row = DagModel(
            dag_id=dag.dag_id,
            is_paused=paused_by_default if paused is None else bool(paused),
        )
        session.add(row)
    row.dag_display_name = dag.dag_display_name
    row.is_stale = False
    row.fileloc = fileloc
    row.owners = ", ".join(dag.owners)
    row.description = dag.description
    row.timetable_summary = dag.timetable.summary
    row.timetable_description = getattr(dag.timetable, "description", None)
    row.max_active_tasks = dag.max_active_tasks
    row.max_active_runs = dag.max_active_runs
    row.max_consecutive_failed_dag_runs = dag.max_consecutive_failed_dag_runs
    row.has_task_concurrency_limits = dag.has_task_concurrency_limits
    row.access_control = dag.access_control or None
    row.last_parsed_time = now
    session.flush()
    _sync_tags(session, dag.dag_id, dag.tags)
    return row, created


def _sync_tags(session: Session, dag_id: str, tags: Iterable[str]) -> None:
    wanted = {t[:100] for t in tags}
    have = set(session.scalars(select(DagTag.name).where(DagTag.dag_id == dag_id)))
    if have - wanted:
        session.execute(
            delete(DagTag).where(DagTag.dag_id == dag_id, DagTag.name.in_(sorted(have - wanted)))
        )
    session.add_all(DagTag(dag_id=dag_id, name=name) for name in sorted(wanted - have))


def get_tags(session: Session, dag_id: str) -> list[str]:
    return sorted(session.scalars(select(DagTag.name).where(DagTag.dag_id == dag_id)))


def active_dags_by_file(session: Session) -> dict[str, str]:
    """``{dag_id: fileloc}`` of every DAG that is not stale."""
    rows = session.execute(
        select(DagModel.dag_id, DagModel.fileloc).where(DagModel.is_stale.is_(False))
    )
    return {dag_id: fileloc or "" for dag_id, fileloc in rows}


def mark_stale(session: Session, dag_ids: Iterable[str], now: datetime | None = None) -> int:
    """Mark DAGs stale (their file no longer defines them); how many changed."""
    ids = sorted(set(dag_ids))
    if not ids:
        return 0
    result = session.execute(
        update(DagModel)
        .where(DagModel.dag_id.in_(ids), DagModel.is_stale.is_(False))
        .values(is_stale=True, last_parsed_time=now or _now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# -- serialized versions -----------------------------------------------------------------------


def latest_version(session: Session, dag_id: str) -> SerializedDagModel | None:
    """The newest serialized version of ``dag_id``, or ``None``."""
    return session.scalars(
        select(SerializedDagModel)
        .where(SerializedDagModel.dag_id == dag_id)
        .order_by(SerializedDagModel.version_number.desc())
        .limit(1)
    ).first()


def add_version_if_changed(
    session: Session, dag_id: str, data: dict[str, Any], dag_hash: str, now: datetime | None = None
) -> tuple[SerializedDagModel, bool]:
    """Store ``data`` as the next version unless the latest has the same hash; ``(row, new)``.

    When the new version schedules differently (timetable, start or end date, catchup) the
    DAG's next-run fields are cleared, so the scheduler works them out again.
    """
    latest = latest_version(session, dag_id)
    if latest is not None and latest.dag_hash == dag_hash:
        return latest, False
    row = SerializedDagModel(
        dag_id=dag_id,
        version_number=(latest.version_number + 1) if latest is not None else 1,
        dag_hash=dag_hash,
        data=data,
        created_at=now or _now(),
    )
    session.add(row)
    if latest is not None and _schedule(latest.data) != _schedule(data):
        reset_next_run(session, dag_id)
    session.flush()
    return row, True


def _schedule(data: dict[str, Any]) -> list[Any]:
    body = data.get("dag", {})
    return [body.get(k) for k in ("timetable", "start_date", "end_date", "catchup")]


def reset_next_run(session: Session, dag_id: str) -> None:
    """Forget when the next scheduled run is due (the scheduler recomputes it)."""
    row = session.get(DagModel, dag_id)
    if row is not None:
        row.next_dagrun = None
        row.next_dagrun_data_interval_start = None
        row.next_dagrun_data_interval_end = None
        row.next_dagrun_create_after = None


def version_count(session: Session, dag_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(SerializedDagModel)
            .where(SerializedDagModel.dag_id == dag_id)
        )
        or 0
    )


def load_serialized_dag(
    session: Session, dag_id: str, version_id: int | None = None
) -> SerializedDAG | None:
    """The latest serialized DAG of ``dag_id`` (or version ``version_id``), or ``None``."""
    from tradewind.serialization.dag_json import SerializedDAG

    if version_id is None:
        row = latest_version(session, dag_id)
    else:
        row = session.get(SerializedDagModel, version_id)
        if row is not None and row.dag_id != dag_id:
            row = None
    return None if row is None else SerializedDAG.from_dict(row.data)


class SerializedDagCache:
    """Serialized DAGs by version id, for a long-running reader (the scheduler, the API).

    Versions never change once written, so a cached one is never stale; only "which version
    is the latest" must be asked of the database. Safe to share between threads (the API
    server's).
    """

    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[int, SerializedDAG] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: Session, version_id: int) -> SerializedDAG | None:
        from tradewind.serialization.dag_json import SerializedDAG

        with self._lock:
            found = self._items.get(version_id)
            if found is not None:
                self._items.move_to_end(version_id)
                return found
        row = session.get(SerializedDagModel, version_id)
        if row is None:
            return None
        dag = SerializedDAG.from_dict(row.data)
        with self._lock:
            self._items[version_id] = dag
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return dag

    def latest(self, session: Session, dag_id: str) -> tuple[int, SerializedDAG] | None:
        """``(version id, DAG)`` of the newest version of ``dag_id``, or ``None``."""
        version_id = session.scalar(
            select(SerializedDagModel.id)
            .where(SerializedDagModel.dag_id == dag_id)
            .order_by(SerializedDagModel.version_number.desc())
            .limit(1)
        )
        if version_id is None:
            return None
        dag = self.get(session, version_id)
        return None if dag is None else (version_id, dag)


# -- source ------------------------------------------------------------------------------------


def store_dag_code(
    session: Session, dag_id: str, fileloc: str, source: bytes, now: datetime | None = None
) -> bool:
    """Keep the DAG file's source for ``dag_id``; False when it was already stored as is."""
    digest = hashlib.sha256(source).hexdigest()
    row = session.scalars(select(DagCode).where(DagCode.dag_id == dag_id)).first()
    if row is not None and row.source_code_hash == digest and row.fileloc == fileloc:
        return False
    if row is None:
        row = DagCode(dag_id=dag_id)
        session.add(row)
    row.fileloc = fileloc
    row.source_code = source
    row.source_code_hash = digest
    row.last_updated = now or _now()
    return True


def get_dag_code(session: Session, dag_id: str) -> DagCode | None:
    return session.scalars(select(DagCode).where(DagCode.dag_id == dag_id)).first()


# -- import errors -----------------------------------------------------------------------------


def record_import_error(
    session: Session, filename: str, stacktrace: str, now: datetime | None = None
) -> None:
    """Set the import error of ``filename`` (one row per file)."""
    row = session.scalars(select(ImportError_).where(ImportError_.filename == filename)).first()
    if row is None:
        row = ImportError_(filename=filename)
        session.add(row)
    if row.stacktrace != stacktrace or row.timestamp is None:
        row.stacktrace = stacktrace
        row.timestamp = now or _now()


def clear_import_errors(session: Session, filenames: Iterable[str]) -> int:
    names = sorted(set(filenames))
    if not names:
        return 0
    result = session.execute(
        delete(ImportError_)
        .where(ImportError_.filename.in_(names))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def import_errors(session: Session) -> dict[str, str]:
    """``{filename: stacktrace}`` of every file that failed to load."""
    rows = session.execute(
        select(ImportError_.filename, ImportError_.stacktrace).order_by(ImportError_.filename)
    )
    return {filename: stacktrace for filename, stacktrace in rows}


# -- the processor's job row (heartbeat) -------------------------------------------------------


def start_job(session: Session, job_type: str = PROCESSOR_JOB_TYPE) -> int:
    """Record a running service process; returns the job id to heartbeat."""
    now = _now()
    job = Job(
        job_type=job_type,
        state="running",
        hostname=socket.gethostname(),
        pid=os.getpid(),
        start_date=now,
        latest_heartbeat=now,
    )
    session.add(job)
    session.flush()
    return job.id


def heartbeat_job(session: Session, job_id: int) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(latest_heartbeat=_now())
        .execution_options(synchronize_session=False)
    )


def end_job(session: Session, job_id: int, state: str = "success") -> None:
    now = _now()
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(state=state, end_date=now, latest_heartbeat=now)
        .execution_options(synchronize_session=False)
    )
