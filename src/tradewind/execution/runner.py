"""Runs one try of one task instance and reports how it ended.

The runner builds the context, resolves params, builds the concrete task for a map index,
renders templates, runs ``execute`` under the execution timeout, pushes the result to XCom,
runs the task's callbacks, and returns a :class:`TryOutcome`. It does not decide what runs
next: the caller (``dags test`` or a worker's supervisor) hands the outcome to the
orchestrator.

>>> from tradewind.sdk import DAG, task
>>> from tradewind.xcom.memory import MemoryXComBackend
>>> from tradewind.execution.client import InProcessClient
>>> from tradewind.execution.runtime import DagRunInfo
>>> from datetime import datetime, timezone
>>> with DAG("doc_runner") as d:
...     @task
...     def two():
...         return 2
...     _ = two()
>>> now = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> run = DagRunInfo("doc_runner", "manual__x", now, now, now, now)
>>> out = run_task_try(d.get_task("two"), run, client=InProcessClient(MemoryXComBackend()))
>>> out.state
<TaskInstanceState.SUCCESS: 'success'>
"""

from __future__ import annotations

import copy
import logging
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tradewind.exceptions import (
    ParamValidationError,
    TaskDeferralError,
    TaskDeferralTimeout,
    TaskDeferred,
    TradewindFailException,
    TradewindRescheduleException,
    TradewindSkipException,
    XComError,
)
from tradewind.execution.client import ExecutionClient
from tradewind.execution.context import build_context
from tradewind.execution.mapped import check_mapping_inputs, xcom_derived_ids
from tradewind.execution.runtime import DagRunInfo, RuntimeTaskInstance
from tradewind.execution.task_log import LineSink, capture_task_output
from tradewind.execution.templating import data_values
from tradewind.execution.timeout import execution_timeout
from tradewind.executors.workload import DeferralInfo
from tradewind.retries import retry_delay_for
from tradewind.sdk.context import set_current_context
from tradewind.sdk.secrets_access import use_reader
from tradewind.states import TaskInstanceState
from tradewind.xcom.base import RETURN_VALUE

if TYPE_CHECKING:
    from tradewind.sdk.abstractoperator import AbstractOperator

log = logging.getLogger("tradewind.task")


@dataclass
class TryOutcome:
    """How one try ended: the state to record and what the orchestrator must act on."""

    state: TaskInstanceState
    start_date: datetime
    end_date: datetime
    error: str | None = None
    #: When the next try may start (``up_for_retry`` only).
    next_retry_at: datetime | None = None
    #: Downstream task ids to mark ``skipped`` (branching, short-circuit).
    skip_downstream: list[str] = field(default_factory=list)
    #: Length of each pushed list/dict value, by XCom key (drives mapping downstream).
    xcom_lengths: dict[str, int] = field(default_factory=dict)
    #: XCom keys a successful try pushed, as its result or with ``ti.xcom_push``.
    pushed_keys: list[str] = field(default_factory=list)
    rendered_map_index: str | None = None
    #: When the task runs again (``up_for_reschedule`` only), keeping its try number.
    reschedule_date: datetime | None = None
    #: What the task waits for (``deferred`` only).
    deferral: DeferralInfo | None = None

    @property
    def duration(self) -> float:
        return (self.end_date - self.start_date).total_seconds()


@dataclass(frozen=True)
class Resume:
    """How a try continues a deferred one: call ``method`` with ``kwargs`` (the event is
    in ``kwargs["event"]``) instead of ``execute``. ``method`` ``"__fail__"`` fails the
    try with ``kwargs["error"]`` (the trigger failed or timed out), as in Airflow."""

    method: str
    kwargs: dict[str, Any] = field(default_factory=dict)


#: The resume method that fails a deferred task (Airflow's name for it).
FAIL_METHOD = "__fail__"
#: The resume method of a task its trigger ended (``kwargs``: ``state``, ``xcoms``), where
#: no triggerer does it (``dags test``).
END_METHOD = "__end__"


def _now() -> datetime:
    return datetime.now(UTC)


