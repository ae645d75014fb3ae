"""Pydantic models in XCom values: rebuilt as their class and validated by it.

pydantic is not a Tradewind dependency: it is the user's. The dev extra installs it so these
run; elsewhere they skip, except under CI, where a missing pydantic fails them.
"""

from __future__ import annotations

import importlib
import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tradewind.exceptions import XComError
from tradewind.serialization.codec import TAG, UnsupportedValueError, decode, encode


def _optional(module: str) -> Any:
    """The module, or skip; under CI (which installs the dev extra) a missing one fails."""
    if os.environ.get("CI", "").lower() == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module)


pydantic = _optional("pydantic")


@pydantic.dataclasses.dataclass
class Checked:
    n: int


class Blob:
    pass


class Holder(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    blob: Blob


class Plain:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


def _stored(kind: str, path: str, data: Any) -> str:
    return json.dumps({TAG: kind, "v": [path, data]})


class Address(pydantic.BaseModel):
    city: str
    zip: str | None = None


class Customer(pydantic.BaseModel):
    id: uuid.UUID
    name: str
    joined: datetime
    balance: Decimal
    address: Address
    tags: list[str] = []
    wait: timedelta = timedelta(0)
    meta: dict[str, Any] = {}


CUSTOMER = Customer(
    id=uuid.UUID(int=3),
    name="Ada",
    joined=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    balance=Decimal("10.50"),
    address=Address(city="Paris"),
    tags=["vip"],
    wait=timedelta(seconds=90),
    meta={TAG: "looks like a tag", "n": [1, 2]},
)


def test_pydantic_models_round_trip_as_their_class() -> None:
    back = decode(encode({"who": CUSTOMER, "many": [Address(city="Oslo", zip="0150")]}))
    assert back == {"who": CUSTOMER, "many": [Address(city="Oslo", zip="0150")]}
    assert type(back["who"]) is Customer and type(back["who"].address) is Address
    assert back["who"].meta == {TAG: "looks like a tag", "n": [1, 2]}


def test_a_pydantic_model_is_stored_as_its_json_dump() -> None:
    stored = json.loads(encode(Address(city="Rome")))
    assert stored == {TAG: "pydantic", "v": [f"{__name__}:Address", {"city": "Rome", "zip": None}]}


def test_a_stored_pydantic_value_is_validated_when_rebuilt() -> None:
    with pytest.raises(XComError, match=r"cannot rebuild the stored pydantic model .*:Address"):
        decode(_stored("pydantic", f"{__name__}:Address", {"zip": "1"}))


def test_a_pydantic_model_pydantic_cannot_dump_fails_at_push_naming_it() -> None:
    with pytest.raises(UnsupportedValueError) as err:
        encode({"held": Holder(blob=Blob())})
    message = str(err.value)
    assert f"value['held'] of type {__name__}.Holder" in message
    assert "pydantic cannot dump it as JSON" in message


def test_a_plain_class_is_not_rebuilt_as_a_pydantic_model() -> None:
    with pytest.raises(XComError, match=r"stored pydantic model: .*:Plain is not one"):
        decode(_stored("pydantic", f"{__name__}:Plain", {"x": 1}))


def test_pydantic_dataclasses_are_rebuilt_through_their_validating_init() -> None:
    assert decode(encode(Checked(3))) == Checked(3)
    with pytest.raises(XComError, match=r"cannot rebuild the stored dataclass .*:Checked"):
        decode(_stored("dataclass", f"{__name__}:Checked", {"n": "not a number"}))
