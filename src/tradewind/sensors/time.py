"""Sensors that wait for a moment: ``DateTimeSensor``, ``TimeDeltaSensor``, ``TimeSensor``.

Waiting for the clock is how pipelines line up with the outside world ("the feed is
published at 06:00", "give late events an hour"). These follow Airflow 3's standard
provider, names and meanings included:

- ``DateTimeSensor(target_time=...)`` waits until an absolute moment, given as a datetime or
  a (templated) string. A string or datetime without a time zone is read in
  ``core.default_timezone`` (UTC unless configured), as Airflow does.
  ``DateTimeSensorAsync`` is the same wait done in the triggerer.
- ``TimeDeltaSensor(delta=...)`` waits until ``delta`` after the run's data interval end,
  or, for a run without a data interval, after the run's ``run_after``.
- ``TimeSensor(target_time=time(...))`` waits until a time of day, today in the DAG's time
  zone.

Each sensor succeeds once now is strictly past its moment. ``deferrable=True`` (or the
``...Async`` class) hands the wait to a ``DateTimeTrigger`` instead of holding a worker.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from tradewind.exceptions import DagDefinitionError, TradewindException, TradewindSkipException
from tradewind.sensors.base import BaseSensorOperator


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _default_zone() -> tzinfo:
    from tradewind.timetables.zones import default_zone

    return default_zone()


def _aware(value: datetime) -> datetime:
    """``value`` as an aware datetime in UTC: naive means wall time in the default zone."""
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    from tradewind.timetables.zones import localize

    return localize(value, _default_zone())


def parse_moment(value: Any, task_id: str) -> datetime:
    """The moment ``value`` (a datetime or an ISO 8601 string) names, aware, in UTC.

    >>> parse_moment("2024-05-01T06:00:00+02:00", "t").isoformat()
    '2024-05-01T04:00:00+00:00'
    """
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, str):
        try:
            return _aware(datetime.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise TradewindException(
        f"task {task_id!r}: target_time {value!r} is not a date and time "
        f"(expected ISO 8601, such as '2024-05-01T06:00:00+00:00')"
    )


def _looks_templated(text: str) -> bool:
    return "{{" in text or "{%" in text


def _check_flag(task_id: str, name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise DagDefinitionError(f"task {task_id!r}: {name} must be True or False, got {value!r}")


class DateTimeSensor(BaseSensorOperator):
    """Waits until ``target_time``: a datetime, or a string rendered as a template and then
    read as ISO 8601.

    >>> from tradewind.sdk import DAG
    >>> with DAG("doc_datetime_sensor") as d:
    ...     DateTimeSensor(task_id="wait_0100", target_time="{{ data_interval_end }}")
    <Task(DateTimeSensor): wait_0100>
    """

    template_fields: Sequence[str] = ("target_time",)

    def __init__(self, *, target_time: str | datetime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Kept as text, as in Airflow: a template field is rendered as a string.
        if isinstance(target_time, datetime):
            self.target_time: str | datetime = target_time.isoformat()
        elif isinstance(target_time, str) and target_time.strip():
            if not _looks_templated(target_time):
                try:
                    parse_moment(target_time, self.task_id)
                except TradewindException as err:
                    raise DagDefinitionError(str(err)) from None
            self.target_time = target_time
        else:
            raise DagDefinitionError(
                f"task {self.task_id!r}: target_time must be a datetime or a non-empty "
                f"string, got {type(target_time).__name__}"
            )

    @property
    def _moment(self) -> datetime:
        return parse_moment(self.target_time, self.task_id)

    def poke(self, context: Any) -> bool:
        self.log.info("Checking if the time (%s) has come", self.target_time)
        return _utcnow() > self._moment


class DateTimeSensorAsync(DateTimeSensor):
    """``DateTimeSensor`` that waits in the triggerer, not in a worker.

    >>> from tradewind.sdk import DAG
    >>> with DAG("doc_datetime_async") as d:
    ...     DateTimeSensorAsync(task_id="wait", target_time="2030-01-01T00:00:00+00:00")
    <Task(DateTimeSensorAsync): wait>
    """

    def __init__(
        self,
        *,
        start_from_trigger: bool = False,
        end_from_trigger: bool = False,
        trigger_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_flag(self.task_id, "end_from_trigger", end_from_trigger)
        self.end_from_trigger = end_from_trigger
        _check_flag(self.task_id, "start_from_trigger", start_from_trigger)
        self.trigger_kwargs = trigger_kwargs
        # A fixed moment can be waited for without a first worker try; a templated one
        # is only known when rendered, in a worker (which then defers at once).
        self.start_from_trigger = start_from_trigger and not _looks_templated(str(self.target_time))
        if self.start_from_trigger:
            from tradewind.triggers.base import StartTriggerArgs

            self.start_trigger_args = StartTriggerArgs(
                trigger_cls="tradewind.triggers.temporal.DateTimeTrigger",
                trigger_kwargs={"moment": self._moment, "end_from_trigger": end_from_trigger},
                next_method="execute_complete",
            )

    def execute(self, context: Any) -> Any:
        from tradewind.triggers.temporal import DateTimeTrigger

        self.defer(
            trigger=DateTimeTrigger(self._moment, end_from_trigger=self.end_from_trigger),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: Any = None) -> None:
        """The moment has come; nothing is left to do."""
        return None


class TimeDeltaSensor(BaseSensorOperator):
    """Waits until ``delta`` after the run's data interval end (or its ``run_after`` when the
    run has no data interval).

    >>> from tradewind.sdk import DAG
    >>> with DAG("doc_timedelta_sensor") as d:
    ...     TimeDeltaSensor(task_id="grace", delta=timedelta(minutes=30))
    <Task(TimeDeltaSensor): grace>
    """

    def __init__(
        self,
        *,
        delta: timedelta,
        deferrable: bool = False,
        end_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(delta, timedelta):
            raise DagDefinitionError(
                f"task {self.task_id!r}: delta must be a timedelta, got {type(delta).__name__}"
            )
        _check_flag(self.task_id, "deferrable", deferrable)
        _check_flag(self.task_id, "end_from_trigger", end_from_trigger)
        self.delta = delta
        self.deferrable = deferrable
        self.end_from_trigger = end_from_trigger

    def _derive_base_time(self, context: Any) -> datetime:
        """The data interval end if the run has one, else the run's ``run_after``."""
        end = context.get("data_interval_end")
        if end:
            if not isinstance(end, datetime):
                raise TradewindException(
                    f"task {self.task_id!r}: data_interval_end is not a datetime: {end!r}"
                )
            return end
        dag_run = context.get("dag_run")
        if dag_run is None:
            raise TradewindException(f"task {self.task_id!r}: no dag_run in the task context")
        return dag_run.run_after  # type: ignore[no-any-return]

    def poke(self, context: Any) -> bool:
        base = self._derive_base_time(context)
        self.log.info("Checking if the delta has elapsed base_time=%s, delta=%s", base, self.delta)
        return _utcnow() > base + self.delta

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        target = self._derive_base_time(context) + self.delta
        if _utcnow() > target:
            # Airflow returns True here (and so pushes it as the XCom); so do we.
            return True
        from tradewind.triggers.temporal import DateTimeTrigger

        try:
            trigger = DateTimeTrigger(target, end_from_trigger=self.end_from_trigger)
        except (TypeError, ValueError) as err:
            if self.soft_fail:
                raise TradewindSkipException("Skipping due to soft_fail is set to True.") from err
            raise
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Any, event: Any = None) -> None:
        """The moment has come; nothing is left to do."""
        return None


