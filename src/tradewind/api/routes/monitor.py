"""Health (no credentials needed, for probes) and version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from tradewind.api.deps import PrincipalDep

public_router = APIRouter(tags=["Monitor"])
router = APIRouter(tags=["Version"])
v1_router = APIRouter(tags=["Monitoring"])

#: Job type, the field name in the answer, and the setting for "alive".
_SERVICES = (
    ("SchedulerJob", "scheduler", "latest_scheduler_heartbeat"),
    ("TriggererJob", "triggerer", "latest_triggerer_heartbeat"),
    ("DagProcessorJob", "dag_processor", "latest_dag_processor_heartbeat"),
)


class BaseInfo(BaseModel):
    status: str | None


class SchedulerInfo(BaseInfo):
    latest_scheduler_heartbeat: datetime | None


class TriggererInfo(BaseInfo):
    latest_triggerer_heartbeat: datetime | None


class DagProcessorInfo(BaseInfo):
    latest_dag_processor_heartbeat: datetime | None


class HealthInfo(BaseModel):
    metadatabase: BaseInfo
    scheduler: SchedulerInfo
    triggerer: TriggererInfo
    dag_processor: DagProcessorInfo


class VersionInfo(BaseModel):
    version: str
    git_version: str | None


def _threshold(job_type: str) -> timedelta:
    from tradewind import config

    section, key = {
        "SchedulerJob": ("scheduler", "scheduler_health_check_threshold"),
        "TriggererJob": ("triggerer", "health_check_threshold"),
    }.get(job_type, ("scheduler", "scheduler_health_check_threshold"))
    return timedelta(seconds=float(config.get(section, key)))


def _health(request: Request) -> HealthInfo:
    from tradewind.db.queries.health import latest_heartbeats

    try:
        with Session(request.app.state.engine) as session:
            beats = latest_heartbeats(session)
        db_status = "healthy"
    except Exception:
        beats, db_status = {}, "unhealthy"
    now = datetime.now(UTC)
    parts: dict[str, dict[str, object]] = {}
    for job_type, name, field in _SERVICES:
        beat = beats.get(job_type)
        if beat is None:
            status = None if db_status == "healthy" and name != "scheduler" else "unhealthy"
        else:
            status = "healthy" if now - beat <= _threshold(job_type) else "unhealthy"
        parts[name] = {"status": status, field: beat}
    return HealthInfo.model_validate({"metadatabase": {"status": db_status}, **parts})


@public_router.get("/api/v2/monitor/health")
def get_health(request: Request) -> HealthInfo:
    """Each part's status: the metadata DB, and the scheduler, triggerer and DAG processor by
    their latest heartbeat. No credentials needed."""
    return _health(request)


@public_router.get("/api/v1/health", tags=["Monitoring"])
def get_health_v1(request: Request) -> HealthInfo:
    return _health(request)


@router.get("/version")
def get_version(principal: PrincipalDep) -> VersionInfo:
    from tradewind import __version__

    return VersionInfo(version=__version__, git_version=None)


@v1_router.get("/version")
def get_version_v1(principal: PrincipalDep) -> VersionInfo:
    return get_version(principal)
