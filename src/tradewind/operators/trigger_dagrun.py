"""``TriggerDagRunOperator``: start a run of another DAG, and optionally wait for it to end.

As in Airflow 3.3, the run is asked for through the task instance
(:meth:`~tradewind.execution.runtime.RuntimeTaskInstance.trigger_dag_run`, over the try's
execution client), never the database: the scheduler side creates it (run type
``operator_triggered``, triggered by ``operator``, its conf checked against the target DAG's
params) and the scheduler runs it. The task pushes the run id as the ``trigger_run_id`` XCom.
A run id already taken fails the task without retries, unless ``reset_dag_run`` (that run is
cleared to run again; its conf is kept) or ``skip_when_already_exists`` (the task is
skipped). With ``wait_for_completion`` the task
polls the run's state every ``poke_interval`` seconds, first after one interval, until it is
in ``allowed_states`` (success) or ``failed_states`` (failure, retries apply).

Under ``tradewind dags test`` there is no scheduler and no database: the trigger is recorded
and logged but the target DAG does not run, and waiting for it fails the task at once with
that explanation (see :class:`~tradewind.execution.client.InProcessClient`). Airflow 3's
``dags test`` writes the run to its database, where only a scheduler sharing that database
would ever run it.

>>> from tradewind.sdk import DAG
>>> with DAG("doc_trigger") as d:
...     TriggerDagRunOperator(task_id="kick", trigger_dag_id="target", conf={"n": 1})
<Task(TriggerDagRunOperator): kick>
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tradewind.exceptions import (
    DagDefinitionError,
    DagRunAlreadyExists,
    TradewindException,
    TradewindFailException,
    TradewindSkipException,
)
from tradewind.sdk.baseoperator import BaseOperator
from tradewind.states import DagRunState

if TYPE_CHECKING:
    from tradewind.execution.runtime import RuntimeTaskInstance

#: The XCom key of the triggered run's id (Airflow's).
XCOM_RUN_ID = "trigger_run_id"

_SLEEP_SLICE = 0.05


class _NotSet:
    """``logical_date`` not given: the run's logical date is the trigger time."""

    def __repr__(self) -> str:
        return "NOTSET"


_NOTSET: Any = _NotSet()


def _states(values: Iterable[str | DagRunState], name: str, task_id: str) -> list[DagRunState]:
    try:
        return [DagRunState(v) for v in values]
    except ValueError as err:
        raise DagDefinitionError(f"task {task_id!r}: {name}: {err}") from None


def _parse_date(value: Any) -> datetime | None:
    """A logical date from a datetime or an ISO 8601 string; naive ones are read in
    ``core.default_timezone`` (as Airflow parses them)."""
    if value is None:
        return None
    when: datetime
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            message = f"logical_date {value!r} is not an ISO 8601 date or datetime"
            raise ValueError(message) from None
    else:
        raise TypeError(f"logical_date must be a str or a datetime, got {type(value).__name__}")
    if when.tzinfo is None:
        from tradewind.timetables.zones import default_zone, localize

        when = localize(when, default_zone())
    return when.astimezone(UTC)


def _sleep(seconds: float) -> None:
    # In slices, so an execution timeout delivered to this thread is not held back.
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, _SLEEP_SLICE))


