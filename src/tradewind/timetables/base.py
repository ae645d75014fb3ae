"""The Timetable protocol: when runs happen and which data interval each covers.

A timetable is pure: given the last automated run's data interval, the DAG's time bounds
(:class:`TimeRestriction`) and the current time, :meth:`Timetable.next_dagrun_info` says what
the next scheduled run is (:class:`NextRun`) or that there is none yet. The scheduler keeps
the state (the last run) in the metadata DB and asks again after each run is made; nothing
here reads a clock the caller did not pass (``now`` defaults to the real time) or touches a DB.

The semantics are Airflow 3's, checked against Airflow 3.3.2. Every datetime returned is
aware and in UTC; a naive datetime passed in is read as UTC.

A timetable serializes to a small JSON-safe dict (:meth:`Timetable.serialize`) that
:func:`tradewind.timetables.timetable_from_dict` turns back into an equal timetable, so the
scheduler can rebuild it from the serialized DAG without importing the DAG file.

A deployment's own timetable classes subclass :class:`Timetable` as in Airflow (the names
``airflow.timetables.base`` gives them are all here: ``Timetable``, ``DagRunInfo``,
``DataInterval``, ``TimeRestriction``) and are trusted through ``core.timetable_classes``;
see :mod:`tradewind.timetables.custom`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, NamedTuple

from tradewind.timetables.zones import to_utc


class DataInterval(NamedTuple):
    """The span of data a run is about: ``[start, end)``."""

    start: datetime
    end: datetime

    @classmethod
    def exact(cls, at: datetime) -> DataInterval:
        """An "interval" that is one instant."""
        return cls(at, at)


class TimeRestriction(NamedTuple):
    """The DAG's bounds on automated runs.

    ``earliest`` (the start date) and ``latest`` (the end date) are inclusive; ``None`` means
    unbounded. With ``catchup=False`` runs that were missed are not made: only the latest
    due one.

    >>> TimeRestriction(datetime(2024, 1, 1, tzinfo=UTC), None, catchup=False).catchup
    False
    """

    earliest: datetime | None
    latest: datetime | None
    catchup: bool


class NextRun(NamedTuple):
    """A run a timetable wants made: its logical date, data interval, and when it may start.

    >>> NextRun.interval(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
    ... # doctest: +NORMALIZE_WHITESPACE
    NextRun(logical_date=datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc),
            data_interval=DataInterval(start=datetime.datetime(2024, 1, 1, 0, 0,
                                       tzinfo=datetime.timezone.utc),
                                       end=datetime.datetime(2024, 1, 2, 0, 0,
                                       tzinfo=datetime.timezone.utc)),
            run_after=datetime.datetime(2024, 1, 2, 0, 0, tzinfo=datetime.timezone.utc))
    """

    logical_date: datetime
    data_interval: DataInterval
    run_after: datetime

    @classmethod
    def exact(cls, at: datetime) -> NextRun:
        """A run at ``at`` about the instant ``at``."""
        at = to_utc(at)
        return cls(at, DataInterval(at, at), at)

    @classmethod
    def interval(cls, start: datetime, end: datetime) -> NextRun:
        """A run about ``[start, end)`` that may start at ``end``; its logical date is ``start``."""
        start, end = to_utc(start), to_utc(end)
        return cls(start, DataInterval(start, end), end)


class DagRunInfo(NamedTuple):
    """Airflow's name and shape for what a custom timetable's ``next_dagrun_info`` returns.

    The scheduler reads it like a :class:`NextRun`; its logical date is the start of its data
    interval.

    >>> start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)
    >>> info = DagRunInfo.interval(start, end)
    >>> info.logical_date == start and info.run_after == end
    True
    """

    run_after: datetime
    data_interval: DataInterval | None
    partition_date: datetime | None = None
    partition_key: str | None = None

    @classmethod
    def exact(cls, at: datetime) -> DagRunInfo:
        """A run at ``at`` about the instant ``at``."""
        return cls(run_after=at, data_interval=DataInterval.exact(at))

    @classmethod
    def interval(cls, start: datetime, end: datetime) -> DagRunInfo:
        """A run about ``[start, end)`` that may start at ``end``."""
        return cls(run_after=end, data_interval=DataInterval(start, end))

    @property
    def logical_date(self) -> datetime | None:
        """The start of the data interval (``None`` without one), as in Airflow."""
        return self.data_interval.start if self.data_interval else None


def current_time(now: datetime | None) -> datetime:
    """``now`` in UTC, or the real current time."""
    return datetime.now(UTC) if now is None else to_utc(now)


def utc_restriction(restriction: TimeRestriction) -> TimeRestriction:
    earliest, latest, catchup = restriction
    return TimeRestriction(
        None if earliest is None else to_utc(earliest),
        None if latest is None else to_utc(latest),
        bool(catchup),
    )


def utc_interval(interval: DataInterval | None) -> DataInterval | None:
    return None if interval is None else DataInterval(to_utc(interval[0]), to_utc(interval[1]))


class Timetable:
    """Decides run times. Subclasses override what their schedule needs.

    ``serialize_args``/``from_args`` are the pair that serialization uses: the arguments that
    rebuild the timetable, as JSON-safe values (Airflow's ``__var`` forms). A custom subclass
    may use Airflow's pair instead, :meth:`serialize` and :meth:`deserialize`.
    """

    #: Text shown in listings ("0 0 * * *", "1 day, 0:00:00", "None").
    summary: str = ""
    #: A human description ("At 02:00, only on Monday"); may be empty.
    description: str = ""
    #: Whether runs repeat (``False`` for ``None``, ``@once`` and ``@continuous``): only
    #: periodic timetables can be backfilled.
    periodic: bool = True
    #: Whether the scheduler ever creates runs on its own.
    can_be_scheduled: bool = True
    #: The most runs that may be active at once, if the timetable needs a limit.
    active_runs_limit: int | None = None

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        """The data interval of a run triggered by hand (or ``dags test``) at ``run_after``."""
        run_after = to_utc(run_after)
        return DataInterval(run_after, run_after)

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime | None = None,
    ) -> NextRun | None:
        """The next automated run after the one that covered ``last_automated_data_interval``
        (``None``: there has been none), or ``None`` if there is none to make.

        ``None`` is not final: asked again later (another ``now``), there may be one.
        """
        return None

    def generate_run_id(
        self, *, run_type: str, run_after: datetime, data_interval: DataInterval | None
    ) -> str:
        """The run id Airflow gives a run this timetable makes (scheduled or triggered).

        >>> Timetable().generate_run_id(
        ...     run_type="scheduled",
        ...     run_after=datetime(2024, 1, 2, tzinfo=UTC),
        ...     data_interval=None,
        ... )
        'scheduled__2024-01-02T00:00:00+00:00'
        """
        from tradewind.timetables.run_id import run_id_prefix

        return f"{run_id_prefix(run_type)}__{to_utc(run_after).isoformat()}"

    # -- serialization ---------------------------------------------------------------------

    def serialize_args(self) -> dict[str, Any]:
        """The JSON-safe arguments that rebuild this timetable (none by default)."""
        return {}

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> Timetable:
        """Rebuild from :meth:`serialize_args`' output."""
        return cls()

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        """Airflow's name: rebuild a custom timetable from what its :meth:`serialize` returned
        (or, when it does not override ``serialize``, from :meth:`serialize_args`' output).

        The default is :meth:`from_args`; only custom timetables are rebuilt through it.
        """
        return cls.from_args(data)

    def validate(self) -> None:
        """Raise if the timetable cannot work; called when the DAG is checked (Airflow's
        hook for custom timetables). The default checks nothing."""

    def serialize(self) -> dict[str, Any]:
        """A JSON-safe dict that :func:`~tradewind.timetables.timetable_from_dict` reverses.

        ``type`` names the class, ``args`` rebuilds it; ``summary`` and ``description`` are
        there for readers that only show them.

        >>> from tradewind.timetables import CronTriggerTimetable
        >>> CronTriggerTimetable("@daily", timezone="Europe/Paris").serialize()
        ... # doctest: +NORMALIZE_WHITESPACE
        {'type': 'CronTriggerTimetable', 'summary': '0 0 * * *', 'description': 'At 00:00',
         'args': {'expression': '0 0 * * *', 'timezone': 'Europe/Paris', 'interval': 0.0,
                  'run_immediately': False}}
        """
        return {
            "type": type(self).__name__,
            "summary": self.summary,
            "description": self.description,
            "args": self.serialize_args(),
        }

    def _key(self) -> str:
        return json.dumps([type(self).__name__, self.serialize_args()], sort_keys=True)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Timetable):
            return NotImplemented
        return type(self) is type(other) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.summary!r})"
