"""The execution client of a task process in a worker: every call is a frame on the try's
own channel to the executor.

The executor answers each :class:`~tradewind.execution.comms.ServiceRequest` from the
scheduler side's services (the task never holds DB credentials). XCom values are encoded
and decoded here, by the XCom backend (:mod:`tradewind.xcom.backend`), so a value that
cannot be stored fails at push time, in the task, with the reason, and a big value goes
from the task to object storage directly, never through the executor. Errors come back as
the exception the in-process client would raise (``KeyError`` for a missing XCom,
:class:`~tradewind.exceptions.DagRunAlreadyExists` for a run id already taken).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from tradewind.exceptions import DagRunAlreadyExists
from tradewind.execution.comms import (
    NULL,
    FrameReader,
    ServiceOp,
    ServiceRequest,
    ServiceResponse,
)
from tradewind.execution.comms import send_frame as _send
from tradewind.executors.base import ExternalStates
from tradewind.sdk.connection import Connection
from tradewind.xcom.backend import XComResult, get_backend, result_of, serialize_under
from tradewind.xcom.base import XComKey

_ERRORS: dict[str, type[Exception]] = {
    "KeyError": KeyError,
    "TypeError": TypeError,
    "ValueError": ValueError,
    "PermissionError": PermissionError,
    "DagRunAlreadyExists": DagRunAlreadyExists,
}


class WorkerConnectionLost(ConnectionError):
    """The worker went away while the task waited for an answer."""


def key_args(key: XComKey) -> dict[str, Any]:
    return {
        "dag_id": key.dag_id,
        "run_id": key.run_id,
        "task_id": key.task_id,
        "map_index": key.map_index,
        "key": key.key,
    }


class PipeClient:
    """An :class:`~tradewind.execution.client.ExecutionClient` over the try's channel."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        run: tuple[str, str] | None = None,
        prefetched: Mapping[tuple[str, int, str], bytes] | None = None,
    ) -> None:
        self.sock = sock
        self.reader = FrameReader(sock)
        self._next_id = 0
        #: Values of ``run`` (``(dag_id, run_id)``) the scheduler sent with the workload, by
        #: ``(task_id, map_index, key)``: read from here, not asked for.
        self._run = run
        self._prefetched = dict(prefetched or {})
        #: What this try pushed, by key (to purge a value pushed again under the same key).
        self._pushed: dict[XComKey, XComResult] = {}

    def _call_raw(self, op: ServiceOp, value: msgspec.Raw = NULL, **args: Any) -> bytes:
        """The answer's value as JSON bytes, undecoded."""
        self._next_id += 1
        try:
            _send(self.sock, ServiceRequest(id=self._next_id, op=op, args=args, value=value))
            reply = self.reader.read_blocking()
        except (OSError, EOFError) as err:
            raise WorkerConnectionLost(f"lost the worker while asking for {op}: {err}") from None
        if not isinstance(reply, ServiceResponse) or reply.id != self._next_id:
            raise WorkerConnectionLost(f"unexpected answer to {op}: {type(reply).__name__}")
        if not reply.ok:
            error = _ERRORS.get(reply.error_kind or "", RuntimeError)
            raise error(reply.error or f"{op} failed")
        return bytes(reply.value)

    def _call(self, op: ServiceOp, **args: Any) -> Any:
        return msgspec.json.decode(self._call_raw(op, **args))

    def xcom_set(self, key: XComKey, value: Any) -> None:
        # The backend encodes (and stores what is big) here, in the task: a value that
        # cannot be stored fails in the task, with the reason.
        backend = get_backend()
        stored = serialize_under(backend, key, value)
        try:
            self._call_raw("xcom_set", msgspec.Raw(stored.value.encode()), **key_args(key))
        except BaseException:
            backend.purge(stored)
            raise
        # A key pushed twice in one try: what the first push stored outside the DB goes.
        replaced = self._pushed.get(key)
        self._pushed[key] = stored
        if replaced is not None and replaced.value != stored.value:
            backend.purge(replaced)

    def xcom_get(self, key: XComKey) -> Any:
        raw: bytes | None = None
        if (key.dag_id, key.run_id) == self._run:
            raw = self._prefetched.get((key.task_id, key.map_index, key.key))
        if raw is None:
            raw = self._call_raw("xcom_get", **key_args(key))
        return get_backend().deserialize_value(result_of(key, bytes(raw).decode()))

    def xcom_get_all(
        self, dag_id: str, run_id: str, task_id: str, key: str
    ) -> list[tuple[int, Any]]:
        raw = self._call_raw("xcom_get_all", dag_id=dag_id, run_id=run_id, task_id=task_id, key=key)
        rows = msgspec.json.decode(raw, type=list[tuple[int, msgspec.Raw]])
        backend = get_backend()
        return [
            (
                i,
                backend.deserialize_value(
                    XComResult(dag_id, run_id, task_id, i, key, bytes(v).decode())
                ),
            )
            for i, v in rows
        ]

    def xcom_clear(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
        self._call("xcom_clear", dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index)

    def get_variable(self, key: str) -> str | None:
        value = self._call("get_variable", key=key)
        return None if value is None else str(value)

    def get_connection(self, conn_id: str) -> Connection | None:
        fields = self._call("get_connection", conn_id=conn_id)
        return None if fields is None else Connection(**fields)

    def trigger_dag_run(
        self,
        dag_id: str,
        run_id: str,
        conf: dict[str, Any] | None,
        logical_date: datetime | None,
        reset_dag_run: bool,
        note: str | None,
    ) -> str:
        value = self._call(
            "trigger_dag_run",
            dag_id=dag_id,
            run_id=run_id,
            conf=conf,
            logical_date=None if logical_date is None else logical_date.isoformat(),
            reset_dag_run=reset_dag_run,
            note=note,
        )
        return str(value)

    def get_dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        state = self._call("get_dag_run_state", dag_id=dag_id, run_id=run_id)
        return None if state is None else str(state)

    def get_external_states(
        self,
        dag_id: str,
        logical_dates: list[datetime],
        task_ids: list[str] | None,
        task_group_id: str | None,
    ) -> ExternalStates:
        raw = self._call_raw(
            "get_external_states",
            dag_id=dag_id,
            logical_dates=[when.isoformat() for when in logical_dates],
            task_ids=task_ids,
            task_group_id=task_group_id,
        )
        return msgspec.json.decode(raw, type=ExternalStates)
