"""Drives one in-process DAG run: submits ready tries to a thread pool, applies outcomes."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

from tradewind.execution.client import ExecutionClient, InProcessClient
from tradewind.execution.in_process_waits import run_waiting_in_process
from tradewind.execution.runner import TryOutcome, run_task_try
from tradewind.execution.runtime import DagRunInfo
from tradewind.inprocess.records import DagRunResult
from tradewind.scheduler.run_machine import RunMachine, StateCallback, TaskInstanceRecord
from tradewind.sdk.dag import DAG
from tradewind.states import DagRunState
from tradewind.states import TaskInstanceState as TI
from tradewind.xcom.memory import MemoryXComBackend

LogCallback = Callable[[TaskInstanceRecord, str], None]


def _utc(value: datetime | None) -> datetime | None:
    """In UTC, as Airflow stores run dates; a naive datetime is taken to be UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def manual_run(
    dag: DAG,
    *,
    logical_date: datetime | None = None,
    conf: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> DagRunInfo:
    """A manual run of ``dag`` starting now, as ``dags test`` makes it (Airflow's rules).

    The logical date defaults to now; the data interval comes from the timetable, rebuilt as
    the scheduler would (a custom timetable class must be trusted by
    ``core.timetable_classes``, or :class:`~tradewind.exceptions.TimetableNotRegistered` is
    raised, as Airflow's ``dags test`` does); the run id is ``manual__<now>``. ``conf`` is
    checked against the DAG's params (raises
    :class:`~tradewind.exceptions.ParamValidationError`).
    """
    from tradewind.timetables import as_scheduled

    now = datetime.now(UTC)
    logical = _utc(logical_date) or now
    interval = as_scheduled(dag.timetable).infer_manual_data_interval(run_after=logical)
    conf = dict(conf or {})
    dag.params.resolve(conf)
    return DagRunInfo(
        dag_id=dag.dag_id,
        run_id=run_id or f"manual__{now.isoformat()}",
        logical_date=logical,
        data_interval_start=interval.start,
        data_interval_end=interval.end,
        run_after=now,
        start_date=now,
        conf=conf,
    )


def run_dag(
    dag: DAG,
    *,
    logical_date: datetime | None = None,
    conf: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    client: ExecutionClient | None = None,
    max_workers: int | None = None,
    on_log: LogCallback | None = None,
    on_state: StateCallback | None = None,
) -> DagRunResult:
    """Run ``dag`` once, in this process; return when the run has finished.

    ``conf`` overrides params (and is checked against them: a
    :class:`~tradewind.exceptions.ParamValidationError` is raised before anything runs).
    ``on_log`` gets each log line of each try; ``on_state`` each state change.
    """
    dag.validate()
    info = manual_run(dag, logical_date=logical_date, conf=conf, run_id=run_id)
    started = info.run_after
    logical = info.logical_date
    client = client or InProcessClient(MemoryXComBackend())
    run = RunMachine(dag, on_state)
    deadline = time.monotonic() + dag.dagrun_timeout.total_seconds() if dag.dagrun_timeout else None
    workers = max_workers or dag.max_active_tasks

    def submit(pool: ThreadPoolExecutor, rec: TaskInstanceRecord) -> Future[TryOutcome]:
        rec.try_number += 1
        rec.state = TI.RUNNING
        rec.start_date = rec.start_date or datetime.now(UTC)
        if on_state:
            on_state(rec)

        def sink(line: str, rec: TaskInstanceRecord = rec) -> None:
            rec.log.append(line)
            if on_log:
                on_log(rec, line)

        # Reschedules and deferrals wait here, in the task's thread: no triggerer in process.
        return pool.submit(
            run_waiting_in_process,
            functools.partial(
                run_task_try,
                dag.task_dict[rec.task_id],
                info,
                client=client,
                map_index=rec.map_index,
                try_number=rec.try_number,
                log_sink=sink,
                mapped_upstreams=run.mapped_ids,
            ),
            dag.task_dict[rec.task_id],
        )

    running: dict[Future[TryOutcome], TaskInstanceRecord] = {}
    timed_out = False
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tradewind-task") as pool:
        while True:
            if deadline is not None and time.monotonic() > deadline and not timed_out:
                timed_out = True
                run.skip_unfinished()
            if not timed_out:
                for rec in run.ready():
                    running[submit(pool, rec)] = rec
            if not running:
                retry_at = run.next_retry()
                if retry_at is None or timed_out:
                    break
                pause = (retry_at - datetime.now(UTC)).total_seconds()
                if deadline is not None:
                    pause = min(pause, deadline - time.monotonic())
                time.sleep(max(0.0, pause))
                continue
            timeout = None
            retry_at = run.next_retry()
            if retry_at is not None:
                timeout = max(0.0, (retry_at - datetime.now(UTC)).total_seconds())
            if deadline is not None:
                left = max(0.0, deadline - time.monotonic())
                timeout = left if timeout is None else min(timeout, left)
            done, _ = wait(list(running), timeout=timeout, return_when=FIRST_COMPLETED)
            for fut in done:
                rec = running.pop(fut)
                run.apply(rec, fut.result())
    state = DagRunState.FAILED if timed_out else run.final_state()
    ended = datetime.now(UTC)
    info.state = state.value
    info.end_date = ended
    _run_dag_callback(dag, info, state, "timed_out" if timed_out else None)
    return DagRunResult(
        dag_id=dag.dag_id,
        run_id=info.run_id,
        state=state,
        logical_date=logical,
        start_date=started,
        end_date=ended,
        task_instances=run.all_records(),
    )


def _run_dag_callback(dag: DAG, info: DagRunInfo, state: DagRunState, reason: str | None) -> None:
    import logging

    callbacks = dag.on_success_callback if state is DagRunState.SUCCESS else dag.on_failure_callback
    if not callbacks:
        return
    context = {
        "dag": dag,
        "dag_run": info,
        "run_id": info.run_id,
        "logical_date": info.logical_date,
        "params": dict(dag.params),
        "reason": reason or ("success" if state is DagRunState.SUCCESS else "task_failure"),
    }
    for cb in callbacks if isinstance(callbacks, (list, tuple)) else [callbacks]:
        try:
            cb(context)
        except Exception:
            logging.getLogger("tradewind").exception("DAG %s callback failed", state.value)
