"""``Variable``: named configuration values, read at run time.

>>> import os
>>> os.environ["TRADEWIND_VAR_REGION"] = "eu-west-1"
>>> Variable.get("region")
'eu-west-1'
>>> Variable.get("missing", default_var="x")
'x'
"""

from __future__ import annotations

import json
from typing import Any

from tradewind.exceptions import VariableNotFound
from tradewind.sdk.secrets_access import current_reader

_NOTSET: Any = object()


class Variable:
    """Read variables by key; see :mod:`tradewind.sdk.secrets_access` for where from."""

    @classmethod
    def get(cls, key: str, default_var: Any = _NOTSET, deserialize_json: bool = False) -> Any:
        """The value of ``key``; ``default_var`` if it is missing, else raise."""
        raw = current_reader().get_variable(key)
        if raw is None:
            if default_var is _NOTSET:
                raise VariableNotFound(f"Variable {key!r} does not exist")
            return default_var
        if deserialize_json:
            try:
                return json.loads(raw)
            except json.JSONDecodeError as err:
                raise ValueError(f"Variable {key!r} is not valid JSON: {err}") from None
        return raw
