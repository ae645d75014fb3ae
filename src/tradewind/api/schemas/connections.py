"""Connection bodies and answers: Airflow 3's (``/api/v2``) and Airflow 2's (``/api/v1``).

Answers never hold a password in clear: ``/api/v2`` says ``***`` when there is one (as
Airflow 3), ``/api/v1`` leaves it out (Airflow 2's ``password`` is write-only). Sensitive
keys of ``extra`` are masked in both. A body may send ``***`` back for the password or for
a masked key of the extra: the stored secret is kept.
"""

from __future__ import annotations

import json
from collections.abc import Collection

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tradewind.api.schemas import StrictModel
from tradewind.api.schemas.bulk import DbText
from tradewind.db.queries.connections import ConnectionView
from tradewind.secrets.masking import PLACEHOLDER, redact

ID_FIELD = Field(
    max_length=250,
    pattern=r"^[A-Za-z0-9_.\-]{1,250}$",
    description="1-250 of A-Z a-z 0-9 _ - .",
)


def masked_extra(extra: str | None, names: Collection[str]) -> str | None:
    """The extra with sensitive keys masked; masked whole if it is not a JSON object (it
    cannot be told apart from a secret).

    >>> masked_extra('{"api_key": "k", "region": "eu"}', {"api_key"})
    '{"api_key": "***", "region": "eu"}'
    """
    if extra is None or extra == "":
        return extra
    try:
        parsed = json.loads(extra)
    except ValueError:
        return PLACEHOLDER
    if not isinstance(parsed, dict):
        return PLACEHOLDER
    return json.dumps(redact(parsed, None, names))


def _check_extra(value: str | None) -> str | None:
    if value is None:
        return None
    if value == "":
        return "{}"  # as Airflow: an empty extra is an empty object
    try:
        parsed = json.loads(value)
    except ValueError:
        raise ValueError(
            "The `extra` field must be a valid JSON object (e.g., {'key': 'value'}), "
            "but encountered non-JSON in `extra` field"
        ) from None
    if not isinstance(parsed, dict):
        raise ValueError("The `extra` field must be a valid JSON object (e.g., {'key': 'value'})")
    return value


class ConnectionBody(StrictModel):
    connection_id: str = ID_FIELD
    conn_type: DbText = Field(max_length=500, pattern=r"^\S+$", description="No spaces.")
    description: DbText | None = None
    host: DbText | None = Field(default=None, max_length=500)
    login: DbText | None = None
    schema_: DbText | None = Field(default=None, alias="schema", max_length=500)
    port: int | None = Field(default=None, ge=1, le=65535)
    password: DbText | None = None
    extra: DbText | None = None

    _extra = field_validator("extra")(_check_extra)

    def fields_sent(self) -> set[str]:
        """The fields the body sends, by their stored names (``schema``, not ``schema_``)."""
        return {"schema" if f == "schema_" else f for f in self.model_fields_set}

    def value_of(self, name: str) -> object:
        return getattr(self, "schema_" if name == "schema" else name)


class ConnectionResponse(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    connection_id: str
    conn_type: str
    description: str | None
    host: str | None
    login: str | None
    schema_: str | None = Field(alias="schema")
    port: int | None
    password: str | None
    extra: str | None
    team_name: str | None = None

    @classmethod
    def of(cls, view: ConnectionView, names: Collection[str]) -> ConnectionResponse:
        return cls.model_validate(
            {
                **ConnectionV1Item.fields(view),
                "password": PLACEHOLDER if view.has_password else None,
                "extra": masked_extra(view.extra, names),
            }
        )


class ConnectionCollectionResponse(BaseModel):
    connections: list[ConnectionResponse]
    total_entries: int


class ConnectionTestResponse(BaseModel):
    status: bool
    message: str


# -- /api/v1 (Airflow 2) -------------------------------------------------------------------


class ConnectionV1Item(BaseModel):
    """A listed connection: Airflow 2 lists neither password nor extra."""

    model_config = ConfigDict(populate_by_name=True)

    connection_id: str
    conn_type: str
    description: str | None
    host: str | None
    login: str | None
    schema_: str | None = Field(alias="schema")
    port: int | None

    @staticmethod
    def fields(view: ConnectionView) -> dict[str, object]:
        return {
            "connection_id": view.conn_id,
            "conn_type": view.conn_type,
            "description": view.description,
            "host": view.host,
            "login": view.login,
            "schema": view.schema,
            "port": view.port,
        }


class ConnectionV1(ConnectionV1Item):
    extra: str | None

    @classmethod
    def of(cls, view: ConnectionView, names: Collection[str]) -> ConnectionV1:
        return cls.model_validate(
            {**ConnectionV1Item.fields(view), "extra": masked_extra(view.extra, names)}
        )


class ConnectionV1Collection(BaseModel):
    connections: list[ConnectionV1Item]
    total_entries: int


class ConnectionV1Body(StrictModel):
    """Airflow 2's connection body: ``connection_id`` and ``conn_type`` are required to
    create (400 otherwise); a PATCH sends what it changes."""

    connection_id: DbText | None = Field(default=None, max_length=250)
    conn_type: DbText | None = Field(default=None, max_length=500)
    description: DbText | None = None
    host: DbText | None = Field(default=None, max_length=500)
    login: DbText | None = None
    schema_: DbText | None = Field(default=None, alias="schema", max_length=500)
    port: int | None = Field(default=None, ge=1, le=65535)
    password: DbText | None = None
    extra: DbText | None = None

    _extra = field_validator("extra")(_check_extra)

    def fields_sent(self) -> set[str]:
        return {"schema" if f == "schema_" else f for f in self.model_fields_set}

    def value_of(self, name: str) -> object:
        return getattr(self, "schema_" if name == "schema" else name)
