"""Pool bodies and answers, with slot usage: Airflow 3's (``/api/v2``) and Airflow 2's
(``/api/v1``). A pool's name is ``name`` in answers; bodies accept ``name`` or ``pool``."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, Field

from tradewind.api.schemas import StrictModel
from tradewind.api.schemas.bulk import INT_MAX, DbText
from tradewind.db.queries.pools import PoolRecord, PoolUsage

NAME_FIELD = Field(
    max_length=256,
    pattern=r"^[A-Za-z0-9_.\-]{1,250}$",
    validation_alias=AliasChoices("name", "pool"),
    description="1-250 of A-Z a-z 0-9 _ - .",
)
SLOTS_DESCRIPTION = "Number of slots; -1 for unlimited."


class PoolBody(StrictModel):
    name: str = NAME_FIELD
    slots: int = Field(ge=-1, le=INT_MAX, description=SLOTS_DESCRIPTION)
    description: DbText | None = None
    include_deferred: bool = False


class PoolPatchBody(StrictModel):
    name: str | None = Field(default=None, validation_alias=AliasChoices("name", "pool"))
    slots: int | None = Field(default=None, ge=-1, le=INT_MAX, description=SLOTS_DESCRIPTION)
    description: DbText | None = None
    include_deferred: bool | None = None


class _Usage(BaseModel):
    occupied_slots: int
    running_slots: int
    queued_slots: int
    scheduled_slots: int
    open_slots: int
    deferred_slots: int

    @staticmethod
    def fields(record: PoolRecord, usage: PoolUsage | None) -> dict[str, Any]:
        usage = usage or PoolUsage()
        deferred = record.include_deferred
        return {
            "name": record.pool,
            "slots": record.slots,
            "description": record.description,
            "include_deferred": deferred,
            "occupied_slots": usage.occupied(deferred),
            "running_slots": usage.running,
            "queued_slots": usage.queued,
            "scheduled_slots": usage.scheduled,
            "open_slots": usage.open(record.slots, deferred),
            "deferred_slots": usage.deferred,
        }


class PoolResponse(_Usage):
    name: str
    slots: int
    description: str | None
    include_deferred: bool
    team_name: str | None = None

    @classmethod
    def of(cls, record: PoolRecord, usage: PoolUsage | None) -> PoolResponse:
        return cls.model_validate(_Usage.fields(record, usage))


class PoolCollectionResponse(BaseModel):
    pools: list[PoolResponse]
    total_entries: int


# -- /api/v1 (Airflow 2) -------------------------------------------------------------------


class PoolV1(_Usage):
    name: str
    slots: int
    description: str | None
    include_deferred: bool

    @classmethod
    def of(cls, record: PoolRecord, usage: PoolUsage | None) -> PoolV1:
        return cls.model_validate(_Usage.fields(record, usage))


class PoolV1Collection(BaseModel):
    pools: list[PoolV1]
    total_entries: int


class PoolV1Body(StrictModel):
    """Airflow 2's pool body. ``name`` and ``slots`` are required to create (400 otherwise,
    as Airflow 2 answers); the read-only usage fields a GET returned may be sent back and are
    ignored, so a client can change a field of what it read and PATCH it."""

    name: DbText | None = Field(default=None, max_length=256)
    slots: int | None = Field(default=None, ge=-1, le=INT_MAX, description=SLOTS_DESCRIPTION)
    description: DbText | None = None
    include_deferred: bool | None = None
    occupied_slots: int | None = None
    running_slots: int | None = None
    queued_slots: int | None = None
    scheduled_slots: int | None = None
    open_slots: int | None = None
    deferred_slots: int | None = None
