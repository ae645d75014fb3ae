"""Dataclasses, pydantic models and enums in XCom values: stored with their class's path.

A value is stored as its class's ``"module:qualname"`` and its data through the codec (so a
``datetime`` field stays a ``datetime``): a dataclass's ``__init__`` fields, a pydantic
model's ``model_dump(mode="json")`` (pydantic's own round-trip form, as Airflow stores it),
an enum member's value. Pushing checks that the class can be found again by that path, so a
class defined inside a function fails at push time rather than when it is pulled.

Rebuilding is deliberately narrow. The reader looks the path up (importing the module if it
is not imported yet) and accepts only a class of the expected family: a dataclass is rebuilt
through its own ``__init__``, a pydantic model through ``model_validate`` (which validates),
an enum by value. A path naming a function, a builtin or any other kind of class is refused,
so stored data can never make the reader call an arbitrary callable. Tags are only made by
the codec's encoder (a pushed dict that contains the tag key is escaped), so plain data that
went through the codec cannot pose as one of these values.

>>> from uuid import SafeUUID
>>> from tradewind.serialization.codec import decode, encode
>>> encode(SafeUUID.safe)
'{"__tw__":"enum","v":["uuid:SafeUUID",0]}'
>>> decode(encode(SafeUUID.safe))
<SafeUUID.safe: 0>
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import re
import sys
import weakref
from collections.abc import Callable
from typing import Any

from tradewind.exceptions import XComError
from tradewind.serialization.extension import Rebuild, Recurse, Refused

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_CLASS_PATH = re.compile(rf"{_NAME}(?:\.{_NAME})*:{_NAME}(?:\.{_NAME})*")

# Per class, what pushing checked once (a list of a million dataclass rows checks one class).
_PATHS: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()
_INIT_FIELDS: weakref.WeakKeyDictionary[type, tuple[str, ...]] = weakref.WeakKeyDictionary()


def encode(value: Any, recurse: Recurse) -> tuple[str, Any] | None:
    """``(kind, data)`` for a dataclass, pydantic model or enum; ``None`` for anything else."""
    cls = type(value)
    if dataclasses.is_dataclass(cls):
        path = class_path(cls)
        fields = {name: recurse(getattr(value, name), f".{name}") for name in _init_fields(cls)}
        return "dataclass", [path, fields]
    pydantic = sys.modules.get("pydantic")  # never imported here: a model means it is loaded
    if pydantic is not None and isinstance(value, pydantic.BaseModel):
        path = class_path(cls)
        try:
            data = value.model_dump(mode="json", round_trip=True)
        except Exception as err:  # pydantic's serialization errors have no common public base
            raise Refused(f"pydantic cannot dump it as JSON ({err})") from None
        return "pydantic", [path, recurse(data, "")]
    if isinstance(value, enum.Enum):
        return "enum", [class_path(cls), recurse(value.value, ".value")]
    return None


def class_path(cls: type) -> str:
    """``"module:qualname"`` for ``cls``, checked to lead back to it (else :class:`Refused`).

    >>> from uuid import SafeUUID
    >>> class_path(SafeUUID)
    'uuid:SafeUUID'
    """
    known = _PATHS.get(cls)
    if known is not None:
        return known
    path = f"{cls.__module__}:{cls.__qualname__}"
    if "<locals>" in cls.__qualname__:
        raise Refused(
            f"its class {cls.__qualname__} is defined inside a function, so a task pulling "
            f"the value could not import it: define {cls.__name__} at module level"
        )
    module = sys.modules.get(cls.__module__)
    if module is None or not _CLASS_PATH.fullmatch(path) or _lookup(module, path) is not cls:
        raise Refused(f"its class cannot be found again as {path}, so it could not be rebuilt")
    _PATHS[cls] = path
    return path


def _init_fields(cls: type) -> tuple[str, ...]:
    """The fields a dataclass is rebuilt from, checked once against its ``__init__``."""
    known = _INIT_FIELDS.get(cls)
    if known is not None:
        return known
    names = tuple(f.name for f in dataclasses.fields(cls) if f.init)
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):  # no signature to check: rebuilding will tell
        params = inspect.Signature().parameters.values()
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
    accepted = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    needed = {
        p.name
        for p in params
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    missing = sorted(needed - set(names))
    if missing:
        raise Refused(
            f"its __init__ needs {', '.join(missing)}, which are not stored fields "
            "(InitVar or a custom __init__), so it could not be rebuilt from its fields"
        )
    unknown = [] if takes_any else [n for n in names if n not in accepted]
    if unknown:
        raise Refused(f"its __init__ does not take its fields {', '.join(unknown)}")
    _INIT_FIELDS[cls] = names
    return names


def _lookup(module: Any, path: str) -> Any:
    """The class at ``qualname`` in ``module``, or ``None``; every step must be a class."""
    found: Any = module
    for name in path.split(":", 1)[1].split("."):
        found = getattr(found, name, None)
        if not isinstance(found, type):
            return None
    return found


def resolve(path: Any, family: str, accepts: Callable[[type], bool]) -> type:
    """The class a stored value names, if it is of ``family`` (else :class:`XComError`).

    >>> is_enum = lambda cls: issubclass(cls, enum.Enum)
    >>> resolve("uuid:SafeUUID", "enum", is_enum)
    <enum 'SafeUUID'>
    >>> resolve("os:system", "enum", is_enum)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tradewind.exceptions.XComError: cannot rebuild a stored enum: os:system is not one, ...
    """
    if not isinstance(path, str) or not _CLASS_PATH.fullmatch(path):
        raise XComError(f"cannot rebuild a stored {family}: {path!r} is not a class path")
    module_name = path.split(":", 1)[0]
    module = sys.modules.get(module_name)
    if module is None:
        try:
            module = importlib.import_module(module_name)
        except Exception as err:  # whatever the module raised while importing
            raise XComError(
                f"cannot rebuild a stored {family}: its class {path} cannot be imported where "
                f"the value is pulled ({type(err).__name__}: {err}); define the class in a "
                "module that this task can import"
            ) from None
    found = _lookup(module, path)
    if found is None and not hasattr(module, path.split(":", 1)[1].split(".")[0]):
        raise XComError(
            f"cannot rebuild a stored {family}: module {module_name} has no class "
            f"{path.split(':', 1)[1]} (renamed or removed since the value was pushed?)"
        )
    if found is None or not accepts(found):
        raise XComError(
            f"cannot rebuild a stored {family}: {path} is not one, and a stored value only "
            "ever rebuilds dataclasses, pydantic models and enums"
        )
    cls: type = found
    return cls


def _parts(raw: Any, family: str) -> tuple[Any, Any]:
    if not isinstance(raw, list) or len(raw) != 2:
        raise XComError(f"stored {family} is malformed: expected [class path, data]")
    return raw[0], raw[1]


def _rebuilt(path: str, family: str, make: Callable[[], Any]) -> Any:
    try:
        return make()
    except Exception as err:  # the class's own __init__/validation said no
        raise XComError(
            f"cannot rebuild the stored {family} {path} ({type(err).__name__}: {err}); "
            "did the class change since the value was pushed?"
        ) from err


def decode_dataclass(raw: Any, rebuild: Rebuild) -> Any:
    """The dataclass instance :func:`encode` stored."""
    path, fields = _parts(raw, "dataclass")
    cls = resolve(path, "dataclass", dataclasses.is_dataclass)
    if not isinstance(fields, dict):
        raise XComError(f"stored dataclass {path} is malformed: its fields are not a mapping")
    # Field by field: the mapping itself is field names, never a tagged value.
    kwargs = {str(name): rebuild(v) for name, v in fields.items()}
    return _rebuilt(path, "dataclass", lambda: cls(**kwargs))


def _is_pydantic_model(cls: type) -> bool:
    pydantic = sys.modules.get("pydantic")  # importing the model's module imported pydantic
    return pydantic is not None and issubclass(cls, pydantic.BaseModel)


def decode_pydantic(raw: Any, rebuild: Rebuild) -> Any:
    """The pydantic model :func:`encode` stored, validated by its class."""
    path, data = _parts(raw, "pydantic model")
    cls: Any = resolve(path, "pydantic model", _is_pydantic_model)
    return _rebuilt(path, "pydantic model", lambda: cls.model_validate(rebuild(data)))


def decode_enum(raw: Any, rebuild: Rebuild) -> Any:
    """The enum member :func:`encode` stored."""
    path, value = _parts(raw, "enum")
    cls = resolve(path, "enum", lambda c: issubclass(c, enum.Enum))
    return _rebuilt(path, "enum", lambda: cls(rebuild(value)))