class TriggerDagRunOperator(BaseOperator):
    """Triggers a run of ``trigger_dag_id``. See the module docstring.

    ``trigger_dag_id``, ``trigger_run_id``, ``logical_date``, ``conf``,
    ``wait_for_completion`` and ``skip_when_already_exists`` are templated. Without
    ``trigger_run_id`` the run id is ``manual__<logical date>`` (Airflow's); without
    ``logical_date`` the logical date is now, and ``logical_date=None`` makes a run without
    one. ``deferrable=True`` is accepted and waits in poke mode for now.
    """

    template_fields: Sequence[str] = (
        "trigger_dag_id",
        "trigger_run_id",
        "logical_date",
        "conf",
        "wait_for_completion",
        "skip_when_already_exists",
    )
    template_fields_renderers = {"conf": "py"}
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        trigger_dag_id: str,
        trigger_run_id: str | None = None,
        conf: dict[str, Any] | str | None = None,
        logical_date: str | datetime | None = _NOTSET,
        reset_dag_run: bool = False,
        wait_for_completion: bool = False,
        poke_interval: float | timedelta = 60,
        allowed_states: list[str | DagRunState] | None = None,
        failed_states: list[str | DagRunState] | None = None,
        skip_when_already_exists: bool = False,
        note: str | None = None,
        deferrable: bool = False,
        openlineage_inject_parent_info: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.trigger_dag_id = trigger_dag_id
        self.trigger_run_id = trigger_run_id
        self.conf = conf
        if not (logical_date is None or isinstance(logical_date, (str, datetime, _NotSet))):
            raise TypeError(
                f"task {self.task_id!r}: logical_date must be a str, a datetime or None, "
                f"got {type(logical_date).__name__}"
            )
        self.logical_date = logical_date
        self.reset_dag_run = reset_dag_run
        self.wait_for_completion = wait_for_completion
        if isinstance(poke_interval, timedelta):
            poke_interval = poke_interval.total_seconds()
        if isinstance(poke_interval, bool) or not isinstance(poke_interval, (int, float)):
            raise DagDefinitionError(
                f"task {self.task_id!r}: poke_interval must be a number of seconds"
            )
        if poke_interval < 0:
            raise DagDefinitionError(f"task {self.task_id!r}: poke_interval must not be negative")
        self.poke_interval = float(poke_interval)
        self.allowed_states = _states(
            allowed_states or [DagRunState.SUCCESS], "allowed_states", self.task_id
        )
        self.failed_states = _states(
            [DagRunState.FAILED] if failed_states is None else failed_states,
            "failed_states",
            self.task_id,
        )
        self.skip_when_already_exists = skip_when_already_exists
        self.note = note
        self.deferrable = deferrable
        # Tradewind has no OpenLineage integration, so there is nothing to inject.
        self.openlineage_inject_parent_info = openlineage_inject_parent_info

    # -- execute ---------------------------------------------------------------------
    def execute(self, context: Any) -> None:
        if isinstance(self.logical_date, _NotSet):
            logical: datetime | None = datetime.now(UTC)
        else:
            logical = _parse_date(self.logical_date)
        conf = self._checked_conf()
        if self.trigger_run_id:
            run_id = str(self.trigger_run_id)
        else:
            from tradewind.timetables.run_id import generate_run_id

            run_id = generate_run_id("manual", logical, logical or datetime.now(UTC))
        # Kept on the task, as Airflow does, for whatever looks at the task afterwards.
        self.trigger_run_id = run_id
        ti = _task_instance(context)
        dag_id = str(self.trigger_dag_id)
        self.log.info("Triggering run %s of DAG %s", run_id, dag_id)
        try:
            run_id = ti.trigger_dag_run(
                dag_id,
                run_id,
                conf=conf,
                logical_date=logical,
                reset_dag_run=bool(self.reset_dag_run),
                note=self.note,
            )
        except DagRunAlreadyExists as err:
            if self.skip_when_already_exists:
                raise TradewindSkipException(
                    f"Skipping: skip_when_already_exists is set and {err}"
                ) from None
            raise TradewindFailException(f"cannot trigger DAG {dag_id!r}: {err}") from None
        except KeyError as err:
            message = err.args[0] if err.args else f"DAG {dag_id!r} not found"
            raise TradewindException(f"cannot trigger DAG {dag_id!r}: {message}") from None
        ti.xcom_push(XCOM_RUN_ID, run_id)
        self.log.info("Triggered run %s of DAG %s", run_id, dag_id)
        if self.wait_for_completion:
            if self.deferrable:
                self.log.info("deferrable is not supported yet: waiting in poke mode")
            self._wait(ti, dag_id, run_id)

    def _checked_conf(self) -> dict[str, Any] | None:
        conf = self.conf
        try:
            if conf and isinstance(conf, str):
                conf = json.loads(conf)
            json.dumps(conf)
        except (TypeError, ValueError):
            raise ValueError(f"conf parameter should be JSON Serializable: {self.conf!r}") from None
        if conf is not None and not isinstance(conf, Mapping):
            raise ValueError(f"conf must be a JSON object (a dict) or None, got {conf!r}")
        return None if conf is None else dict(conf)

    def _wait(self, ti: RuntimeTaskInstance, dag_id: str, run_id: str) -> None:
        allowed = {s.value for s in self.allowed_states}
        failed = {s.value for s in self.failed_states}
        while True:
            self.log.info(
                "Waiting for run %s of DAG %s to reach %s ...", run_id, dag_id, sorted(allowed)
            )
            _sleep(self.poke_interval)
            state = ti.get_dagrun_state(dag_id, run_id)
            if state is None:
                raise TradewindException(f"run {run_id} of DAG {dag_id} no longer exists")
            if state in failed:
                raise TradewindException(f"{dag_id} failed with failed state {state}")
            if state in allowed:
                self.log.info("%s finished with allowed state %s", dag_id, state)
                return


def _task_instance(context: Mapping[str, Any]) -> RuntimeTaskInstance:
    """The running try's task instance, through which the run is triggered."""
    from tradewind.execution.runtime import RuntimeTaskInstance

    ti = context.get("ti")
    if not isinstance(ti, RuntimeTaskInstance):
        raise TradewindException(
            "TriggerDagRunOperator must run as a task (its context has no running task instance)"
        )
    return ti
