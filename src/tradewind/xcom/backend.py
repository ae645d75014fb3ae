"""XCom backends: how a pushed value becomes what the metadata DB row holds, and back.

Every task process, executor and CLI command uses one backend, chosen by the setting
``xcom.backend`` (a class path; the default,
:class:`~tradewind.xcom.object_storage_xcom.ObjectStorageXCom`, keeps small values in the DB
and larger ones in object storage). The contract has
Airflow's names, so a custom Airflow backend ports by changing its imports:

* :meth:`BaseXCom.serialize_value` turns a value into the row's text (JSON), at push time,
  in the task: a value that cannot be stored fails there, naming what and why;
* :meth:`BaseXCom.deserialize_value` turns a row back into the value, at pull time;
* :meth:`BaseXCom.orm_deserialize_value` gives a short preview for the API, UI and CLI,
  without downloading what the row refers to;
* :meth:`BaseXCom.purge` removes what a row refers to outside the DB, when the row is
  deleted (a task cleared or run again, a run or DAG deleted, ``tradewind xcom purge``).

A custom backend subclasses :class:`BaseXCom`; ``examples/redis_xcom_backend.py`` is one.

>>> backend = BaseXCom()
>>> text = backend.serialize_value((1, 2), key="k", task_id="t", dag_id="d", run_id="r")
>>> backend.deserialize_value(XComResult("d", "r", "t", -1, "k", text))
(1, 2)
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tradewind.exceptions import XComError
from tradewind.serialization import codec
from tradewind.xcom.base import XComKey

#: Where values over the DB limit go instead; named in the error when a value is too big.
DEFAULT_BACKEND = "tradewind.xcom.object_storage_xcom.ObjectStorageXCom"
MAX_DB_BYTES_SETTING = "xcom.max_db_bytes"
DEFAULT_MAX_DB_BYTES = 48 * 1024
#: How long a preview (:meth:`BaseXCom.orm_deserialize_value`) of a value may get.
PREVIEW_CHARS = 200


@dataclass(frozen=True)
class XComResult:
    """One stored XCom row, as a backend's :meth:`~BaseXCom.deserialize_value` and
    :meth:`~BaseXCom.purge` receive it (Airflow passes its ORM row; the fields are the
    same). ``value`` is the text :meth:`~BaseXCom.serialize_value` returned."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    key: str
    value: str


def result_of(key: XComKey, value: str) -> XComResult:
    """The row ``value`` makes under ``key``."""
    return XComResult(key.dag_id, key.run_id, key.task_id, key.map_index, key.key, value)


def serialize_under(backend: BaseXCom, key: XComKey, value: Any) -> XComResult:
    """The row ``backend`` makes of ``value`` pushed under ``key``."""
    text = backend.serialize_value(
        value,
        key=key.key,
        task_id=key.task_id,
        dag_id=key.dag_id,
        run_id=key.run_id,
        map_index=key.map_index,
    )
    return result_of(key, text)


class BaseXCom:
    """Values in the metadata DB, in the typed JSON codec (see
    :mod:`tradewind.serialization.codec`), up to ``xcom.max_db_bytes``.

    Subclass it for a custom backend and name the subclass in ``xcom.backend``. Methods
    may be instance, class or static methods. ``serialize_value`` must return JSON text
    (the executor refuses anything else), of at most ``xcom.max_db_bytes``.

    >>> class Upper(BaseXCom):
    ...     def serialize_value(self, value, **where):
    ...         return super().serialize_value(value.upper(), **where)
    >>> Upper().serialize_value("hi", key="k", task_id="t", dag_id="d", run_id="r")
    '"HI"'
    """

    def __init__(self) -> None:
        #: ``xcom.max_db_bytes``, read once: a backend lives as long as its process.
        self.max_db_bytes = max_db_bytes()

    def serialize_value(
        self,
        value: Any,
        *,
        key: str | None = None,
        task_id: str | None = None,
        dag_id: str | None = None,
        run_id: str | None = None,
        map_index: int | None = None,
    ) -> str:
        """The row's text for ``value``: the codec's JSON, refused over the DB limit."""
        text = codec.encode(value)
        self.check_db_size(utf8_length(text), key, task_id)
        return text

    def deserialize_value(self, result: XComResult) -> Any:
        """The value a row holds."""
        return codec.decode(result.value)

    def orm_deserialize_value(self, result: XComResult) -> Any:
        """A preview of the value for listings: the value itself when it is short, else
        the start of its text (never downloads anything)."""
        if len(result.value) <= PREVIEW_CHARS:
            return self.deserialize_value(result)
        return preview_text(result.value)

    def check_db_size(self, size: int, key: str | None, task_id: str | None) -> None:
        """Refuse a row of ``size`` bytes over ``xcom.max_db_bytes``."""
        check_db_size(size, self.max_db_bytes, key, task_id)

    def purge(self, result: XComResult) -> None:
        """Remove what the row refers to outside the DB (nothing, here). Called after the
        row is deleted; must not fail for something already gone."""

    def purge_many(self, results: Iterable[XComResult]) -> None:
        """:meth:`purge` each of these rows (a backend may do it in one batch)."""
        for result in results:
            self.purge(result)

    #: Only rows whose value starts with these bytes need :meth:`purge` (``None``: any
    #: row may); lets a big delete read back only those rows.
    purged_prefix: bytes | None = None

    @property
    def purges(self) -> bool:
        """Whether deleting rows needs :meth:`purge` at all (skipped when it is the base's
        no-op, so deleting plain rows costs nothing more)."""
        return (
            type(self).purge is not BaseXCom.purge
            or type(self).purge_many is not BaseXCom.purge_many
        )


