"""``ExternalTaskSensor``: wait for another DAG's task(s), task group or whole run at the
matching logical date, as Airflow 3's standard provider does.

Why a sensor reads other DAGs through its execution client: a task never holds DB
credentials. Each poke is one ``get_external_states`` call that the scheduler side answers
(two indexed queries, see :mod:`tradewind.db.queries.external_states`), over the try's
channel in a worker, in process under the inline executor.

The dates looked at are the sensor run's logical date (its ``run_after`` when it has none),
minus ``execution_delta``, or whatever ``execution_date_fn(logical_date, **context)``
returns (one date or a list). Each poke, in Airflow's order:

1. with ``check_existence``, once per try: the external DAG, its tasks or its task group
   must exist, else the task fails with Airflow's message;
2. ``failed_states``: if any watched run, task instance or task of the group is in one, the
   task fails (``soft_fail``: is skipped);
3. ``skipped_states``: the same, but the task is skipped;
4. ``allowed_states``: done when, at every date, the run (no task given), each task, or
   the whole group has all its task instances (at least one) in one of them.

Deliberate differences from Airflow 3.3:

- a mapped task counts as one task whose every map index must be in an allowed state
  (Airflow divides the number of task instances by the number of task ids, so a task
  mapped over more than one element never matches);
- a task group fails as soon as one of its tasks is in a failed state, as Airflow 2 and
  the documentation say (Airflow 3's execution-API path fails only when all of them are);
  a group counts only when all its task instances are in an allowed state, as Airflow
  3.3 after apache/airflow#66881 (earlier versions counted tasks without a state as done);
- an unknown task group without ``check_existence`` is waited for until the timeout (the
  documented intent in Airflow's helper), not an error of the poke;
- ``check_existence`` is honoured (the execution-API path of Airflow 3's provider skips
  it);
- ``deferrable=True`` pokes in the worker every ``poll_interval`` seconds, the interval
  Airflow's trigger would use, and says so in the log: the check needs the scheduler side's
  data, which a trigger rebuilt in the triggerer from its class path and arguments has no
  channel to (:meth:`ExternalTaskSensor.execute_complete` takes Airflow's trigger events,
  for when it has one);
- under ``tradewind dags test`` there is no metadata database and so no other DAG to see:
  the first poke fails the task without retries, saying so.

>>> from datetime import timedelta
>>> from tradewind.sdk import DAG
>>> with DAG("doc_external") as d:
...     ExternalTaskSensor(task_id="wait_load", external_dag_id="upstream",
...         external_task_id="load", execution_delta=timedelta(hours=1))
<Task(ExternalTaskSensor): wait_load>
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tradewind.exceptions import DagDefinitionError, TradewindException, TradewindSkipException
from tradewind.sensors.base import BaseSensorOperator
from tradewind.states import DagRunState, TaskInstanceState

if TYPE_CHECKING:
    from tradewind.executors.base import ExternalStates

#: Airflow's valid states: a task's (``None`` is "no status yet") and a DAG run's.
TASK_STATES: frozenset[str | None] = frozenset({*(s.value for s in TaskInstanceState), None})
DAG_STATES: frozenset[str | None] = frozenset(s.value for s in DagRunState)
#: How ``ExternalStates`` counts task instances without a state (``executors.base.NO_STATE``).
_NO_STATE = "null"


class ExternalTaskSensorError(TradewindException):
    """Base of the errors below (Airflow's ``AirflowExternalTaskSensorException``)."""


class ExternalDagNotFoundError(ExternalTaskSensorError):
    """``check_existence``: the external DAG is not known."""


class ExternalDagDeletedError(ExternalTaskSensorError):
    """``check_existence``: the external DAG's file no longer defines it."""


class ExternalTaskNotFoundError(ExternalTaskSensorError):
    """``check_existence``: a task is not in the external DAG."""


class ExternalTaskGroupNotFoundError(ExternalTaskSensorError):
    """``check_existence``: the task group is not in the external DAG."""


class ExternalDagFailedError(ExternalTaskSensorError):
    """The external run reached one of ``failed_states``."""


class ExternalTaskFailedError(ExternalTaskSensorError):
    """An external task reached one of ``failed_states``."""


class ExternalTaskGroupFailedError(ExternalTaskSensorError):
    """A task of the external group reached one of ``failed_states``."""


def _state_list(values: Iterable[Any] | None, name: str, task_id: str) -> list[str | None]:
    if values is None:
        return []
    if isinstance(values, str):
        raise DagDefinitionError(f"task {task_id!r}: {name} must be a list of states, not a str")
    return [None if v is None else str(v) for v in values]


def _task_ids_of(
    task_id: str | None, task_ids: Collection[str] | None, group_id: str | None, tid: str
) -> Any:
    """The tasks to wait for, as Airflow keeps them: one id becomes a list of one."""
    task_ids = task_ids or None
    if isinstance(task_ids, str):
        raise DagDefinitionError(
            f"task {tid!r}: external_task_ids must be a list of task ids; "
            "use external_task_id for one task"
        )
    if task_id is not None and task_ids is not None:
        raise DagDefinitionError(
            f"task {tid!r}: Only one of `external_task_id` or `external_task_ids` may be "
            "provided to ExternalTaskSensor; use external_task_id or external_task_ids or "
            "external_task_group_id."
        )
    if task_id is not None:
        task_ids = [task_id]
    if group_id is not None and task_ids is not None:
        raise DagDefinitionError(
            f"task {tid!r}: Only one of `external_task_group_id` or `external_task_ids` "
            "may be provided to ExternalTaskSensor; use external_task_id or "
            "external_task_ids or external_task_group_id."
        )
    # Anything else (an XComArg) is checked when the poke has its rendered value.
    if isinstance(task_ids, Collection):
        task_ids = list(task_ids)
        if len(set(task_ids)) != len(task_ids):
            raise DagDefinitionError(
                f"task {tid!r}: Duplicate task_ids passed in external_task_ids parameter"
            )
    return task_ids


def _listed(states: Iterable[str | None]) -> list[str | None]:
    return sorted(states, key=lambda s: "" if s is None else s)


def _check_states(every: list[str | None], of_tasks: bool, tid: str) -> None:
    if of_tasks:
        if not set(every) <= TASK_STATES:
            raise DagDefinitionError(
                f"task {tid!r}: Valid values for `allowed_states`, `skipped_states` and "
                "`failed_states` when `external_task_id` or `external_task_ids` or "
                f"`external_task_group_id` is not `None`: {_listed(TASK_STATES)}"
            )
    elif not set(every) <= DAG_STATES:
        raise DagDefinitionError(
            f"task {tid!r}: Valid values for `allowed_states`, `skipped_states` and "
            "`failed_states` when `external_task_id` and `external_task_group_id` is "
            f"`None`: {_listed(DAG_STATES)}"
        )


def _aware(value: Any) -> datetime:
    """A date ``execution_date_fn`` returned; naive ones are read in
    ``core.default_timezone``, as Airflow reads naive dates."""
    if not isinstance(value, datetime):
        raise TypeError(
            f"execution_date_fn must return a datetime or a list of them, got {value!r}"
        )
    when: datetime = value
    if when.tzinfo is None:
        from tradewind.timetables.zones import default_zone, localize

        when = localize(when, default_zone())
    return when.astimezone(UTC)


class ExternalTaskSensor(BaseSensorOperator):
    """Waits for a task, tasks, a task group or a whole run of another DAG to reach
    ``allowed_states`` at the matching logical date. See the module docstring.

    Give at most one of ``external_task_id``, ``external_task_ids`` and
    ``external_task_group_id`` (none: wait for the DAG run), and at most one of
    ``execution_delta`` and ``execution_date_fn``. ``external_dag_id``,
    ``external_task_id``, ``external_task_ids`` and ``external_task_group_id`` are
    templated.

    >>> from tradewind.sdk import DAG
    >>> with DAG("doc_external_group") as d:
    ...     ExternalTaskSensor(task_id="wait", external_dag_id="etl",
    ...         external_task_group_id="load", failed_states=["failed", "upstream_failed"])
    <Task(ExternalTaskSensor): wait>
    """

    template_fields = (
        "external_dag_id",
        "external_task_id",
        "external_task_ids",
        "external_task_group_id",
    )
    ui_color = "#4db7db"

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str | None = None,
        external_task_ids: Collection[str] | None = None,
        external_task_group_id: str | None = None,
        allowed_states: Iterable[str] | None = None,
        skipped_states: Iterable[str] | None = None,
        failed_states: Iterable[str] | None = None,
        execution_delta: timedelta | None = None,
        execution_date_fn: Callable[..., Any] | None = None,
        check_existence: bool = False,
        poll_interval: float = 2.0,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        tid = self.task_id
        self.allowed_states = _state_list(allowed_states, "allowed_states", tid) or ["success"]
        self.skipped_states = _state_list(skipped_states, "skipped_states", tid)
        self.failed_states = _state_list(failed_states, "failed_states", tid)
        every = [*self.allowed_states, *self.skipped_states, *self.failed_states]
        if len(set(every)) != len(every):
            raise DagDefinitionError(
                f"task {tid!r}: Duplicate values provided across allowed_states, "
                "skipped_states and failed_states."
            )
        task_ids = _task_ids_of(external_task_id, external_task_ids, external_task_group_id, tid)
        _check_states(every, bool(task_ids or external_task_group_id), tid)
        if execution_delta is not None and execution_date_fn is not None:
            raise DagDefinitionError(
                f"task {tid!r}: Only one of `execution_delta` or `execution_date_fn` may be "
                "provided to ExternalTaskSensor; not both."
            )
        if execution_delta is not None and not isinstance(execution_delta, timedelta):
            raise DagDefinitionError(f"task {tid!r}: execution_delta must be a timedelta")
        if execution_date_fn is not None and not callable(execution_date_fn):
            raise DagDefinitionError(f"task {tid!r}: execution_date_fn must be callable")
        if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)):
            raise DagDefinitionError(f"task {tid!r}: poll_interval must be a number of seconds")
        if poll_interval < 0:
            raise DagDefinitionError(f"task {tid!r}: poll_interval must not be negative")
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.external_task_ids = task_ids
        self.external_task_group_id = external_task_group_id
        self.execution_delta = execution_delta
        self.execution_date_fn = execution_date_fn
        self.check_existence = check_existence
        self.poll_interval = float(poll_interval)
        self.deferrable = deferrable
        self._has_checked_existence = False
        #: The dates of the last poke, comma-separated ISO 8601 (Airflow's, for listeners).
        self.external_dates_filter: str | None = None

    # -- which dates -------------------------------------------------------------------------
    def _get_logical_date(self, context: Mapping[str, Any]) -> datetime:
        logical = context.get("logical_date")
        if logical:
            return logical  # type: ignore[no-any-return]
        run = context.get("dag_run")
        run_after = getattr(run, "run_after", None)
        if run_after:
            return run_after  # type: ignore[no-any-return]
        raise ValueError(
            "Either `logical_date` or `dag_run.run_after` must be provided in the context"
        )

    def _get_dttm_filter(self, context: Mapping[str, Any]) -> list[datetime]:
        """The logical dates of the external runs to look at."""
        logical = self._get_logical_date(context)
        if self.execution_delta:
            return [logical - self.execution_delta]
        if self.execution_date_fn:
            from tradewind.operators.python import determine_kwargs

            # As Airflow: the logical date positionally, the context's other entries (and
            # the context itself as ``context``) by the names the function takes.
            kwargs = {k: v for k, v in context.items() if k != "logical_date"}
            kwargs["context"] = context
            kwargs = determine_kwargs(self.execution_date_fn, [logical], kwargs)
            result = self.execution_date_fn(logical, **kwargs)
            return [_aware(v) for v in (result if isinstance(result, list) else [result])]
        return [logical]

    # -- poking ---------------------------------------------------------------------------------
    def _task_ids(self) -> list[str] | None:
        ids = self.external_task_ids
        if not ids:
            return None
        if isinstance(ids, str) or not all(isinstance(t, str) for t in ids):
            raise ValueError(f"external_task_ids must be a list of task ids, got {ids!r}")
        if len(set(ids)) != len(ids):
            raise ValueError("Duplicate task_ids passed in external_task_ids parameter")
        return list(ids)

    def poke(self, context: Any) -> bool:
        task_ids = self._task_ids()
        group = self.external_task_group_id or None
        dates = self._get_dttm_filter(context)
        self.external_dates_filter = ",".join(d.isoformat() for d in dates)
        if task_ids:
            self.log.info(
                "Poking for tasks %s in dag %s on %s ... ",
                task_ids,
                self.external_dag_id,
                self.external_dates_filter,
            )
        elif group:
            self.log.info(
                "Poking for task_group '%s' in dag '%s' on %s ... ",
                group,
                self.external_dag_id,
                self.external_dates_filter,
            )
        else:
            self.log.info(
                "Poking for DAG '%s' on %s ... ", self.external_dag_id, self.external_dates_filter
            )
        found = _ti_of(context).get_external_states(
            str(self.external_dag_id), dates, task_ids, group
        )
        if self.check_existence and not self._has_checked_existence:
            self._check_for_existence(found)
        if group and found.task_group_found is False:
            self.log.warning(
                "DAG %s has no task group %r (yet); waiting for it.", self.external_dag_id, group
            )
        units = _units(found, task_ids, bool(group))
        if self.failed_states and _any_in(units, self.failed_states):
            self._handle_failed_states()
        if self.skipped_states and _any_in(units, self.skipped_states):
            self._handle_skipped_states()
        return _all_in(units, self.allowed_states)

    def _check_for_existence(self, found: ExternalStates) -> None:
        dag_id = self.external_dag_id
        if found.dag == "missing":
            raise ExternalDagNotFoundError(f"The external DAG {dag_id} does not exist.")
        if found.dag == "deleted":
            raise ExternalDagDeletedError(f"The external DAG {dag_id} was deleted.")
        for task_id in found.missing_task_ids:
            raise ExternalTaskNotFoundError(
                f"The external task {task_id} in DAG {dag_id} does not exist."
            )
        if found.task_group_found is False:
            raise ExternalTaskGroupNotFoundError(
                f"The external task group '{self.external_task_group_id}' in "
                f"DAG '{dag_id}' does not exist."
            )
        self._has_checked_existence = True

    def _handle_failed_states(self) -> None:
        dag_id, group = self.external_dag_id, self.external_task_group_id
        error: ExternalTaskSensorError
        if self.external_task_ids:
            message = f"Some of the external tasks {self.external_task_ids} in DAG {dag_id} failed."
            error = ExternalTaskFailedError(message)
        elif group:
            message = f"The external task_group '{group}' in DAG '{dag_id}' failed."
            error = ExternalTaskGroupFailedError(message)
        else:
            message = f"The external DAG {dag_id} failed."
            error = ExternalDagFailedError(message)
        if self.soft_fail:
            raise TradewindSkipException(f"{message} Skipping due to soft_fail.")
        raise error

    def _handle_skipped_states(self) -> None:
        dag_id, group = self.external_dag_id, self.external_task_group_id
        tail = "reached a state in our states-to-skip-on list. Skipping."
        if self.external_task_ids:
            what = f"Some of the external tasks {self.external_task_ids} in DAG {dag_id}"
        elif group:
            what = f"The external task_group '{group}' in DAG {dag_id}"
        else:
            what = f"The external DAG {dag_id}"
        raise TradewindSkipException(f"{what} {tail}")

    # -- deferrable ---------------------------------------------------------------------------
    def execute(self, context: Any) -> Any:
        if self.deferrable:
            self.log.info(
                "deferrable=True: the external DAG's state is read through this task's "
                "execution client, which a trigger has no access to; poking here every %gs "
                "(poll_interval) instead of deferring.",
                self.poll_interval,
            )
        return super().execute(context)

    def next_poke_interval(self, pokes: int, elapsed: float = 0.0, started: object = 0) -> float:
        if self.deferrable and not self.exponential_backoff:
            return self.poll_interval
        return super().next_poke_interval(pokes, elapsed, started)

    def execute_complete(self, context: Any, event: Mapping[str, Any] | None = None) -> None:
        """Resume from Airflow's ``WorkflowTrigger`` event (``{"status": ...}``)."""
        if event is None:
            raise ExternalTaskNotFoundError("No event received from trigger")
        self.external_dates_filter = ",".join(d.isoformat() for d in self._get_dttm_filter(context))
        status = event.get("status")
        if status == "success":
            self.log.info("External tasks %s has executed successfully.", self.external_task_ids)
        elif status == "skipped":
            raise TradewindSkipException("External job has skipped skipping.")
        elif status == "failed":
            if self.soft_fail:
                raise TradewindSkipException("External job has failed skipping.")
            raise ExternalDagFailedError("External job has failed.")
        else:
            if self.soft_fail:
                raise TradewindSkipException("External job has failed skipping.")
            raise ExternalTaskNotFoundError(
                "Error occurred while trying to retrieve task status. Please, check the "
                "name of executed task and Dag."
            )


