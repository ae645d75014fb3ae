"""Params: typed, validated run inputs with defaults, overridable by ``dag_run.conf``.

A :class:`Param` carries a default and JSON-schema keywords (``type``, ``minimum``,
``enum``, ``pattern``, ...) or a whole ``schema={...}``. A default must be a JSON value
(checked at once). As in Airflow, a default need not satisfy the schema when the DAG only runs
when triggered (``Param(None, type="string")`` asks the person triggering for a value); a DAG
with a schedule must have valid defaults for every param, checked when the DAG is defined.
Every run's values (defaults overridden by ``dag_run.conf``) are checked before it starts.

>>> p = Param(5, type="integer", minimum=1)
>>> p.resolve(3)
3
>>> p.resolve(0)
Traceback (most recent call last):
...
tradewind.exceptions.ParamValidationError: 0 is less than the minimum of 1
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from tradewind.exceptions import ParamValidationError

if TYPE_CHECKING:
    from tradewind.sdk.dag import DAG

_NOTSET: Any = type("_NotSet", (), {"__repr__": lambda self: "NOTSET"})()


class Param:
    """A param with a default value and JSON-schema keywords to validate it."""

    def __init__(
        self,
        default: Any = _NOTSET,
        description: str | None = None,
        **schema: Any,
    ) -> None:
        self.value = default
        self.description = description
        if "schema" in schema:
            whole = schema.pop("schema")
            if schema:
                raise ParamValidationError(
                    f"give the schema either as schema={{...}} or as keywords, not both "
                    f"(got schema= and {sorted(schema)})"
                )
            if not isinstance(whole, dict):
                raise ParamValidationError(f"schema must be a dict, got {type(whole).__name__}")
            schema = dict(whole)
        self.schema: dict[str, Any] = schema
        if schema:
            _check_schema(schema)
        if default is not _NOTSET:
            try:
                json.dumps(default)
            except (TypeError, ValueError):
                raise ParamValidationError(
                    f"param default {default!r} ({type(default).__name__}) is not JSON "
                    "serializable; use str, int, float, bool, None, list or dict"
                ) from None

    @property
    def has_value(self) -> bool:
        return self.value is not _NOTSET

    def _validate(self, value: Any) -> None:
        if not self.schema:
            return
        if not needs_jsonschema(self):
            # The common schema, checked here: importing jsonschema costs a task process
            # that forked without it tens of milliseconds.
            if not _has_type(value, self.schema["type"]):
                raise ParamValidationError(_type_message(value, self.schema["type"]))
            return
        import jsonschema

        try:
            jsonschema.validate(value, self.schema, format_checker=jsonschema.FormatChecker())
        except jsonschema.ValidationError as err:
            raise ParamValidationError(err.message) from None
        except jsonschema.SchemaError as err:
            raise ParamValidationError(f"invalid schema {self.schema!r}: {err.message}") from None

    def with_value(self, value: Any) -> Param:
        """A copy of this param holding ``value`` (checked against the schema)."""
        self.resolve(value)
        return Param(value, self.description, schema=copy.deepcopy(self.schema))

    def resolve(self, value: Any = _NOTSET) -> Any:
        """Return ``value`` (or the default) after checking it against the schema."""
        final = self.value if value is _NOTSET else value
        if final is _NOTSET:
            raise ParamValidationError("No value passed and Param has no default value")
        try:
            json.dumps(final)
        except (TypeError, ValueError):
            raise ParamValidationError(f"value {final!r} is not JSON serializable") from None
        self._validate(final)
        return final

    def dump(self) -> dict[str, Any]:
        return {
            "value": None if self.value is _NOTSET else self.value,
            "description": self.description,
            "schema": self.schema,
        }

    def __repr__(self) -> str:
        return f"Param({self.value!r}, schema={self.schema!r})"


def _check_schema(schema: dict[str, Any]) -> None:
    if _type_only(schema):
        return  # valid by construction; jsonschema stays unimported (see ``_validate``)
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as err:
        raise ParamValidationError(f"invalid schema {schema!r}: {err.message}") from None


class ParamsDict(MutableMapping[str, Any]):
    """A mapping of param name to :class:`Param`; reading an item gives the value."""

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self._params: dict[str, Param] = {}
        for key, value in (params or {}).items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        """A :class:`Param` replaces the entry; a plain value becomes the new value of an
        existing param (checked against its schema, which is kept) or a new param without
        a schema."""
        if not isinstance(value, Param):
            if key in self._params:
                try:
                    value = self._params[key].with_value(value)
                except ParamValidationError as err:
                    raise ParamValidationError(f"Invalid input for param {key}: {err}") from None
            else:
                try:
                    value = Param(value)
                except ParamValidationError as err:
                    raise ParamValidationError(f"param {key!r}: {err}") from None
        self._params[key] = value

    def __getitem__(self, key: str) -> Any:
        param = self._params[key]
        return None if param.value is _NOTSET else param.value

    def __delitem__(self, key: str) -> None:
        del self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def get_param(self, key: str) -> Param:
        return self._params[key]

    def items_params(self) -> list[tuple[str, Param]]:
        return list(self._params.items())

    def validate(self) -> dict[str, Any]:
        """Check every param's current value; return them as a plain dict."""
        return self.resolve()

    def update_params(self, other: ParamsDict) -> None:
        for key, param in other._params.items():
            self._params[key] = param

    def __deepcopy__(self, memo: dict[int, Any]) -> ParamsDict:
        new = ParamsDict()
        new._params = {k: copy.deepcopy(v, memo) for k, v in self._params.items()}
        return new

    def resolve(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Validate every param (with ``overrides`` from ``dag_run.conf``); return plain values.

        Conf keys that are not params pass through unchecked, as in Airflow.
        """
        overrides = dict(overrides or {})
        out: dict[str, Any] = {}
        errors: list[str] = []
        for key, param in self._params.items():
            try:
                out[key] = param.resolve(overrides.pop(key) if key in overrides else _NOTSET)
            except ParamValidationError as err:
                errors.append(f"Invalid input for param {key}: {err}")
        if errors:
            raise ParamValidationError("; ".join(errors))
        out.update(overrides)
        return out

    def __repr__(self) -> str:
        return f"ParamsDict({dict(self.items())!r})"


class DagParam:
    """Stands for a DAG param's run-time value inside an ``@dag`` function body."""

    def __init__(self, dag: DAG, name: str) -> None:
        self.dag = dag
        self.name = name

    def resolve(self, context: Mapping[str, Any]) -> Any:
        return context["params"][self.name]

    def iter_references(self) -> Iterator[Any]:
        return iter(())

    def __repr__(self) -> str:
        return f"DagParam({self.name!r})"


#: JSON Schema's basic types, as jsonschema's default type checker reads them.
_JSON_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        not isinstance(v, bool)
        and (isinstance(v, int) or (isinstance(v, float) and v.is_integer()))
    ),
    "number": lambda v: not isinstance(v, bool) and isinstance(v, int | float),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def needs_jsonschema(param: Param) -> bool:
    """Whether checking a value against ``param``'s schema takes ``jsonschema`` (a schema
    saying only which basic type a value has is checked without it)."""
    return bool(param.schema) and not _type_only(param.schema)


def _type_only(schema: dict[str, Any]) -> bool:
    """Whether ``schema`` says only which basic type(s) a value has (plus annotations)."""
    kinds = schema.get("type")
    names = [kinds] if isinstance(kinds, str) else kinds
    if not isinstance(names, list) or not names or not all(n in _JSON_TYPES for n in names):
        return False
    return set(schema) <= {"type", "title", "description", "default", "examples"}


def _has_type(value: Any, kinds: str | list[str]) -> bool:
    names = [kinds] if isinstance(kinds, str) else kinds
    return any(_JSON_TYPES[name](value) for name in names)


def _type_message(value: Any, kinds: str | list[str]) -> str:
    """jsonschema's message for a value of the wrong type."""
    names = [kinds] if isinstance(kinds, str) else kinds
    return f"{value!r} is not of type {', '.join(repr(n) for n in names)}"
