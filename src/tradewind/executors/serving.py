"""Answers a running task's requests from the scheduler side's :class:`WorkerServices`.

A try may write (push, clear) only its own task instance's XCom: the executor knows which
try a worker runs, and refuses anything else, so a confused or hostile task cannot overwrite
another task's results. Reads follow Airflow (a task may pull from any task or DAG), and so
does triggering: a task may trigger a run of any DAG and read any run's state (and the
states of any DAG's runs and task instances, for ``ExternalTaskSensor``).

>>> from tradewind.executors.memory_services import MemoryWorkerServices
>>> from tradewind.execution.comms import ServiceRequest
>>> owner = ("d", "r", "t", -1)
>>> req = ServiceRequest(id=1, op="get_variable", args={"key": "missing"})
>>> bytes(answer(MemoryWorkerServices(), req, owner).value)
b'null'
>>> bad = ServiceRequest(id=2, op="xcom_clear",
...     args={"dag_id": "d", "run_id": "r", "task_id": "other", "map_index": -1})
>>> answer(MemoryWorkerServices(), bad, owner).error_kind
'PermissionError'
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import Any

import msgspec

from tradewind.exceptions import DagRunAlreadyExists
from tradewind.execution.comms import ErrorKind, ServiceRequest, ServiceResponse
from tradewind.executors.base import ExternalStates, WorkerServices
from tradewind.xcom.backend import get_backend
from tradewind.xcom.base import XComKey

log = logging.getLogger(__name__)

#: ``(dag_id, run_id, task_id, map_index)`` of the try a request comes from.
Owner = tuple[str, str, str, int]


def _key(args: dict[str, Any]) -> XComKey:
    return XComKey(
        str(args["dag_id"]),
        str(args["run_id"]),
        str(args["task_id"]),
        int(args["map_index"]),
        str(args["key"]),
    )


def _check_owner(args: dict[str, Any], owner: Owner | None) -> None:
    target = (args.get("dag_id"), args.get("run_id"), args.get("task_id"), args.get("map_index"))
    if owner is None or target != owner:
        raise PermissionError(f"a try of {owner} may not write XCom of {target}")


def _encoded_value(raw: msgspec.Raw) -> str:
    """The pushed value's text, checked to be one well-formed JSON value (a task cannot
    store what no reader could parse) within ``xcom.max_db_bytes`` (the task's backend
    checks both first; this holds for any task); the codec's types are checked when it is
    read."""
    limit = get_backend().max_db_bytes
    if len(raw) > limit:
        raise ValueError(
            f"the pushed XCom value is {len(raw)} bytes, over xcom.max_db_bytes ({limit})"
        )
    text = bytes(raw).decode()
    try:
        msgspec.json.decode(text)
    except msgspec.DecodeError as err:
        raise ValueError(f"the pushed XCom value is not valid JSON: {err}") from None
    return text


def _serve(services: WorkerServices, req: ServiceRequest, owner: Owner | None) -> Any:
    """The answer's value: a :class:`msgspec.Raw` (XCom text, passed on as it is stored) or
    plain data."""
    args = req.args
    if req.op == "xcom_set":
        _check_owner(args, owner)
        services.xcom_set_encoded(_key(args), _encoded_value(req.value))
        return None
    if req.op == "xcom_get":
        return msgspec.Raw(services.xcom_get_encoded(_key(args)).encode())
    if req.op == "xcom_get_all":
        rows = services.xcom_get_all_encoded(
            str(args["dag_id"]), str(args["run_id"]), str(args["task_id"]), str(args["key"])
        )
        # [[map_index, value], ...] with each value's text spliced in as it is stored.
        return msgspec.Raw(b"[" + b",".join(b"[%d,%s]" % (i, v.encode()) for i, v in rows) + b"]")
    if req.op == "xcom_clear":
        _check_owner(args, owner)
        services.xcom_clear(
            str(args["dag_id"]), str(args["run_id"]), str(args["task_id"]), int(args["map_index"])
        )
        return None
    if req.op == "get_variable":
        return services.get_variable(str(args["key"]))
    if req.op == "trigger_dag_run":
        return _trigger(services, args)
    if req.op == "get_dag_run_state":
        return services.get_dag_run_state(str(args["dag_id"]), str(args["run_id"]))
    if req.op == "get_external_states":
        return _external_states(services, args)
    conn = services.get_connection(str(args["conn_id"]))
    return None if conn is None else dataclasses.asdict(conn)


def _trigger(services: WorkerServices, args: dict[str, Any]) -> str:
    conf = args.get("conf")
    if conf is not None and not isinstance(conf, dict):
        raise ValueError("DagRun conf must be a JSON object or null")
    when = args.get("logical_date")
    logical_date = None if when is None else datetime.fromisoformat(str(when))
    if logical_date is not None and logical_date.tzinfo is None:
        raise ValueError("the logical date must have a time zone")
    note = args.get("note")
    return services.trigger_dag_run(
        str(args["dag_id"]),
        str(args["run_id"]),
        conf,
        logical_date,
        bool(args.get("reset_dag_run", False)),
        None if note is None else str(note),
    )


def _external_states(services: WorkerServices, args: dict[str, Any]) -> ExternalStates:
    dates = args.get("logical_dates")
    task_ids = args.get("task_ids")
    group = args.get("task_group_id")
    if not isinstance(dates, list):
        raise ValueError("logical_dates must be a list of ISO 8601 datetimes")
    if task_ids is not None and not (
        isinstance(task_ids, list) and all(isinstance(t, str) for t in task_ids)
    ):
        raise ValueError("task_ids must be a list of task ids or null")
    logical_dates = []
    for value in dates:
        when = datetime.fromisoformat(str(value))
        if when.tzinfo is None:
            raise ValueError(f"the logical date {value!r} must have a time zone")
        logical_dates.append(when)
    return services.get_external_states(
        str(args["dag_id"]), logical_dates, task_ids, None if group is None else str(group)
    )


def answer(services: WorkerServices, req: ServiceRequest, owner: Owner | None) -> ServiceResponse:
    """The response to ``req``; errors become an error response, never an exception."""
    try:
        value = _serve(services, req, owner)
        if not isinstance(value, msgspec.Raw):
            value = msgspec.Raw(msgspec.json.encode(value))
        return ServiceResponse(id=req.id, ok=True, value=value)
    except (KeyError, TypeError, ValueError, PermissionError, DagRunAlreadyExists) as err:
        kind = _kind_of(err)
        message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        return ServiceResponse(id=req.id, ok=False, error_kind=kind, error=message)
    except Exception as err:
        log.exception("worker service %s failed", req.op)
        return ServiceResponse(
            id=req.id, ok=False, error_kind="Error", error=f"{type(err).__name__}: {err}"
        )


def _kind_of(err: Exception) -> ErrorKind:
    if isinstance(err, DagRunAlreadyExists):
        return "DagRunAlreadyExists"
    if isinstance(err, KeyError):
        return "KeyError"
    if isinstance(err, PermissionError):
        return "PermissionError"
    if isinstance(err, TypeError):
        return "TypeError"
    if isinstance(err, ValueError):
        return "ValueError"
    return "Error"
