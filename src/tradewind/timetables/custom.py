"""Custom timetables: a deployment's own :class:`Timetable` classes, trusted by name.

As in Airflow, a DAG may use a timetable class of its own: a subclass of
:class:`~tradewind.timetables.base.Timetable` overriding ``next_dagrun_info`` and
``infer_manual_data_interval`` (Airflow's keyword-only signatures and its ``DagRunInfo``
work) and, when it has arguments, ``serialize``/``deserialize`` (Airflow's pair) or
``serialize_args``/``from_args``. The serialized DAG holds its import path and its data::

    {"type": "my_company.timetables.AfterWorkday", "summary": str, "description": str,
     "data": {...}}                      # what serialize() (or serialize_args()) returned

Rebuilding it means importing that class, and the scheduler never imports user code it was
not told to trust. So a class is rebuilt only if the deployment lists its path in
``core.timetable_classes`` (Airflow: registered by a plugin). A path read from the database
is only ever compared with that list, never imported as such: a DAG file cannot make the
scheduler run code of its choosing.

* The DAG processor refuses a DAG whose class is not listed, or cannot be imported or
  rebuilt: its file gets an import error saying so, where users look when a DAG is missing
  (the file's other DAGs are stored).
* ``dags test`` rebuilds the timetable the same way before it runs, so what passes there
  is what the scheduler can schedule.
* A service that meets one anyway (its settings differ from the DAG processor's) reads an
  :class:`UnavailableTimetable`: the DAG is never scheduled and using its schedule raises
  the reason; nothing else about the DAG stops working, and the scheduler does not stop.

The scheduler calls the user's class through :class:`CustomTimetable`, which takes
Airflow's signatures and return types and keeps an exception in the user's code from
reaching the scheduler loop.

>>> from tradewind.timetables import timetable_from_dict
>>> try:
...     timetable_from_dict({"type": "my_company.timetables.AfterWorkday", "data": {}})
... except TimetableNotRegistered as err:
...     print(str(err).partition(":")[0])
timetable class 'my_company.timetables.AfterWorkday' is not registered
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tradewind.exceptions import DagDefinitionError, TimetableNotRegistered, TimetableUnavailable
from tradewind.timetables.base import DataInterval, NextRun, TimeRestriction, Timetable
from tradewind.timetables.zones import to_utc

log = logging.getLogger("tradewind.timetables")

#: How :mod:`tradewind.dag_processing.loader` names a DAG file's module: a class defined in
#: a DAG file cannot be imported by that path anywhere else.
_DAG_FILE_MODULE_PREFIX = "tradewind_dag_"


def class_path(cls: type) -> str:
    """The dotted path a class is serialized (and registered) by.

    >>> class_path(Timetable)
    'tradewind.timetables.base.Timetable'
    """
    return f"{cls.__module__}.{cls.__qualname__}"


def registered_paths() -> frozenset[str]:
    """The class paths ``core.timetable_classes`` lists (read now): a TOML list of strings,
    or one comma-separated string (as an environment variable gives it)."""
    from tradewind import config

    value = config.get("core", "timetable_classes")
    items: list[Any]
    if value is None:
        items = []
    elif isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        items = [value]
    if any(not isinstance(item, str) for item in items):
        raise TimetableUnavailable(
            f"core.timetable_classes must be a list of dotted class paths, got {value!r}"
        )
    return frozenset(item.strip() for item in items if item.strip())


def registered_class(path: str) -> type[Timetable]:
    """The timetable class at ``path``, imported only if ``core.timetable_classes`` lists it.

    Raises :class:`TimetableNotRegistered` for a path that is not listed, and
    :class:`TimetableUnavailable` for one that is but cannot be imported.
    """
    if path not in registered_paths():
        message = (
            f"timetable class {path!r} is not registered: list it in core.timetable_classes "
            "(TRADEWIND__CORE__TIMETABLE_CLASSES) for the DAG processor and the scheduler to "
            "use it"
        )
        if path.startswith(_DAG_FILE_MODULE_PREFIX):
            message += "; it is defined in a DAG file, so first move it to a module they can import"
        raise TimetableNotRegistered(message)
    module_name, _, name = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), name)
    except Exception as err:
        raise TimetableUnavailable(
            f"timetable class {path!r} is listed in core.timetable_classes but cannot be "
            f"imported: {type(err).__name__}: {err}"
        ) from None
    if not (isinstance(found, type) and issubclass(found, Timetable)):
        raise TimetableUnavailable(
            f"{path!r} in core.timetable_classes is not a subclass of "
            f"tradewind.timetables.Timetable"
        )
    return found


def serialize_custom(timetable: Timetable) -> dict[str, Any]:
    """The serialized form of a custom timetable: its class path and its own data."""
    cls = type(timetable)
    path = class_path(cls)
    # Airflow's subclasses override serialize(); Tradewind-style ones serialize_args().
    if cls.serialize is Timetable.serialize:
        data = timetable.serialize_args()
    else:
        data = timetable.serialize()
    if not isinstance(data, dict):
        raise DagDefinitionError(
            f"timetable {path}: serialize() must return a dict, got {type(data).__name__}"
        )
    return {
        "type": path,
        "summary": str(timetable.summary or cls.__name__),
        "description": str(timetable.description or ""),
        "data": data,
    }


def rebuild_custom(data: dict[str, Any]) -> CustomTimetable:
    """A custom timetable back from :func:`serialize_custom`'s output, if its class is
    registered (see the module docstring); raises :class:`TimetableUnavailable` if not."""
    path = data["type"]
    cls = registered_class(path)
    payload = data.get("data", {})
    if not isinstance(payload, dict):
        raise DagDefinitionError(f"serialized timetable {path!r}: data must be an object")
    try:
        inner = cls.deserialize(payload)
    except Exception as err:
        raise TimetableUnavailable(
            f"timetable class {path!r} cannot rebuild itself from its serialized data: "
            f"{type(err).__name__}: {err}"
        ) from None
    if not isinstance(inner, Timetable):
        raise TimetableUnavailable(
            f"{path}.deserialize() returned {type(inner).__name__}, not a timetable"
        )
    return CustomTimetable(inner, data)


def _accepts(method: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _as_next_run(info: object) -> NextRun | None:
    """What a user's ``next_dagrun_info`` returned (``DagRunInfo``, ``NextRun`` or ``None``)
    as the :class:`NextRun` the scheduler reads, in UTC."""
    if info is None:
        return None
    run_after = getattr(info, "run_after", None)
    if not isinstance(run_after, datetime):
        raise TypeError(f"next_dagrun_info must return a DagRunInfo or None, got {info!r}")
    interval = getattr(info, "data_interval", None)
    # Airflow lets a run have no data interval (partitioned runs); every run here has one.
    start, end = interval if interval is not None else (run_after, run_after)
    logical = getattr(info, "logical_date", None) or start
    return NextRun(to_utc(logical), DataInterval(to_utc(start), to_utc(end)), to_utc(run_after))


class CustomTimetable(Timetable):
    """A rebuilt custom timetable as the scheduler uses it: the user's instance
    (:attr:`inner`) behind Tradewind's interface.

    It reads the schedule's flags from the user's class, calls its methods with the
    arguments its signatures take, turns what they return into Tradewind's types in UTC, and
    serializes back to exactly what was stored.
    """

    def __init__(self, inner: Timetable, data: dict[str, Any]) -> None:
        self.inner = inner
        self.path: str = data["type"]
        self._data = data
        self.summary = str(data.get("summary") or type(inner).__name__)
        self.description = str(data.get("description") or "")
        self.periodic = bool(inner.periodic)
        self.can_be_scheduled = bool(inner.can_be_scheduled)
        self.active_runs_limit = inner.active_runs_limit
        # Airflow's next_dagrun_info has no ``now``; a Tradewind-style one may take it.
        self._passes_now = _accepts(inner.next_dagrun_info, "now")

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime | None = None,
    ) -> NextRun | None:
        kwargs: dict[str, Any] = {
            "last_automated_data_interval": last_automated_data_interval,
            "restriction": restriction,
        }
        if self._passes_now:
            kwargs["now"] = now
        try:
            return _as_next_run(self.inner.next_dagrun_info(**kwargs))
        except Exception:
            # A bug in the user's class must not stop the scheduler: no run, and say why.
            log.exception("timetable %s failed to work out the next run; none is made", self.path)
            return None

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        try:
            start, end = self.inner.infer_manual_data_interval(run_after=to_utc(run_after))
            return DataInterval(to_utc(start), to_utc(end))
        except Exception as err:
            raise DagDefinitionError(
                f"timetable {self.path} cannot give the data interval of a manual run: "
                f"{type(err).__name__}: {err}"
            ) from None

    def generate_run_id(
        self, *, run_type: str, run_after: datetime, data_interval: DataInterval | None
    ) -> str:
        default = super().generate_run_id(
            run_type=run_type, run_after=run_after, data_interval=data_interval
        )
        if type(self.inner).generate_run_id is Timetable.generate_run_id:
            return default
        from tradewind.sdk.abstractoperator import validate_run_id

        try:
            return validate_run_id(
                self.inner.generate_run_id(
                    run_type=run_type, run_after=run_after, data_interval=data_interval
                )
            )
        except Exception:
            log.exception("timetable %s failed to name a run; using %s", self.path, default)
            return default

    def serialize_args(self) -> dict[str, Any]:
        return {"type": self.path, "data": self._data.get("data", {})}

    def serialize(self) -> dict[str, Any]:
        return dict(self._data)

    def __repr__(self) -> str:
        return f"CustomTimetable({self.path}, {self.summary!r})"


class UnavailableTimetable(Timetable):
    """Stands in for a custom timetable that cannot be rebuilt here (:attr:`error` says why).

    The DAG is never scheduled; a manual run, a backfill or anything else that needs the
    schedule raises that error again. It serializes back to what was stored.
    """

    #: Unknown without the class; saying yes lets a backfill reach the clear error.
    periodic = True
    can_be_scheduled = False

    def __init__(self, data: dict[str, Any], error: TimetableUnavailable) -> None:
        self.path = str(data.get("type"))
        self.error = error
        self.reason = str(error)
        self._data = data
        self.summary = str(data.get("summary") or self.path)
        self.description = str(data.get("description") or "")

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime | None = None,
    ) -> NextRun | None:
        raise type(self.error)(self.reason)

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        raise type(self.error)(self.reason)

    def serialize_args(self) -> dict[str, Any]:
        return {"type": self.path, "data": self._data.get("data", {})}

    def serialize(self) -> dict[str, Any]:
        return dict(self._data)

    def __repr__(self) -> str:
        return f"UnavailableTimetable({self.path})"
