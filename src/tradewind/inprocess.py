"""Run a whole DAG once inside this process: what ``tradewind dags test`` and ``DAG.test()``
do. No database, no service: task instances live in memory, XCom in a memory backend, and
independent tasks run side by side in threads (up to the DAG's ``max_active_tasks``).

The decisions are the scheduler's pure functions (:mod:`tradewind.scheduler.readiness`,
:mod:`tradewind.scheduler.run_state`) and every try goes through the same task runner that
workers use, so a DAG that passes here behaves the same in production.

>>> from tradewind.sdk import DAG, task
>>> with DAG("doc_inprocess") as d:
...     @task
...     def one():
...         return 1
...     @task
...     def plus(x):
...         return x + 1
...     _ = plus(one())
>>> result = run_dag(d)
>>> (result.state.value, result.task_states())
('success', {'one': 'success', 'plus': 'success'})
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tradewind.execution.client import ExecutionClient, InProcessClient
from tradewind.execution.runner import TryOutcome, run_task_try
from tradewind.execution.runtime import DagRunInfo
from tradewind.scheduler.readiness import Decision, UpstreamCounts, decide
from tradewind.scheduler.run_state import decide_run_state, effective_leaves
from tradewind.sdk.abstractoperator import AbstractOperator
from tradewind.sdk.dag import DAG
from tradewind.sdk.mapping import MappedOperator
from tradewind.sdk.trigger_rule import WeightRule
from tradewind.states import FAILED_STATES, FINISHED_STATES, DagRunState
from tradewind.states import TaskInstanceState as TI
from tradewind.xcom.memory import MemoryXComBackend


@dataclass
class TaskInstanceRecord:
    """One task instance of the run, as ``dags test`` tracks it."""

    task_id: str
    map_index: int = -1
    state: TI | None = None
    try_number: int = 0
    start_date: datetime | None = None
    end_date: datetime | None = None
    next_retry_at: datetime | None = None
    error: str | None = None
    rendered_map_index: str | None = None
    log: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """``task_id``, or ``task_id[map_index]`` for a mapped copy."""
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"

    @property
    def duration(self) -> float | None:
        if self.start_date and self.end_date:
            return (self.end_date - self.start_date).total_seconds()
        return None


@dataclass
class DagRunResult:
    """How a run ended, with every task instance."""

    dag_id: str
    run_id: str
    state: DagRunState
    logical_date: datetime | None
    start_date: datetime
    end_date: datetime
    task_instances: list[TaskInstanceRecord]

    def task_states(self) -> dict[str, str | None]:
        return {
            ti.key: (ti.state.value if ti.state is not None else None) for ti in self.task_instances
        }

    def get(self, key: str) -> TaskInstanceRecord:
        for ti in self.task_instances:
            if ti.key == key:
                return ti
        raise KeyError(key)

    def to_json(self) -> dict[str, Any]:
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "state": self.state.value,
            "tasks": self.task_states(),
        }


LogCallback = Callable[[TaskInstanceRecord, str], None]
StateCallback = Callable[[TaskInstanceRecord], None]


def priority_weights(dag: DAG) -> dict[str, int]:
    """Each task's effective priority under its ``weight_rule`` (Airflow's meaning)."""
    order = dag.topological_sort()
    down_sum: dict[str, set[str]] = {}
    for t in reversed(order):
        reach: set[str] = set()
        for d in t.downstream_task_ids:
            reach.add(d)
            reach |= down_sum[d]
        down_sum[t.task_id] = reach
    up_sum: dict[str, set[str]] = {}
    for t in order:
        reach = set()
        for u in t.upstream_task_ids:
            reach.add(u)
            reach |= up_sum[u]
        up_sum[t.task_id] = reach
    weights: dict[str, int] = {}
    for t in order:
        own = t.priority_weight
        if t.weight_rule is WeightRule.ABSOLUTE:
            weights[t.task_id] = own
        elif t.weight_rule is WeightRule.UPSTREAM:
            weights[t.task_id] = own + sum(
                dag.task_dict[u].priority_weight for u in up_sum[t.task_id]
            )
        else:
            weights[t.task_id] = own + sum(
                dag.task_dict[d].priority_weight for d in down_sum[t.task_id]
            )
    return weights


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class _Run:
    """The state of one in-process run; :func:`run_dag` drives it."""

    def __init__(
        self,
        dag: DAG,
        info: DagRunInfo,
        client: ExecutionClient,
        on_log: LogCallback | None,
        on_state: StateCallback | None,
    ) -> None:
        self.dag = dag
        self.info = info
        self.client = client
        self.on_log = on_log
        self.on_state = on_state
        self.order = {t.task_id: i for i, t in enumerate(dag.topological_sort())}
        self.weights = priority_weights(dag)
        self.records: dict[str, list[TaskInstanceRecord]] = {
            tid: [TaskInstanceRecord(tid)] for tid in dag.task_dict
        }
        self.mapped_ids = frozenset(
            tid for tid, t in dag.task_dict.items() if isinstance(t, MappedOperator)
        )
        self.lengths: dict[tuple[str, str], int] = {}
        self.pushed: dict[tuple[str, str], int] = {}
        self.dirty: set[str] = set(dag.task_dict)
        self.lock = threading.Lock()

    # -- bookkeeping -------------------------------------------------------------------
    def _set(self, rec: TaskInstanceRecord, state: TI) -> None:
        rec.state = state
        self.dirty |= self.dag.task_dict[rec.task_id].downstream_task_ids
        if self.on_state:
            self.on_state(rec)

    def _length(self, task_id: str, key: str) -> int | None:
        if task_id in self.mapped_ids:
            if all(r.state in FINISHED_STATES for r in self.records[task_id]):
                return self.pushed.get((task_id, key), 0)
            return None
        return self.lengths.get((task_id, key))

    def _counts(self, task: AbstractOperator) -> UpstreamCounts:
        return UpstreamCounts.from_states(
            (rec.state, self.dag.task_dict[up].is_setup)
            for up in task.upstream_task_ids
            for rec in self.records[up]
        )

    # -- deciding ----------------------------------------------------------------------
    def ready(self) -> list[TaskInstanceRecord]:
        """Apply trigger rules to changed tasks; return task instances to run now."""
        out: list[TaskInstanceRecord] = []
        now = datetime.now(UTC)
        while self.dirty:
            dirty, self.dirty = self.dirty, set()
            for tid in sorted(dirty, key=self.order.__getitem__):
                out.extend(self._evaluate(self.dag.task_dict[tid]))
        for recs in self.records.values():
            for rec in recs:
                if rec.state is TI.UP_FOR_RETRY and rec.next_retry_at and rec.next_retry_at <= now:
                    rec.state = TI.SCHEDULED
                    out.append(rec)
        out.sort(key=lambda r: (-self.weights[r.task_id], self.order[r.task_id], r.map_index))
        return out

    def _evaluate(self, task: AbstractOperator) -> list[TaskInstanceRecord]:
        pending = [r for r in self.records[task.task_id] if r.state is None]
        if not pending:
            return []
        if isinstance(task, MappedOperator) and pending[0].map_index < 0:
            feeding = self._feeding_state(task)
            if feeding is not None:
                self._set(pending[0], feeding)
                return []
        decision = decide(task.trigger_rule, self._counts(task))
        if decision is Decision.WAIT:
            return []
        if decision is Decision.SKIP:
            for rec in pending:
                self._set(rec, TI.SKIPPED)
            return []
        if decision is Decision.UPSTREAM_FAILED:
            for rec in pending:
                self._set(rec, TI.UPSTREAM_FAILED)
            return []
        if isinstance(task, MappedOperator) and pending[0].map_index < 0:
            return self._expand(task, pending[0])
        for rec in pending:
            rec.state = TI.SCHEDULED
        return pending

    def _feeding_state(self, task: MappedOperator) -> TI | None:
        """A failed or skipped upstream that feeds the expansion decides for the task."""
        feeders = {
            op.task_id for ref in task.expand_input.references() for op, _ in ref.iter_references()
        }
        states = [r.state for tid in feeders for r in self.records[tid]]
        if any(s in FAILED_STATES for s in states):
            return TI.UPSTREAM_FAILED
        if any(s is TI.SKIPPED for s in states):
            return TI.SKIPPED
        return None

    def _expand(
        self, task: MappedOperator, placeholder: TaskInstanceRecord
    ) -> list[TaskInstanceRecord]:
        try:
            length = task.get_map_length(self._length)
        except Exception as err:
            placeholder.error = str(err)
            length = None
        if length is None:
            placeholder.error = placeholder.error or "the length of a mapped input is not known"
            self._set(placeholder, TI.UPSTREAM_FAILED)
            return []
        if length == 0:
            self._set(placeholder, TI.SKIPPED)
            return []
        recs = [TaskInstanceRecord(task.task_id, i, state=TI.SCHEDULED) for i in range(length)]
        self.records[task.task_id] = recs
        return recs

    # -- applying outcomes ---------------------------------------------------------------
    def apply(self, rec: TaskInstanceRecord, outcome: TryOutcome) -> None:
        rec.start_date = rec.start_date or outcome.start_date
        rec.end_date = outcome.end_date
        rec.error = outcome.error
        rec.next_retry_at = outcome.next_retry_at
        rec.rendered_map_index = outcome.rendered_map_index
        for key in outcome.pushed_keys:
            self.pushed[(rec.task_id, key)] = self.pushed.get((rec.task_id, key), 0) + 1
        if rec.map_index < 0:
            for key, n in outcome.xcom_lengths.items():
                self.lengths[(rec.task_id, key)] = n
        self._set(rec, outcome.state)
        for tid in outcome.skip_downstream:
            for other in self.records.get(tid, []):
                if other.state is None or other.state is TI.SCHEDULED:
                    self._set(other, TI.SKIPPED)
        if outcome.state is TI.FAILED and self.dag.fail_fast:
            for recs in self.records.values():
                for other in recs:
                    task = self.dag.task_dict[other.task_id]
                    if (
                        other.state in (None, TI.SCHEDULED, TI.UP_FOR_RETRY)
                        and not task.is_teardown
                    ):
                        self._set(other, TI.SKIPPED)

    def skip_unfinished(self) -> None:
        for recs in self.records.values():
            for rec in recs:
                if rec.state in (None, TI.SCHEDULED, TI.UP_FOR_RETRY):
                    self._set(rec, TI.SKIPPED)

    def next_retry(self) -> datetime | None:
        times = [
            r.next_retry_at
            for recs in self.records.values()
            for r in recs
            if r.state is TI.UP_FOR_RETRY and r.next_retry_at
        ]
        return min(times) if times else None

    def final_state(self) -> DagRunState:
        tasks = self.dag.task_dict
        ignorable = {
            tid for tid, t in tasks.items() if t.is_teardown and not t.on_failure_fail_dagrun
        }
        leaves = effective_leaves(
            {tid: t.downstream_task_ids for tid, t in tasks.items()}, ignorable
        )
        states = {tid: [r.state for r in recs] for tid, recs in self.records.items()}
        return decide_run_state(states, leaves, can_progress=False)

    def all_records(self) -> list[TaskInstanceRecord]:
        return [
            r for tid in sorted(self.records, key=self.order.__getitem__) for r in self.records[tid]
        ]


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
    started = datetime.now(UTC)
    logical = _utc(logical_date) or started
    interval = dag.timetable.infer_manual_data_interval(logical)
    conf = dict(conf or {})
    dag.params.resolve(conf)
    info = DagRunInfo(
        dag_id=dag.dag_id,
        run_id=run_id or f"manual__{started.isoformat()}",
        logical_date=logical,
        data_interval_start=interval.start,
        data_interval_end=interval.end,
        run_after=started,
        start_date=started,
        conf=conf,
    )
    client = client or InProcessClient(MemoryXComBackend())
    run = _Run(dag, info, client, on_log, on_state)
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

        return pool.submit(
            run_task_try,
            dag.task_dict[rec.task_id],
            info,
            client=client,
            map_index=rec.map_index,
            try_number=rec.try_number,
            log_sink=sink,
            mapped_upstreams=run.mapped_ids,
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
