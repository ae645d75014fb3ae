"""Variable bodies and answers: Airflow 3's (``/api/v2``) and Airflow 2's (``/api/v1``).

Values of sensitive keys, and sensitive keys inside JSON values, are always answered masked
(``***``); see :func:`tradewind.secrets.masking.mask_variable`.
"""

from __future__ import annotations

import json
from collections.abc import Collection

from pydantic import BaseModel, Field, JsonValue, field_validator

from tradewind.api.schemas import StrictModel
from tradewind.api.schemas.bulk import DbText
from tradewind.db.queries.search import storable
from tradewind.db.queries.variables import VariableRecord
from tradewind.secrets.masking import mask_variable

#: Tradewind's id pattern (as ``tradewind variables set`` checks keys).
KEY_PATTERN = r"^[A-Za-z0-9_.\-]{1,250}$"
KEY_FIELD = Field(max_length=250, pattern=KEY_PATTERN, description="1-250 of A-Z a-z 0-9 _ - .")


class VariableBody(StrictModel):
    key: str = KEY_FIELD
    value: JsonValue = Field(description="A string is stored as is; other JSON as its text.")
    description: DbText | None = None

    @field_validator("value")
    @classmethod
    def _encodable(cls, value: JsonValue) -> JsonValue:
        if not storable(stored_text(value)):
            raise ValueError("the value must not contain NUL characters or lone surrogates")
        return value

    def stored_value(self) -> str:
        """The text stored: a string as it is, anything else as indented JSON (as Airflow
        and ``tradewind variables set --json`` store it)."""
        return stored_text(self.value)


def stored_text(value: JsonValue) -> str:
    """
    >>> stored_text("x"), stored_text(3)
    ('x', '3')
    """
    return value if isinstance(value, str) else json.dumps(value, indent=2)


class VariableResponse(BaseModel):
    key: str
    value: str | None
    description: str | None
    is_encrypted: bool
    team_name: str | None = None

    @classmethod
    def of(cls, record: VariableRecord, names: Collection[str]) -> VariableResponse:
        return cls(
            key=record.key,
            value=mask_variable(record.key, record.val, names),
            description=record.description,
            is_encrypted=record.is_encrypted,
        )


class VariableCollectionResponse(BaseModel):
    variables: list[VariableResponse]
    total_entries: int


# -- /api/v1 (Airflow 2) -------------------------------------------------------------------


class VariableV1Body(StrictModel):
    key: str = KEY_FIELD
    value: DbText
    description: DbText | None = None


class VariableV1(BaseModel):
    key: str
    value: str | None
    description: str | None

    @classmethod
    def of(cls, record: VariableRecord, names: Collection[str]) -> VariableV1:
        value = mask_variable(record.key, record.val, names)
        return cls(key=record.key, value=value, description=record.description)


class VariableV1Item(BaseModel):
    """A listed variable: Airflow 2 lists keys and descriptions, not values."""

    key: str
    description: str | None


class VariableV1Collection(BaseModel):
    variables: list[VariableV1Item]
    total_entries: int