def _resolve_params(task: AbstractOperator, conf: Mapping[str, Any]) -> dict[str, Any]:
    from tradewind.sdk.params import ParamsDict

    merged = ParamsDict()
    if task.dag is not None:
        merged.update_params(task.dag.params)
    task_params = getattr(task, "params", None)
    if isinstance(task_params, ParamsDict):
        merged.update_params(task_params)
    return merged.resolve(conf)


def _run_callbacks(callbacks: Any, context: Mapping[str, Any], kind: str) -> None:
    if not callbacks:
        return
    for cb in callbacks if isinstance(callbacks, (list, tuple)) else [callbacks]:
        try:
            cb(context)
        except Exception:
            log.exception("%s callback %r failed", kind, getattr(cb, "__name__", cb))


def _push_result(ti: RuntimeTaskInstance, task: Any, result: Any) -> None:
    if task.multiple_outputs and result is not None:
        if not isinstance(result, dict) or not all(isinstance(k, str) for k in result):
            raise XComError(
                f"task {task.task_id!r} has multiple_outputs=True and must return a dict with "
                f"str keys, got {type(result).__name__}"
            )
        for key, value in result.items():
            ti.xcom_push(key, value)
    if result is not None:
        ti.xcom_push(RETURN_VALUE, result)


def run_task_try(
    task: AbstractOperator,
    dag_run: DagRunInfo,
    *,
    client: ExecutionClient,
    map_index: int = -1,
    try_number: int = 1,
    log_sink: LineSink | None = None,
    mapped_upstreams: frozenset[str] = frozenset(),
    max_tries: int | None = None,
    clear_xcom: bool = True,
    resume: Resume | None = None,
    first_reschedule_date: datetime | None = None,
    reschedule_count: int = 0,
) -> TryOutcome:
    """Run one try; never raises for task errors (they become the outcome's state).

    ``mapped_upstreams`` names upstream tasks that are mapped, so their output is pulled as
    a list. ``log_sink`` receives each log line of the try. ``max_tries`` is the task
    instance's (Airflow's: a failed try is retried while ``try_number <= max_tries``); it
    defaults to the task's ``retries`` and differs after a clear. ``clear_xcom=False``
    when the task instance's XCom was already removed for this try (the scheduler does it
    as it queues the try).

    ``resume`` continues a deferred try (see :class:`Resume`); the outcome of a try that
    defers is ``deferred`` with its
    :class:`~tradewind.executors.workload.DeferralInfo`. A sensor in ``reschedule`` mode
    ends ``up_for_reschedule`` with a ``reschedule_date``; ``first_reschedule_date`` (when
    its first poke ran) and ``reschedule_count`` tell it how long it has waited so far.
    """
    sink = log_sink or (lambda line: None)
    waited = _Waited(resume, first_reschedule_date, reschedule_count)
    with capture_task_output(sink):
        return _run(
            task,
            dag_run,
            client,
            map_index,
            try_number,
            mapped_upstreams,
            max_tries,
            # A resumed try keeps what it pushed before deferring (as in Airflow).
            clear_xcom and resume is None,
            waited,
        )


@dataclass(frozen=True)
class _Waited:
    resume: Resume | None
    first_reschedule_date: datetime | None
    reschedule_count: int