class TimeDeltaSensorAsync(TimeDeltaSensor):
    """Deprecated in Airflow 3 (and warned about): use ``TimeDeltaSensor(deferrable=True)``."""

    def __init__(self, *, delta: timedelta, end_from_trigger: bool = False, **kwargs: Any) -> None:
        warnings.warn(
            "TimeDeltaSensorAsync is deprecated and will be removed in a future version. "
            "Use `TimeDeltaSensor` with `deferrable=True` instead.",
            DeprecationWarning,
            stacklevel=3,
        )
        kwargs.pop("deferrable", None)  # default_args may carry one; this class always defers
        super().__init__(delta=delta, deferrable=True, end_from_trigger=end_from_trigger, **kwargs)


def _dag_zone(dag: Any) -> tzinfo:
    """The DAG's time zone, as Airflow picks it: its start date's, else the default."""
    zone = getattr(dag, "timezone", None)
    if isinstance(zone, tzinfo):
        return zone
    start = getattr(dag, "start_date", None)
    if isinstance(start, datetime) and start.tzinfo is not None:
        return start.tzinfo
    return _default_zone()


class TimeSensor(BaseSensorOperator):
    """Waits until ``target_time`` of the day, today in the DAG's time zone.

    >>> from tradewind.sdk import DAG
    >>> with DAG("doc_time_sensor") as d:
    ...     TimeSensor(task_id="after_six", target_time=time(6, 0))
    <Task(TimeSensor): after_six>
    """

    def __init__(
        self,
        *,
        target_time: time,
        deferrable: bool = False,
        start_from_trigger: bool = False,
        end_from_trigger: bool = False,
        trigger_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(target_time, time):
            raise DagDefinitionError(
                f"task {self.task_id!r}: target_time must be a datetime.time, "
                f"got {type(target_time).__name__}"
            )
        _check_flag(self.task_id, "deferrable", deferrable)
        _check_flag(self.task_id, "end_from_trigger", end_from_trigger)
        self.target_time = target_time
        self.deferrable = deferrable
        self.end_from_trigger = end_from_trigger
        self.start_from_trigger = start_from_trigger
        self.trigger_kwargs = trigger_kwargs
        self.target_datetime = self._today_at_target()

    def _today_at_target(self) -> datetime:
        from tradewind.timetables.zones import localize

        zone = _dag_zone(self.dag)
        today = _utcnow().astimezone(zone).date()
        return localize(datetime.combine(today, self.target_time.replace(tzinfo=None)), zone)

    def execute(self, context: Any) -> Any:
        # Airflow fixes the day when the DAG file is parsed, which its workers do just before
        # each try; Tradewind's warm workers may have parsed it days ago, so fix it now.
        self.target_datetime = self._today_at_target()
        if not self.deferrable:
            return super().execute(context)
        from tradewind.triggers.temporal import DateTimeTrigger

        self.defer(
            trigger=DateTimeTrigger(self.target_datetime, end_from_trigger=self.end_from_trigger),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: Any = None) -> None:
        """The time has come; nothing is left to do."""
        return None

    def poke(self, context: Any) -> bool:
        self.log.info("Checking if the time (%s) has come", self.target_datetime)
        return _utcnow() > self.target_datetime


class TimeSensorAsync(TimeSensor):
    """Deprecated in Airflow 3 (and warned about): use ``TimeSensor(deferrable=True)``."""

    def __init__(self, **kwargs: Any) -> None:
        warnings.warn(
            "TimeSensorAsync is deprecated and will be removed in a future version. "
            "Use `TimeSensor` with deferrable=True instead.",
            DeprecationWarning,
            stacklevel=3,
        )
        kwargs.pop("deferrable", None)  # default_args may carry one; this class always defers
        super().__init__(deferrable=True, **kwargs)