def _ti_of(context: Mapping[str, Any]) -> Any:
    """The running try's task instance (the sensor reads through it, never a DB)."""
    ti = context.get("ti")
    if ti is None or not hasattr(ti, "get_external_states"):
        raise TradewindException(
            "ExternalTaskSensor must run as a task (its context has no running task instance)"
        )
    return ti


def _units(found: ExternalStates, task_ids: list[str] | None, group: bool) -> list[dict[str, int]]:
    """What must each be in a state, as ``{state: number of instances}``: at each date,
    every task asked for, the whole group, or the run (which is one "instance")."""
    units: list[dict[str, int]] = []
    for run_state, tasks in zip(found.run_states, found.task_states, strict=True):
        if task_ids:
            units += [tasks.get(task_id, {}) for task_id in task_ids]
        elif group:
            total: Counter[str] = Counter()
            for by_state in tasks.values():
                total.update(by_state)
            units.append(dict(total))
        else:
            units.append({} if run_state is None else {run_state: 1})
    return units


def _keys(states: Iterable[str | None]) -> set[str]:
    return {_NO_STATE if s is None else s for s in states}


def _any_in(units: list[dict[str, int]], states: Iterable[str | None]) -> bool:
    wanted = _keys(states)
    return any(s in wanted for unit in units for s in unit)


def _all_in(units: list[dict[str, int]], states: Iterable[str | None]) -> bool:
    wanted = _keys(states)
    return all(bool(unit) and all(s in wanted for s in unit) for unit in units)
