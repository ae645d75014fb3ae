"""What the task instance and task log routes share: id parameters, filters read from the
query string, and the lookups that answer 404 with Airflow's wording.

Ids and filter values go to SQL only as bound parameters; strings may not hold NUL (no
database stores it), numbers are bounded to what the columns hold, and times outside what
can be expressed in UTC are refused, so no value reaches the database it cannot take.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import AfterValidator, Field
from sqlalchemy.orm import Session

from tradewind.api.errors import ApiError
from tradewind.api.schemas.task_instances import NO_NUL, Text
from tradewind.db.models import DagModel, DagRun
from tradewind.db.queries.ti_listing import Bounds

INT32_MAX = 2**31 - 1

DagIdPath = Annotated[str, Path(pattern=NO_NUL)]
RunIdPath = Annotated[str, Path(pattern=NO_NUL)]
TaskIdPath = Annotated[str, Path(pattern=NO_NUL)]
MapIndexPath = Annotated[int, Path(ge=0, le=INT32_MAX)]
TryNumberPath = Annotated[int, Path(ge=1, le=INT32_MAX)]
MapIndexQuery = Annotated[int, Query(ge=-1, le=INT32_MAX)]

Int32 = Annotated[int, Field(ge=-(2**31), le=INT32_MAX)]
TextList = Annotated[list[Text] | None, Query()]
IntList = Annotated[list[Int32] | None, Query()]


def to_utc(value: datetime) -> datetime:
    """``value`` in UTC (a naive one is taken as UTC, as Airflow reads it)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date is out of range once converted to UTC") from None


UtcDatetime = Annotated[datetime, AfterValidator(to_utc)]


def bounds_param(
    name: str, kind: type, ops: tuple[str, ...] = ("gte", "gt", "lte", "lt")
) -> Callable[..., Bounds]:
    """A dependency reading ``<name>_gte``, ``_gt``, ``_lte``, ``_lt`` (Airflow 3's range
    filter; Airflow 2 has only ``_gte`` and ``_lte``)."""
    value_type: Any = UtcDatetime if kind is datetime else float

    def read(**given: Any) -> Bounds:
        return Bounds(**given)

    # FastAPI reads the query names and types from the signature, built here as objects.
    read.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                op,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[value_type | None, Query(alias=f"{name}_{op}")],
            )
            for op in ops
        ],
        return_annotation=Bounds,
    )
    read.__name__ = f"{name}_range"
    return read


#: A state filter's values: the states, and ``none`` or ``no_status`` for "no status yet".
StateName = Literal[
    "removed",
    "scheduled",
    "queued",
    "running",
    "success",
    "restarting",
    "failed",
    "up_for_retry",
    "up_for_reschedule",
    "upstream_failed",
    "skipped",
    "deferred",
    "none",
    "no_status",
]
StateList = Annotated[list[StateName] | None, Query()]


def parse_states(values: Sequence[str | None] | None) -> list[str | None] | None:
    """The states a (validated) state filter matches; ``None`` in it is "no status".

    >>> parse_states(["failed", "none", None])
    ['failed', None, None]
    """
    if not values:
        return None
    return [None if v in (None, "none", "no_status") else v for v in values]


def dag_or_404(session: Session, dag_id: str) -> DagModel:
    dag = session.get(DagModel, dag_id)
    if dag is None:
        raise ApiError(404, f"The Dag with ID: `{dag_id}` was not found")
    return dag


def serialized_dag_or_404(session: Session, dag_id: str) -> Any:
    """The latest serialized form of ``dag_id`` (its tasks and their relations)."""
    from tradewind.db.queries.dags import load_serialized_dag

    dag = load_serialized_dag(session, dag_id)
    if dag is None:
        raise ApiError(404, f"The Dag with ID: `{dag_id}` was not found")
    return dag


def find_run(session: Session, dag_id: str, run_id: str) -> DagRun | None:
    from tradewind.db.queries.dagruns import get_run

    return get_run(session, dag_id, run_id)


def run_or_404(session: Session, dag_id: str, run_id: str) -> DagRun:
    run = find_run(session, dag_id, run_id)
    if run is None:
        raise ApiError(404, f"DagRun with run_id: `{run_id}` was not found")
    return run


def ti_not_found(dag_id: str, run_id: str, task_id: str, map_index: int | None) -> ApiError:
    return ApiError(
        404,
        f"The Task Instance with dag_id: `{dag_id}`, run_id: `{run_id}`, task_id: "
        f"`{task_id}` and map_index: `{map_index}` was not found",
    )


def wake_scheduler() -> None:
    """Tell a local scheduler that tasks changed, so it acts without waiting."""
    from tradewind.scheduler.wakeup import notify

    notify()