def _run(
    task: AbstractOperator,
    dag_run: DagRunInfo,
    client: ExecutionClient,
    map_index: int,
    try_number: int,
    mapped_upstreams: frozenset[str],
    max_tries: int | None = None,
    clear_xcom: bool = True,
    waited: _Waited = _Waited(None, None, 0),
) -> TryOutcome:
    start = _now()
    ti = RuntimeTaskInstance(
        task=task,
        dag_run=dag_run,
        map_index=map_index,
        try_number=try_number,
        client=client,
        mapped_upstreams=mapped_upstreams,
    )
    ti.start_date = start
    if max_tries is not None:
        ti.max_tries = max_tries
    ti.first_reschedule_date = waited.first_reschedule_date
    outcome = TryOutcome(state=TaskInstanceState.RUNNING, start_date=start, end_date=start)
    context: dict[str, Any] = {}
    concrete: Any = task
    log.info(
        "Starting %s%s, try %s of %s",
        task.task_id,
        f"[{map_index}]" if map_index >= 0 else "",
        try_number,
        ti.max_tries + 1,
    )
    with use_reader(client):
        try:
            if clear_xcom:
                client.xcom_clear(dag_run.dag_id, dag_run.run_id, task.task_id, map_index)
            context = dict(build_context(ti, task, {}))
            context["params"] = _resolve_params(task, dag_run.conf)
            context["task_reschedule_count"] = waited.reschedule_count
            with set_current_context(context):  # type: ignore[arg-type]
                concrete = _prepare(task, context, map_index)
                ti.task = concrete
                context["task"] = concrete
                _run_callbacks(concrete.on_execute_callback, context, "on_execute")
                timeout = concrete.execution_timeout
                with execution_timeout(
                    timeout.total_seconds() if isinstance(timeout, timedelta) else None,
                    on_kill=concrete.on_kill,
                ):
                    if waited.resume is None:
                        concrete.pre_execute(context)
                        result = concrete.execute(context)
                    else:
                        result = _resume(concrete, context, waited.resume)
                    concrete.post_execute(context, result)
                # As in Airflow, a branch that skipped tasks does not push its result.
                if concrete.do_xcom_push and not _branch_skipped(concrete, ti):
                    _push_result(ti, concrete, result)
                check_mapping_inputs(ti, task)
                outcome.state = TaskInstanceState.SUCCESS
                outcome.skip_downstream = list(ti.skipped_downstream)
                outcome.pushed_keys = list(ti.pushed)
                outcome.xcom_lengths = {
                    key: n for key, (_, n) in ti.pushed.items() if n is not None
                }
                _render_map_index(concrete, context, outcome)
                log.info("Marking task as SUCCESS.")
                outcome.end_date = _now()
                _run_callbacks(concrete.on_success_callback, context, "on_success")
        except TradewindRescheduleException as err:
            outcome.state = TaskInstanceState.UP_FOR_RESCHEDULE
            outcome.reschedule_date = err.reschedule_date
            outcome.end_date = _now()
            log.info("Rescheduling task, marking task as UP_FOR_RESCHEDULE")
        except TaskDeferred as err:
            try:
                outcome.deferral = _deferral(err)
            except Exception as bad:  # a trigger that cannot be stored fails the try
                _fail(task, concrete, dag_run, try_number, ti.max_tries, context, bad, outcome)
            else:
                outcome.state = TaskInstanceState.DEFERRED
                outcome.end_date = _now()
                trigger = outcome.deferral.trigger_classpath
                log.info("Pausing task as DEFERRED; waiting for %s", trigger)
        except TradewindSkipException as err:
            outcome.state = TaskInstanceState.SKIPPED
            log.info("Skipping task: %s", err)
            outcome.end_date = _now()
            with set_current_context(context):  # type: ignore[arg-type]
                callbacks = getattr(concrete, "on_skipped_callback", None)
                _run_callbacks(callbacks, context, "on_skipped")
        except (Exception, SystemExit) as err:  # a task's failure must never escape the runner
            _fail(task, concrete, dag_run, try_number, ti.max_tries, context, err, outcome)
    return outcome


def _resume(task: Any, context: dict[str, Any], resume: Resume) -> Any:
    """Continue a deferred try at its resume method (or fail it, for ``__fail__``)."""
    if resume.method == END_METHOD:
        for key, value in dict(resume.kwargs.get("xcoms") or {}).items():
            context["ti"].xcom_push(key, value)
        state = resume.kwargs.get("state")
        if state == "skipped":
            raise TradewindSkipException("the trigger ended the task as skipped")
        if state == "failed":
            raise TradewindFailException("the trigger ended the task as failed")
        return None
    if resume.method == FAIL_METHOD:
        error = str(resume.kwargs.get("error") or "the trigger failed")
        if resume.kwargs.get("timeout"):
            raise TaskDeferralTimeout(error)
        raise TaskDeferralError(error)
    method = getattr(task, resume.method, None)
    if not callable(method):
        raise TaskDeferralError(
            f"task {task.task_id!r} deferred to resume at {resume.method!r}, which "
            f"{type(task).__name__} does not have"
        )
    return method(context, **resume.kwargs)


