"""The execution client: everything a running task needs from outside itself.

The task runner talks only to this interface. ``dags test`` uses :class:`InProcessClient`
(an XCom backend and the environment); workers will use a client that speaks to the API
server with a per-try token. Same methods, so what passes locally passes in production.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from tradewind.exceptions import DagRunAlreadyExists, TradewindFailException
from tradewind.executors.base import ExternalStates, WorkerServices
from tradewind.sdk.connection import Connection
from tradewind.sdk.secrets_access import EnvSecretsReader, SecretsReader
from tradewind.xcom.backend import XComResult, get_backend, result_of, serialize_under
from tradewind.xcom.base import XComBackend, XComKey

__all__ = [
    "DagRunAlreadyExists",
    "ExecutionClient",
    "ExternalStates",
    "InProcessClient",
    "ServicesClient",
    "TriggeredRun",
]

log = logging.getLogger("tradewind.task")


class ExecutionClient(Protocol):
    """What the runner may ask for. ``xcom_get`` raises ``KeyError`` when nothing was pushed.

    ``trigger_dag_run`` raises ``KeyError`` for an unknown DAG, ``ValueError`` for a conf
    its params refuse, and :class:`DagRunAlreadyExists` for a run id already taken (unless
    ``reset_dag_run``, which clears that run instead); it returns the run id.
    ``get_dag_run_state`` is ``None`` when the run does not exist. ``get_external_states``
    reads another DAG's runs and task instances at some logical dates (see
    :class:`~tradewind.executors.base.ExternalStates`), for ``ExternalTaskSensor``.
    """

    def xcom_set(self, key: XComKey, value: Any) -> None: ...

    def xcom_get(self, key: XComKey) -> Any: ...

    def xcom_get_all(
        self, dag_id: str, run_id: str, task_id: str, key: str
    ) -> list[tuple[int, Any]]: ...

    def xcom_clear(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> None: ...

    def get_variable(self, key: str) -> str | None: ...

    def get_connection(self, conn_id: str) -> Connection | None: ...

    def trigger_dag_run(
        self,
        dag_id: str,
        run_id: str,
        conf: dict[str, Any] | None,
        logical_date: datetime | None,
        reset_dag_run: bool,
        note: str | None,
    ) -> str: ...

    def get_dag_run_state(self, dag_id: str, run_id: str) -> str | None: ...

    def get_external_states(
        self,
        dag_id: str,
        logical_dates: list[datetime],
        task_ids: list[str] | None,
        task_group_id: str | None,
    ) -> ExternalStates: ...


@dataclass
class TriggeredRun:
    """A run a task asked for under ``dags test``: recorded, never started."""

    dag_id: str
    run_id: str
    conf: dict[str, Any] = field(default_factory=dict)
    logical_date: datetime | None = None
    note: str | None = None
    resets: int = 0


class InProcessClient:
    """An execution client backed by objects in this process.

    ``dags test`` has no metadata DB and no scheduler, so a DAG run a task triggers
    (``TriggerDagRunOperator``) is recorded in :attr:`triggered` and logged, but not run:
    test the target DAG with its own ``dags test``. Waiting for such a run
    (``wait_for_completion``) fails the task at once with that explanation instead of
    polling forever. For the same reason a task cannot see another DAG's runs here
    (``ExternalTaskSensor``): asking fails the task at once.

    >>> from tradewind.xcom.memory import MemoryXComBackend
    >>> client = InProcessClient(MemoryXComBackend())
    >>> client.xcom_set(XComKey("d", "r", "t", -1, "k"), 1)
    >>> client.xcom_get(XComKey("d", "r", "t", -1, "k"))
    1
    """

    def __init__(self, xcom: XComBackend, secrets: SecretsReader | None = None) -> None:
        self.xcom = xcom
        self.secrets = secrets or EnvSecretsReader()
        #: Runs tasks triggered, by ``(dag_id, run_id)``.
        self.triggered: dict[tuple[str, str], TriggeredRun] = {}

    def xcom_set(self, key: XComKey, value: Any) -> None:
        self.xcom.set(key, value)

    def xcom_get(self, key: XComKey) -> Any:
        return self.xcom.get(key)

    def xcom_get_all(
        self, dag_id: str, run_id: str, task_id: str, key: str
    ) -> list[tuple[int, Any]]:
        return self.xcom.get_all(dag_id, run_id, task_id, key)

    def xcom_clear(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
        self.xcom.clear(dag_id, run_id, task_id, map_index)

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
        """Record the run (see the class docstring); duplicates behave as in the service."""
        existing = self.triggered.get((dag_id, run_id))
        if existing is not None:
            if not reset_dag_run:
                raise DagRunAlreadyExists(f"DAG {dag_id!r} already has a run with id {run_id!r}")
            existing.resets += 1
            log.warning(
                "Run %s of DAG %s would be cleared to run again; dags test has no scheduler, "
                "so it is only recorded, not run.",
                run_id,
                dag_id,
            )
            return run_id
        self.triggered[(dag_id, run_id)] = TriggeredRun(
            dag_id, run_id, dict(conf or {}), logical_date, note
        )
        log.warning(
            "Recorded run %s of DAG %s, but did not start it: dags test has no scheduler. "
            "Test DAG %s on its own, or run the service to run triggered DAGs.",
            run_id,
            dag_id,
            dag_id,
        )
        return run_id

    def get_dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        """``None`` for an unknown run; a run recorded by :meth:`trigger_dag_run` never moves,
        so asking for it fails the task (without retries) rather than wait forever."""
        if (dag_id, run_id) not in self.triggered:
            return None
        raise TradewindFailException(
            f"cannot wait for run {run_id} of DAG {dag_id}: dags test has no scheduler, so a "
            "triggered DAG is recorded but never run. Set wait_for_completion=False to test "
            "this DAG alone, test the target DAG on its own, or run the service."
        )

    def get_external_states(
        self,
        dag_id: str,
        logical_dates: list[datetime],
        task_ids: list[str] | None,
        task_group_id: str | None,
    ) -> ExternalStates:
        """Fails the task without retries: there are no other runs to look at, and an
        answer of "nothing there yet" would only make the sensor wait until its timeout."""
        raise TradewindFailException(
            f"cannot look at runs of DAG {dag_id}: dags test has no metadata database, so "
            "it sees no other DAG's runs or task instances. Run this DAG in the service to "
            f"wait for DAG {dag_id}, or set soft_fail=True on the sensor to skip it here."
        )


class ServicesClient:
    """An execution client over :class:`~tradewind.executors.base.WorkerServices` in this
    process (the inline executor, tests): XCom values are encoded and decoded here, by the
    XCom backend, as a worker's task process does over its pipe.

    >>> from tradewind.executors.memory_services import MemoryWorkerServices
    >>> client = ServicesClient(MemoryWorkerServices())
    >>> client.xcom_set(XComKey("d", "r", "t", -1, "k"), (1, 2))
    >>> client.xcom_get(XComKey("d", "r", "t", -1, "k"))
    (1, 2)
    """

    def __init__(self, services: WorkerServices) -> None:
        self.services = services

    def xcom_set(self, key: XComKey, value: Any) -> None:
        backend = get_backend()
        stored = serialize_under(backend, key, value)
        try:
            self.services.xcom_set_encoded(key, stored.value)
        except BaseException:
            backend.purge(stored)
            raise

    def xcom_get(self, key: XComKey) -> Any:
        return get_backend().deserialize_value(result_of(key, self.services.xcom_get_encoded(key)))

    def xcom_get_all(
        self, dag_id: str, run_id: str, task_id: str, key: str
    ) -> list[tuple[int, Any]]:
        rows = self.services.xcom_get_all_encoded(dag_id, run_id, task_id, key)
        backend = get_backend()
        return [
            (i, backend.deserialize_value(XComResult(dag_id, run_id, task_id, i, key, v)))
            for i, v in rows
        ]

    def xcom_clear(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
        self.services.xcom_clear(dag_id, run_id, task_id, map_index)

    def get_variable(self, key: str) -> str | None:
        return self.services.get_variable(key)

    def get_connection(self, conn_id: str) -> Connection | None:
        return self.services.get_connection(conn_id)

    def trigger_dag_run(
        self,
        dag_id: str,
        run_id: str,
        conf: dict[str, Any] | None,
        logical_date: datetime | None,
        reset_dag_run: bool,
        note: str | None,
    ) -> str:
        return self.services.trigger_dag_run(
            dag_id, run_id, conf, logical_date, reset_dag_run, note
        )

    def get_dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        return self.services.get_dag_run_state(dag_id, run_id)

    def get_external_states(
        self,
        dag_id: str,
        logical_dates: list[datetime],
        task_ids: list[str] | None,
        task_group_id: str | None,
    ) -> ExternalStates:
        return self.services.get_external_states(dag_id, logical_dates, task_ids, task_group_id)
