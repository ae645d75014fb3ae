"""What the scheduler side serves to workers: XCom from the metadata DB, secrets, DAG runs
that tasks trigger, and other DAGs' states that sensors wait for.

Workers never hold DB credentials; the executor forwards their requests here. The method
names are the execution client's (:class:`tradewind.execution.client.ExecutionClient`), so
this object can also serve a task runner in this process directly.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection as DBConnection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from tradewind.db.models import DagModel, DagRun
from tradewind.db.queries import dagruns, external_states
from tradewind.db.queries import xcom as xcom_queries
from tradewind.db.queries.clear import clear_task_instances
from tradewind.db.queries.dags import SerializedDagCache
from tradewind.db.queries.xcom_purge import purge_deleted
from tradewind.exceptions import DagRunAlreadyExists
from tradewind.executors.base import NO_STATE, ExternalStates
from tradewind.sdk.connection import Connection
from tradewind.sdk.secrets_access import EnvSecretsReader, SecretsReader, use_reader
from tradewind.xcom.backend import get_backend
from tradewind.xcom.base import XComKey

T = TypeVar("T")


class DatabaseWorkerServices:
    """XCom in the metadata DB; variables and connections from ``secrets``."""

    def __init__(self, engine: Engine, secrets: SecretsReader | None = None) -> None:
        self.engine = engine
        self.secrets = secrets or EnvSecretsReader()
        self._lock = threading.Lock()
        self._conn: DBConnection | None = None
        self._closer: weakref.finalize[Any, Any] | None = None
        self._dags = SerializedDagCache(maxsize=32)

    def xcom_set_encoded(self, key: XComKey, data: str) -> None:
        self._call(lambda conn: xcom_queries.set_encoded(conn, key, data))

    def xcom_get_encoded(self, key: XComKey) -> str:
        return self._call(lambda conn: xcom_queries.get_encoded(conn, key))

    def xcom_get_all_encoded(
        self, dag_id: str, run_id: str, task_id: str, key: str
    ) -> list[tuple[int, str]]:
        return self._call(
            lambda conn: xcom_queries.get_all_encoded(conn, dag_id, run_id, task_id, key)
        )

    def xcom_clear(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
        backend = get_backend()
        deleted = self._call(
            lambda conn: xcom_queries.clear(
                conn, dag_id, run_id, task_id, map_index, returning=backend.purges
            )
        )
        with use_reader(self.secrets):  # the storage's connection may be in the DB
            purge_deleted(deleted, backend)

    def _call(self, fn: Callable[[DBConnection], T]) -> T:
        """``fn`` on the connection this object keeps, in autocommit mode.

        Every try asks a few of these (clear, get, set), from the executor's I/O thread;
        taking a pooled connection and an ORM session for each cost more than the query
        (on PostgreSQL a ``SELECT 1`` ping per checkout), and so would a transaction around
        each: every XCom query is one statement, or a read and then a write only this try
        makes, so each commits on its own (on PostgreSQL one round trip instead of three).
        A connection found broken is dropped and the call, idempotent, made once more on a
        new one.
        """
        with self._lock:
            for attempt in (1, 2):
                if self._conn is None or self._conn.closed or self._conn.invalidated:
                    self._conn = self.engine.connect().execution_options(
                        isolation_level="AUTOCOMMIT"
                    )
                    self._closer = weakref.finalize(self, self._conn.close)
                try:
                    return fn(self._conn)
                except DBAPIError as err:
                    if attempt == 2 or not err.connection_invalidated:
                        raise
                    self.close_connection()
            raise AssertionError("unreachable")

    def close_connection(self) -> None:
        """Give the kept connection back (the next call takes a new one)."""
        if self._closer is not None:
            self._closer()
        self._conn = self._closer = None

    def get_variable(self, key: str) -> str | None:
        return self.secrets.get_variable(key)

    def get_connection(self, conn_id: str) -> Connection | None:
        return self.secrets.get_connection(conn_id)  # type: ignore[no-any-return]

    def trigger_dag_run(
        self,
        dag_id: str,
        run_id: str,
        conf: dict[str, Any] | None,
        logical_date: datetime | None,
        reset_dag_run: bool,
        note: str | None,
    ) -> str:
        """Create a queued run of the latest version of ``dag_id``, as Airflow 3.3's
        execution API does for ``TriggerDagRunOperator``: run type ``operator_triggered``,
        triggered by ``operator``, ``run_after`` now, the data interval the timetable infers
        for a manual run at ``run_after`` (none without a logical date). With
        ``reset_dag_run`` an existing run is cleared instead (its conf is kept)."""
        try:
            with Session(self.engine) as session, session.begin():
                if dagruns.get_run(session, dag_id, run_id) is not None:
                    if not reset_dag_run:
                        raise DagRunAlreadyExists(
                            f"DAG {dag_id!r} already has a run with run id {run_id!r}"
                        )
                    task_ids = {
                        ti.task_id for ti in dagruns.task_instances_of(session, dag_id, run_id)
                    }
                    clear_task_instances(session, dag_id, task_ids, run_id=run_id)
                else:
                    self._create(session, dag_id, run_id, conf, logical_date, note)
        except dagruns.DuplicateRunError as err:
            raise DagRunAlreadyExists(str(err)) from None
        except IntegrityError:
            # Another trigger made the same run between our check and our insert.
            raise DagRunAlreadyExists(
                f"DAG {dag_id!r} already has a run with run id {run_id!r}"
            ) from None
        _wake_scheduler()
        return run_id

    def _create(
        self,
        session: Session,
        dag_id: str,
        run_id: str,
        conf: dict[str, Any] | None,
        logical_date: datetime | None,
        note: str | None,
    ) -> None:
        row = session.get(DagModel, dag_id)
        latest = self._dags.latest(session, dag_id) if row is not None else None
        if row is None or row.is_stale or latest is None:
            raise KeyError(f"DAG {dag_id!r} not found")
        version_id, dag = latest
        now = datetime.now(UTC)
        interval = dag.timetable.infer_manual_data_interval(now) if logical_date else None
        dagruns.create_dag_run(
            session,
            dag,
            run_id=run_id,
            run_type="operator_triggered",
            run_after=now,
            logical_date=logical_date,
            data_interval=(interval.start, interval.end) if interval else None,
            conf=conf,
            triggered_by="operator",
            note=note,
            dag_version_id=version_id,
        )

    def get_dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        with Session(self.engine) as session:
            state = session.scalar(
                select(DagRun.state).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
            )
        return None if state is None else str(state)

    def get_external_states(
        self,
        dag_id: str,
        logical_dates: list[datetime],
        task_ids: list[str] | None,
        task_group_id: str | None,
    ) -> ExternalStates:
        """Two indexed reads a poke (see :mod:`tradewind.db.queries.external_states`); a
        task group's members come from the DAG's latest serialized version, parsed once
        per version."""
        return self._call(
            lambda conn: self._external_states(conn, dag_id, logical_dates, task_ids, task_group_id)
        )

    def _external_states(
        self,
        conn: DBConnection,
        dag_id: str,
        logical_dates: list[datetime],
        task_ids: list[str] | None,
        task_group_id: str | None,
    ) -> ExternalStates:
        presence, version_id = external_states.dag_presence(conn, dag_id)
        dag = None
        if version_id is not None and (task_ids or task_group_id is not None):
            with Session(bind=conn) as session:
                dag = self._dags.get(session, version_id)
        wanted = list(task_ids or [])
        group_found: bool | None = None
        if task_group_id is not None:
            group = None if dag is None else dag.task_group_dict.get(task_group_id)
            group_found = group is not None
            if group is not None:
                wanted += [t.task_id for t in group.iter_tasks()]
        missing = []
        if presence != "missing":  # a DAG never parsed has no tasks to miss
            missing = [t for t in task_ids or [] if dag is None or t not in dag.task_dict]
        runs, counts = external_states.states_at(conn, dag_id, logical_dates, wanted or None)
        return ExternalStates(
            dag=presence,
            run_states=runs,
            task_states=[
                {
                    task: {NO_STATE if s is None else s: n for s, n in by_state.items()}
                    for task, by_state in at_date.items()
                }
                for at_date in counts
            ],
            missing_task_ids=missing,
            task_group_found=group_found,
        )


def _wake_scheduler() -> None:
    """A hint to a scheduler on this machine (this process, usually) to start the run now."""
    from tradewind.scheduler.wakeup import notify

    notify()


class ChainedSecretsReader:
    """Looks in each reader in turn (environment first, then the metadata DB, as Airflow)."""

    def __init__(self, *readers: SecretsReader) -> None:
        self.readers = readers

    def get_variable(self, key: str) -> str | None:
        for reader in self.readers:
            value = reader.get_variable(key)
            if value is not None:
                return value
        return None

    def get_connection(self, conn_id: str) -> Any:
        for reader in self.readers:
            conn = reader.get_connection(conn_id)
            if conn is not None:
                return conn
        return None


def service_secrets(engine: Engine) -> SecretsReader:
    """What workers of a running service read secrets from: env vars, then the DB."""
    from tradewind.secrets.encryption import load_encryptor
    from tradewind.secrets.metastore import MetastoreSecretsReader

    return ChainedSecretsReader(
        EnvSecretsReader(), MetastoreSecretsReader(engine, load_encryptor())
    )
