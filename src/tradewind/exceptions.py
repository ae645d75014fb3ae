"""One hierarchy of errors.

Task code raises :class:`TradewindSkipException` to skip itself and
:class:`TradewindFailException` to fail without using its remaining retries; the Airflow
compatibility layer maps ``AirflowSkipException`` and ``AirflowFailException`` onto them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


class TradewindException(Exception):
    """Base of every error Tradewind raises on purpose."""


class DagDefinitionError(TradewindException, ValueError):
    """A DAG file describes something that cannot run: a cycle, a duplicate id, a bad value.

    A ``ValueError`` too, as Airflow raises ``ValueError`` for most of these.
    """


class DuplicateTaskIdError(DagDefinitionError):
    """Two tasks in one DAG have the same id."""


class DagCycleError(DagDefinitionError):
    """The task graph has a cycle; the message names the tasks in it."""


class TimetableUnavailable(DagDefinitionError):
    """A DAG's custom timetable class cannot be rebuilt from its serialized DAG here: it is
    not trusted (:class:`TimetableNotRegistered`), cannot be imported, or fails to rebuild."""


class TimetableNotRegistered(TimetableUnavailable):
    """A DAG's custom timetable class is not listed in ``core.timetable_classes`` (Airflow:
    not registered by a plugin), so no service imports it."""


class ParamValidationError(TradewindException, ValueError):
    """A param's default or its value from ``dag_run.conf`` fails the param's schema."""


class TemplateError(TradewindException):
    """A Jinja template could not be loaded or rendered."""


class XComError(TradewindException):
    """A value could not be pushed to or pulled from XCom."""


class UnknownDagError(TradewindException):
    """No DAG with the given id is defined in the folder."""


class DagRunAlreadyExists(TradewindException):
    """Triggering a run without ``reset_dag_run``: the DAG already has a run with that id (or
    that logical date). Part of the worker services' contract, so it crosses the worker pipe
    as itself (Airflow's ``DagRunAlreadyExists`` from ``TriggerDagRunOperator``)."""


class SchedulerDeclaredDead(TradewindException):
    """This scheduler's job was marked failed (another scheduler found it not heartbeating
    and took over its tries): it must stop at once, running nothing more."""


class TradewindSkipException(TradewindException):
    """Raised by task code: mark this task instance ``skipped``."""


class TradewindFailException(TradewindException):
    """Raised by task code: mark this task instance ``failed`` and do not retry it."""


class TradewindTaskTimeout(TradewindException):
    """The task ran longer than its ``execution_timeout``."""


class TradewindSensorTimeout(TradewindFailException):
    """A sensor waited longer than its ``timeout``; it fails without retry (or skips if
    ``soft_fail``)."""


class VariableNotFound(TradewindException, KeyError):
    """No variable with that key and no default was given."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "variable not found"


class ConnectionNotFound(TradewindException, KeyError):
    """No connection with that id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "connection not found"


class TaskDeferred(TradewindException):
    """Raised by :meth:`BaseOperator.defer`: the task leaves its worker and waits for
    ``trigger`` (a :class:`~tradewind.triggers.base.BaseTrigger`) in the triggerer; when
    the trigger fires, the task resumes in a worker by calling ``method_name(context,
    event=<the event's payload>, **kwargs)``. ``timeout`` (a ``timedelta``) fails the task
    if the trigger has not fired by then."""

    def __init__(
        self,
        *,
        trigger: Any,
        method_name: str,
        kwargs: dict[str, Any] | None = None,
        timeout: timedelta | None = None,
    ) -> None:
        super().__init__(f"deferred to {type(trigger).__name__}, resuming at {method_name}")
        self.trigger = trigger
        self.method_name = method_name
        self.kwargs = kwargs or {}
        self.timeout = timeout


class TaskDeferralError(TradewindException):
    """A deferral that cannot work: a trigger that cannot be serialized, an unknown
    resume method."""


class TaskDeferralTimeout(TradewindException):
    """The trigger did not fire within the deferral's ``timeout``."""


class TradewindRescheduleException(TradewindException):
    """Raised by a sensor in ``reschedule`` mode: give the worker slot back and run the
    task again at ``reschedule_date`` (an aware datetime), keeping its try number."""

    def __init__(self, reschedule_date: datetime) -> None:
        super().__init__(f"rescheduled to {reschedule_date.isoformat()}")
        self.reschedule_date = reschedule_date