def preview_text(text: str) -> str:
    """The start of a long stored text, marked as cut."""
    return text[:PREVIEW_CHARS] + f"... ({len(text)} characters)"


def max_db_bytes() -> int:
    """``xcom.max_db_bytes``: the largest row a value may take in the metadata DB."""
    from tradewind import config

    return int_setting(
        MAX_DB_BYTES_SETTING, config.get("xcom", "max_db_bytes"), DEFAULT_MAX_DB_BYTES
    )


def int_setting(name: str, raw: Any, default: int) -> int:
    """A non-negative integer setting (``None``: the default), or an error naming it."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise XComError(f"{name} must be a whole number of bytes, not {raw!r}") from None
    if value < 0:
        raise XComError(f"{name} must not be negative, not {value}")
    return value


def utf8_length(text: str) -> int:
    """How many bytes ``text`` takes stored (without a copy for ASCII, the usual case)."""
    return len(text) if text.isascii() else len(text.encode())


def check_db_size(size: int, limit: int, key: str | None, task_id: str | None) -> None:
    """Refuse a row over ``xcom.max_db_bytes`` (``limit``), saying what to change."""
    if size > limit:
        where = f"XCom {key!r} of task {task_id!r}" if task_id else f"XCom {key!r}"
        raise XComError(
            f"{where} is {size} bytes once encoded, over {MAX_DB_BYTES_SETTING} ({limit}). "
            "Set xcom.objectstorage_path to keep larger values in object storage, or raise "
            f"{MAX_DB_BYTES_SETTING}"
        )


def load_backend(class_path: str) -> BaseXCom:
    """An instance of the backend class at ``class_path`` (``package.module.Class``)."""
    module_name, _, name = class_path.strip().rpartition(".")
    if not module_name or not name:
        raise XComError(
            f"xcom.backend must be a class path like package.module.Class, not {class_path!r}"
        )
    try:
        found = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as err:
        raise XComError(f"xcom.backend {class_path!r} cannot be imported: {err}") from None
    if not (isinstance(found, type) and issubclass(found, BaseXCom)):
        raise XComError(f"xcom.backend {class_path!r} is not a subclass of tradewind.xcom.BaseXCom")
    return found()


@functools.cache
def _backend_for(home: str | None, env_class_path: str | None) -> BaseXCom:
    from tradewind import config

    return load_backend(str(config.get("xcom", "backend") or DEFAULT_BACKEND))


def get_backend() -> BaseXCom:
    """This process's backend, from ``xcom.backend``: one instance per process and
    ``$TRADEWIND_HOME``, made in a worker before it forks task processes, which inherit it
    (so a backend must stay usable after ``os.fork()``: the built-in one keeps a storage
    connection per process id). It reads its settings when made; finding it again reads
    only the environment, since every XCom push and pull asks for it."""
    return _backend_for(os.environ.get("TRADEWIND_HOME"), os.environ.get(_BACKEND_ENV))


_BACKEND_ENV = "TRADEWIND__XCOM__BACKEND"


def reset_backend() -> None:
    """Forget the backend instances (tests change settings between cases)."""
    _backend_for.cache_clear()