def _deferral(deferred: TaskDeferred) -> DeferralInfo:
    """What to store of a deferral: the trigger and resume arguments as codec text."""
    from tradewind.serialization import codec
    from tradewind.triggers.serialization import serialize_trigger

    classpath, kwargs = serialize_trigger(deferred.trigger)
    try:
        next_kwargs = codec.encode(deferred.kwargs)
    except Exception as err:
        raise TaskDeferralError(
            f"the kwargs to resume {deferred.method_name!r} with cannot be stored: {err}"
        ) from None
    timeout_at = None if deferred.timeout is None else _now() + deferred.timeout
    return DeferralInfo(
        trigger_classpath=classpath,
        trigger_kwargs=kwargs,
        next_method=deferred.method_name,
        next_kwargs=next_kwargs,
        timeout_at=timeout_at,
    )


def _prepare(task: AbstractOperator, context: dict[str, Any], map_index: int) -> Any:
    """The concrete operator for this try, with its template fields rendered.

    The task is copied so rendering never leaks into the DAG's task (or another try). For a
    mapped task, values that came from XCom are data and are not rendered.
    """
    concrete: Any
    if not task.is_mapped:
        concrete = copy.copy(task)
        concrete.render_template_fields(context)
        return concrete
    concrete = task.unmap(context, map_index)  # type: ignore[attr-defined]
    with data_values(xcom_derived_ids(task, concrete)):
        concrete.render_template_fields(context)
    return concrete


def _fail(
    task: AbstractOperator,
    concrete: Any,
    dag_run: DagRunInfo,
    try_number: int,
    max_tries: int,
    context: dict[str, Any],
    err: BaseException,
    outcome: TryOutcome,
) -> None:
    """Record a failed try: ``up_for_retry`` while retries are left, else ``failed``."""
    outcome.error = "".join(traceback.format_exception(err))
    log.error("Task failed with exception\n%s", outcome.error.rstrip())
    context["exception"] = err
    outcome.end_date = _now()
    no_retry = isinstance(err, (TradewindFailException, ParamValidationError))
    if not no_retry and try_number <= max_tries:
        delay = retry_delay_for(
            retry_delay=task.retry_delay,
            exponential_backoff=task.retry_exponential_backoff,
            max_retry_delay=task.max_retry_delay,
            try_number=try_number,
            dag_id=dag_run.dag_id,
            task_id=task.task_id,
            logical_date=dag_run.logical_date,
        )
        outcome.state = TaskInstanceState.UP_FOR_RETRY
        # As in Airflow: the next try may start ``delay`` after this one ended.
        outcome.next_retry_at = outcome.end_date + delay
        log.info("Marking task as UP_FOR_RETRY; next try in %s", delay)
        callbacks, kind = getattr(concrete, "on_retry_callback", None), "on_retry"
    else:
        outcome.state = TaskInstanceState.FAILED
        log.info("Marking task as FAILED.")
        callbacks, kind = getattr(concrete, "on_failure_callback", None), "on_failure"
    with set_current_context(context):  # type: ignore[arg-type]
        _run_callbacks(callbacks, context, kind)


def _branch_skipped(task: Any, ti: RuntimeTaskInstance) -> bool:
    # As in Airflow: an unmapped branch that skipped tasks does not push its result; a
    # mapped copy skips nothing and always pushes.
    return bool(task.is_branching and ti.skipped_downstream and ti.map_index < 0)


def _render_map_index(task: Any, context: Mapping[str, Any], outcome: TryOutcome) -> None:
    template = getattr(task, "map_index_template", None)
    if not template:
        return
    from tradewind.execution.templating import render_string

    try:
        outcome.rendered_map_index = str(render_string(task, template, context))
    except Exception as err:
        log.warning("Could not render map_index_template: %s", err)


#: Signature of something that runs a try (the runner itself, or a remote stand-in).
TryRunner = Callable[..., TryOutcome]
