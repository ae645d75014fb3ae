"""How a trigger crosses from the worker that defers to the triggerer that runs it.

A deferring task's trigger is stored as two strings: its class path and its keyword
arguments as text in the typed XCom codec (:mod:`tradewind.serialization.codec`, so
datetimes, timedeltas, tuples and the like come back as themselves, and nothing is
pickled). The triggerer rebuilds it with ``cls(**kwargs)``.

Everything that can be checked where the task defers is checked there, by
:func:`serialize_trigger`, so a trigger that could never be rebuilt fails the task at once
with a :class:`~tradewind.exceptions.TaskDeferralError` naming the problem, instead of
failing later, far away, in the triggerer.

>>> from datetime import datetime, timezone
>>> from tradewind.triggers.temporal import DateTimeTrigger
>>> path, text = serialize_trigger(DateTimeTrigger(datetime(2030, 1, 1, tzinfo=timezone.utc)))
>>> path
'tradewind.triggers.temporal.DateTimeTrigger'
>>> load_trigger(path, text).moment
datetime.datetime(2030, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

from tradewind.exceptions import TaskDeferralError
from tradewind.serialization import codec
from tradewind.triggers.base import BaseTrigger

_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def import_object(path: str) -> Any:
    """The object at ``path``, a dotted ``package.module.name`` (the name may itself be
    dotted, ``package.module.Class.attribute``). Raises :class:`ImportError` saying which
    part is missing, or what importing the module raised.

    >>> import_object("os.path.join").__name__
    'join'
    """
    if not isinstance(path, str) or not _DOTTED.fullmatch(path):
        raise ImportError(f"{path!r} is not a dotted import path like 'package.module.name'")
    parts = path.split(".")
    # Longest importable module prefix first; the rest are attributes.
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            found: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name + ".").startswith(exc.name + "."):
                continue  # this module (or a parent) does not exist: try a shorter prefix
            raise ImportError(f"importing {module_name!r} for {path!r} failed: {exc}") from exc
        except Exception as exc:
            raise ImportError(
                f"importing {module_name!r} for {path!r} raised {type(exc).__name__}: {exc}"
            ) from exc
        for depth, name in enumerate(parts[split:], start=split):
            try:
                found = getattr(found, name)
            except AttributeError:
                owner = ".".join(parts[:depth])
                raise ImportError(
                    f"cannot import {path!r}: {owner!r} has no attribute {name!r}"
                ) from None
        return found
    raise ImportError(f"cannot import {path!r}: there is no module named {parts[0]!r}")


def trigger_class(classpath: str) -> type[BaseTrigger]:
    """The trigger class at ``classpath``; :class:`TaskDeferralError` if it is not one."""
    try:
        found = import_object(classpath)
    except ImportError as exc:
        raise TaskDeferralError(f"cannot load trigger class {classpath!r}: {exc}") from exc
    if not (isinstance(found, type) and issubclass(found, BaseTrigger)):
        raise TaskDeferralError(
            f"{classpath!r} is {found!r}, not a subclass of "
            "tradewind.triggers.base.BaseTrigger; only triggers can be loaded"
        )
    return found


def serialize_trigger(trigger: BaseTrigger) -> tuple[str, str]:
    """``(class path, keyword arguments as codec text)`` for storing ``trigger``.

    Checks that the class path imports back to the trigger's class (or to a base class
    with the same ``run`` and ``cleanup``, as ``TimeDeltaTrigger`` stores itself as the
    ``DateTimeTrigger`` it is), that the class accepts the arguments, and that the codec
    can store them. Raises :class:`~tradewind.exceptions.TaskDeferralError` otherwise.

    >>> from tradewind.triggers.file import FileTrigger
    >>> serialize_trigger(FileTrigger("/data/*.csv"))
    ('tradewind.triggers.file.FileTrigger', '{"filepath":"/data/*.csv","recursive":false,"poke_interval":5.0}')
    """  # noqa: E501 -- a doctest output line cannot be wrapped
    if not isinstance(trigger, BaseTrigger):
        raise TaskDeferralError(
            f"a trigger must be a tradewind.triggers.base.BaseTrigger, not "
            f"{type(trigger).__qualname__}"
        )
    name = type(trigger).__qualname__
    try:
        serialized = trigger.serialize()
    except Exception as exc:
        raise TaskDeferralError(f"{name}.serialize() raised {type(exc).__name__}: {exc}") from exc
    if not (
        isinstance(serialized, tuple)
        and len(serialized) == 2
        and isinstance(serialized[0], str)
        and isinstance(serialized[1], dict)
        and all(isinstance(key, str) for key in serialized[1])
    ):
        raise TaskDeferralError(
            f"{name}.serialize() must return (class path, dict of keyword arguments), "
            f"not {serialized!r}"
        )
    classpath, kwargs = serialized
    cls = trigger_class(classpath)
    _check_same_behaviour(type(trigger), cls, classpath)
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as exc:
        raise TaskDeferralError(
            f"{classpath} cannot be rebuilt from what {name}.serialize() returns "
            f"({sorted(kwargs)}): {exc}"
        ) from exc
    try:
        text = codec.encode(kwargs)
    except codec.UnsupportedValueError as exc:
        message = str(exc)
        try:  # again, only so the message says "arguments[...]" rather than "value[...]"
            codec.to_jsonable(kwargs, "arguments")
        except codec.UnsupportedValueError as named:
            message = str(named)
        raise TaskDeferralError(f"cannot serialize trigger {classpath}: {message}") from exc
    return classpath, text


def _check_same_behaviour(actual: type[BaseTrigger], stored: type[BaseTrigger], path: str) -> None:
    if actual is stored:
        return
    if issubclass(actual, stored) and all(
        getattr(actual, method) is getattr(stored, method) for method in ("run", "cleanup")
    ):
        return
    raise TaskDeferralError(
        f"{actual.__module__}.{actual.__qualname__}.serialize() names {path!r}, which "
        f"imports as {stored.__module__}.{stored.__qualname__}: the triggerer would run "
        "different code (override serialize() to return this class's own import path)"
    )


def load_trigger(classpath: str, kwargs_text: str) -> BaseTrigger:
    """Rebuild a trigger stored by :func:`serialize_trigger`.

    Raises :class:`~tradewind.exceptions.TaskDeferralError` when the class cannot be
    imported, is not a trigger, or cannot be built from the arguments.

    >>> load_trigger("tradewind.triggers.file.FileTrigger", '{"filepath": "/tmp/x"}')
    <tradewind.triggers.file.FileTrigger {'filepath': '/tmp/x', 'recursive': False, 'poke_interval': 5.0}>
    """  # noqa: E501 -- a doctest output line cannot be wrapped
    cls = trigger_class(classpath)
    try:
        kwargs = codec.decode(kwargs_text)
    except Exception as exc:
        raise TaskDeferralError(
            f"the stored arguments of trigger {classpath} cannot be decoded: {exc}"
        ) from exc
    if not isinstance(kwargs, dict) or not all(isinstance(key, str) for key in kwargs):
        raise TaskDeferralError(
            f"the stored arguments of trigger {classpath} must be a dict of keyword "
            f"arguments, not {type(kwargs).__name__}"
        )
    try:
        return cls(**kwargs)
    except Exception as exc:
        raise TaskDeferralError(
            f"building trigger {classpath} from its stored arguments raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
