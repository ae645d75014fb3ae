"""Params whose schema only names a type are checked without jsonschema, exactly as
jsonschema would check them: same verdict, same message."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from tradewind.exceptions import ParamValidationError
from tradewind.sdk.params import Param

VALUES: list[Any] = [0, 1, -3, 1.0, 1.5, True, False, None, "x", "", [], [1], {}, {"a": 1}]
TYPES: list[Any] = [
    "string",
    "integer",
    "number",
    "boolean",
    "null",
    "array",
    "object",
    ["string", "null"],
    ["integer", "boolean"],
]


def jsonschema_verdict(value: Any, schema: dict[str, Any]) -> str | None:
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as err:
        return err.message
    return None


@pytest.mark.parametrize("kind", TYPES, ids=str)
def test_type_only_schemas_give_jsonschemas_verdict_and_message(kind: Any) -> None:
    schema = {"type": kind, "description": "a param"}
    for value in VALUES:
        expected = jsonschema_verdict(value, schema)
        try:
            Param(value, schema=dict(schema)).resolve()
            got = None
        except ParamValidationError as err:
            got = str(err)
        assert got == expected, (value, kind)


def test_other_keywords_still_go_to_jsonschema() -> None:
    with pytest.raises(ParamValidationError, match="less than the minimum"):
        Param(-1, schema={"type": "integer", "minimum": 0}).resolve()
    with pytest.raises(ParamValidationError, match="is not one of"):
        Param("c", schema={"type": "string", "enum": ["a", "b"]}).resolve()
