"""A try's log (``/api/v2`` and ``/api/v1``), a page at a time with a continuation token.

``Accept`` picks the form: ``application/json`` (Airflow 3: structured messages; Airflow 2:
the text), ``application/x-ndjson`` (one message per line) or ``text/plain``. The token is
where the next read starts; while the try can still write (queued, running, deferred,
waiting to be rescheduled) it is always given, so a client can follow a running try.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PrincipalDep, SessionDep
from tradewind.api.errors import ApiError, ProblemDetail
from tradewind.api.routes._ti_common import (
    INT32_MAX,
    DagIdPath,
    MapIndexQuery,
    RunIdPath,
    TaskIdPath,
    TryNumberPath,
)
from tradewind.api.schemas.task_instances import Text
from tradewind.api.schemas.task_logs import LogResponseV1, TaskInstancesLogResponse
from tradewind.db.models import TaskInstance
from tradewind.db.queries import ti_listing
from tradewind.states import TaskInstanceState
from tradewind.task_logs.api_reader import structured

router = APIRouter(tags=["Task Instance"])
v1_router = APIRouter(tags=["TaskInstance"])

PATH = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs"
JSON, NDJSON, TEXT = "application/json", "application/x-ndjson", "text/plain"
TOKEN_HEADER = "Airflow-Continuation-Token"
BAD_TOKEN = "Bad Signature. Please use only the tokens provided by the API."
#: States in which the current try may still append to its log.
_WRITING = frozenset(
    {
        TaskInstanceState.SCHEDULED,
        TaskInstanceState.QUEUED,
        TaskInstanceState.RUNNING,
        TaskInstanceState.DEFERRED,
        TaskInstanceState.UP_FOR_RESCHEDULE,
        TaskInstanceState.RESTARTING,
    }
)

_TEXT_DOC = {"schema": {"type": "string"}}
_V2_RESPONSES: dict[int | str, dict[str, Any]] = {
    406: {"model": ProblemDetail, "description": "Not Acceptable"},
    200: {"content": {NDJSON: _TEXT_DOC, TEXT: _TEXT_DOC}},
}
_V1_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {TEXT: _TEXT_DOC}},
}

FullContent = Annotated[bool, Query()]
Token = Annotated[Text | None, Query()]


def encode_token(log_pos: int, full: bool) -> str:
    data = json.dumps({"log_pos": log_pos, "download_logs": full}, separators=(",", ":"))
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def decode_token(token: str | None) -> tuple[int, bool]:
    """``(offset, full content)`` from a token this API gave; 400 for anything else."""
    if not token:
        return 0, False
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ApiError(400, BAD_TOKEN) from None
    pos = data.get("log_pos") if isinstance(data, dict) else None
    if not isinstance(pos, int) or isinstance(pos, bool) or not 0 <= pos < 2**62:
        raise ApiError(400, BAD_TOKEN)
    return pos, data.get("download_logs") is True


def _pick(accept: str | None, offered: list[str], default: str) -> str | None:
    """The offered media type ``Accept`` prefers (by q, then order); ``default`` without one."""
    if not accept or not accept.strip():
        return default
    wanted: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media and q > 0:
            wanted.append((-q, i, media.lower()))
    for _, _, media in sorted(wanted):
        if media in offered:
            return media
        if media == "*/*":
            return offered[0]
        if media.endswith("/*"):
            for candidate in offered:
                if candidate.startswith(media[:-1]):
                    return candidate
    return None


def _read(
    session: SessionDep,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int,
    try_number: int,
    token: str | None,
    full_content: bool,
) -> tuple[str, int, bool]:
    """``(text, next offset, end of log)`` of one try's log from where ``token`` says."""
    from tradewind.task_logs.api_reader import read_page
    from tradewind.task_logs.paths import logs_folder, resolve_log_path, try_log_path

    offset, full = decode_token(token)
    found = ti_listing.one_try(session, dag_id, run_id, task_id, map_index, try_number)
    if found is None:
        raise ApiError(404, "TaskInstance not found")
    writing = isinstance(found.ti, TaskInstance) and found.ti.state in _WRITING
    try:
        relative = try_log_path(dag_id, run_id, task_id, map_index, try_number)
        path = resolve_log_path(logs_folder(), relative)
    except ValueError:
        raise ApiError(404, "TaskInstance not found") from None
    text, next_offset, exists, at_end = read_page(path, offset, whole=full_content or full)
    if not exists and not writing:
        text = f"*** Log file does not exist: {relative}\n" if offset == 0 else ""
    return text, next_offset, at_end and not writing


@router.get(
    PATH + "/{try_number}", responses=_V2_RESPONSES, response_model=TaskInstancesLogResponse
)
def get_log(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    task_id: TaskIdPath,
    try_number: TryNumberPath,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    full_content: FullContent = False,
    map_index: MapIndexQuery = -1,
    token: Token = None,
) -> Response | TaskInstancesLogResponse:
    """The log of one try, a page at a time (``full_content``: all of it from the token)."""
    principal.require(Action.READ, Resource.TASK_LOG, dag_id)
    form = _pick(request.headers.get("accept"), [JSON, NDJSON, TEXT], JSON)
    if form is None:
        raise ApiError(
            406, "Only application/json, application/x-ndjson or text/plain is supported"
        )
    text, next_offset, end = _read(
        session, dag_id, dag_run_id, task_id, map_index, try_number, token, full_content
    )
    next_token = None if end else encode_token(next_offset, full_content)
    headers = {TOKEN_HEADER: next_token} if next_token else None
    if form == TEXT:
        return Response(text, media_type=TEXT, headers=headers)
    messages = structured(text)
    if form == NDJSON:
        body = "".join(json.dumps(m) + "\n" for m in messages)
        return Response(body, media_type=NDJSON, headers=headers)
    return TaskInstancesLogResponse.model_validate(
        {"content": messages, "continuation_token": next_token}
    )


@v1_router.get(PATH + "/{task_try_number}", responses=_V1_RESPONSES, response_model=LogResponseV1)
def get_log_v1(
    dag_id: DagIdPath,
    dag_run_id: RunIdPath,
    task_id: TaskIdPath,
    task_try_number: Annotated[int, Path(ge=0, le=INT32_MAX)],
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    full_content: FullContent = False,
    map_index: MapIndexQuery = -1,
    token: Token = None,
) -> Response | LogResponseV1:
    """The log of one try (Airflow 2): its text, and a token to read on."""
    principal.require(Action.READ, Resource.TASK_LOG, dag_id)
    # As Airflow 2 (werkzeug's best match): plain text first, JSON without an Accept header.
    form = _pick(request.headers.get("accept"), [TEXT, JSON], JSON) or JSON
    text, next_offset, _ = _read(
        session, dag_id, dag_run_id, task_id, map_index, task_try_number, token, full_content
    )
    next_token = encode_token(next_offset, full_content)
    if form == TEXT:
        return Response(text, media_type=TEXT, headers={TOKEN_HEADER: next_token})
    return LogResponseV1(continuation_token=next_token, content=text)
