"""The run machine: the task instances of one DAG run and every decision over them.

:class:`RunMachine` keeps each task instance's state and asks the pure rules
(:mod:`~tradewind.scheduler.readiness`, :mod:`~tradewind.scheduler.run_state`,
:mod:`~tradewind.scheduler.setup_teardown`) what happens next: which instances run, which are
skipped or upstream-failed, when mapped tasks expand, how a try's outcome (branch skips,
``fail_fast``, retries) changes the run, and the run's final state. Tasks inside mapped task
groups are judged copy by copy (:mod:`~tradewind.scheduler.mapped_groups`). No threads and no I/O:
``dags test`` drives it in memory and the scheduler loads it from the database, so both make
exactly the same decisions. It works on any DAG-like object with the SDK's names (an SDK
``DAG`` or a serialized one).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from tradewind.scheduler.mapped_groups import MappedGroupRules
from tradewind.scheduler.past_deps import PastRuns, past_blocker
from tradewind.scheduler.priority import priority_weights
from tradewind.scheduler.readiness import STATE_FOR, Decision, UpstreamCounts, decide_task
from tradewind.scheduler.run_state import decide_run_state, effective_leaves
from tradewind.scheduler.setup_teardown import indirect_setups, teardown_scopes
from tradewind.sdk.map_indexes import expansion_dependencies, in_mapped_group, initial_map_indexes
from tradewind.states import FAILED_STATES, FINISHED_STATES, DagRunState
from tradewind.states import TaskInstanceState as TI

#: States a task instance leaves for ``scheduled`` at its ``next_retry_at``: a retry, or
#: a sensor's next poke.
_WAITING_TO_RUN = (TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE)


@dataclass
class TaskInstanceRecord:
    """One task instance of a run, as the run machine tracks it."""

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
    #: Set while the instance waits to poke again (``up_for_reschedule``) and until the
    #: rescheduled run of its try ends: it runs again with the same try number.
    reschedule_date: datetime | None = None
    #: What a try that deferred waits for (its outcome's deferral), until it is written.
    deferral: Any = None

    @property
    def key(self) -> str:
        """``task_id``, or ``task_id[map_index]`` for a mapped copy."""
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"

    @property
    def duration(self) -> float | None:
        if self.start_date and self.end_date:
            return (self.end_date - self.start_date).total_seconds()
        return None


class TryResult(Protocol):
    """How a try ended, as the runner reports it (``TryOutcome`` has these attributes)."""

    state: TI
    start_date: datetime
    end_date: datetime
    error: str | None
    next_retry_at: datetime | None
    rendered_map_index: str | None
    pushed_keys: list[str]
    xcom_lengths: dict[str, int]
    skip_downstream: list[str]


#: States a branch's skip does not overwrite (Airflow's execution API leaves them alone).
_NOT_SKIPPABLE = frozenset({TI.RUNNING, TI.SUCCESS, TI.FAILED, TI.SKIPPED})

StateCallback = Callable[[TaskInstanceRecord], None]


def _initial_records(task: Any) -> list[TaskInstanceRecord]:
    """A task's instances when the run starts (:func:`~tradewind.sdk.map_indexes.
    initial_map_indexes`: copies made at once when literals alone size them)."""
    return [TaskInstanceRecord(task.task_id, i) for i in initial_map_indexes(task)]


@dataclass(frozen=True)
class DagPlan:
    """What a run machine derives from the DAG alone: topological order, effective priority
    weights, mapped tasks, setup/teardown links, whose decision a state change may alter,
    and the leaves that decide the run's state. The same for every run of a DAG version, so
    the scheduler works it out once per version (:func:`plan_for`), not every pass."""

    order: dict[str, int]
    weights: dict[str, int]
    mapped_ids: frozenset[str]
    #: Tasks inside mapped task groups (each copy judged on its own; see ``mapped_groups``).
    grouped: frozenset[str]
    setup_gate: dict[str, frozenset[str]]
    scope: dict[str, frozenset[str]]
    wakes: dict[str, frozenset[str]]
    leaves: frozenset[str]

    @classmethod
    def of(cls, dag: Any) -> DagPlan:
        tasks = dag.task_dict
        downstream = {tid: t.downstream_task_ids for tid, t in tasks.items()}
        setups = {tid for tid, t in tasks.items() if t.is_setup}
        teardowns = {tid for tid, t in tasks.items() if t.is_teardown}
        setup_gate = indirect_setups(downstream, setups, teardowns)
        scope = teardown_scopes(downstream, setups, teardowns)
        wakes: dict[str, set[str]] = {tid: set(t.downstream_task_ids) for tid, t in tasks.items()}
        for tid, watched in (*setup_gate.items(), *scope.items()):
            for w in watched:
                wakes[w].add(tid)
        ignorable = {
            tid for tid, t in tasks.items() if t.is_teardown and not t.on_failure_fail_dagrun
        }
        return cls(
            order={t.task_id: i for i, t in enumerate(dag.topological_sort())},
            weights=priority_weights(
                downstream,
                {tid: t.priority_weight for tid, t in tasks.items()},
                {tid: t.weight_rule for tid, t in tasks.items()},
            ),
            mapped_ids=frozenset(tid for tid, t in tasks.items() if t.is_mapped),
            grouped=frozenset(tid for tid, t in tasks.items() if in_mapped_group(t)),
            setup_gate=setup_gate,
            scope=scope,
            wakes={tid: frozenset(w) for tid, w in wakes.items()},
            leaves=frozenset(effective_leaves(downstream, ignorable)),
        )


#: Plans of the DAG objects seen last (each entry holds its DAG, so an id is never reused).
_PLANS: OrderedDict[int, tuple[Any, DagPlan]] = OrderedDict()
_PLANS_MAX = 256


def plan_for(dag: Any) -> DagPlan:
    """The :class:`DagPlan` of ``dag``, cached by object: a long-running reader keeps one
    object per immutable DAG version (the scheduler's serialized-DAG cache)."""
    found = _PLANS.get(id(dag))
    if found is not None and found[0] is dag:
        _PLANS.move_to_end(id(dag))
        return found[1]
    plan = DagPlan.of(dag)
    _PLANS[id(dag)] = (dag, plan)
    while len(_PLANS) > _PLANS_MAX:
        _PLANS.popitem(last=False)
    return plan


class RunMachine(MappedGroupRules):
    """The task instances of one run and every decision over them. See the module docstring.

    ``plan`` is the DAG's :class:`DagPlan` when the caller has it cached; ``records`` the
    task instances as stored (any task missing there starts as a new run would).
    """

    def __init__(
        self,
        dag: Any,
        on_state: StateCallback | None = None,
        past: PastRuns | None = None,
        *,
        plan: DagPlan | None = None,
        records: dict[str, list[TaskInstanceRecord]] | None = None,
    ) -> None:
        self.dag = dag
        self.on_state = on_state
        #: The previous run, for ``depends_on_past`` (``None``: not checked, as in dags test).
        self.past = past
        #: Tasks held back by ``depends_on_past`` in the last :meth:`ready`, and why.
        self.waiting_on_past: dict[str, str] = {}
        self.plan = plan = plan or DagPlan.of(dag)
        self.order = plan.order
        self.weights = plan.weights
        self.mapped_ids = plan.mapped_ids
        self.grouped = plan.grouped
        self.setup_gate = plan.setup_gate
        self.scope = plan.scope
        #: Whose decision may change when a task's state does.
        self.wakes = plan.wakes
        given = records or {}
        self.records: dict[str, list[TaskInstanceRecord]] = {
            tid: given[tid] if tid in given else _initial_records(t)
            for tid, t in dag.task_dict.items()
        }
        self.lengths: dict[tuple[str, str], int] = {}
        self.pushed: dict[tuple[str, str], int] = {}
        self.dirty: set[str] = set(dag.task_dict)
        #: Instances whose state the machine changed (a caller that persists them may
        #: clear it after writing).
        self.touched: list[TaskInstanceRecord] = []
        #: Instances that went ``up_for_retry`` (some may have moved on since).
        self._retrying = [
            r for recs in self.records.values() for r in recs if r.state in _WAITING_TO_RUN
        ]

    # -- bookkeeping -------------------------------------------------------------------
    def _set(self, rec: TaskInstanceRecord, state: TI) -> None:
        rec.state = state
        self.touched.append(rec)
        if state in _WAITING_TO_RUN:
            self._retrying.append(rec)
        self.dirty |= self.wakes[rec.task_id]
        if self.on_state:
            self.on_state(rec)

    def _length(self, task_id: str, key: str) -> int | None:
        if task_id in self.mapped_ids:
            if all(r.state in FINISHED_STATES for r in self.records[task_id]):
                return self.pushed.get((task_id, key), 0)
            return None
        return self.lengths.get((task_id, key))

    def _counts(self, task_ids: Iterable[str]) -> UpstreamCounts:
        return UpstreamCounts.from_states(
            (rec.state, self.dag.task_dict[up].is_setup)
            for up in task_ids
            for rec in self.records[up]
        )

    def _unfinished(self, task_ids: Iterable[str]) -> int:
        return sum(
            1 for tid in task_ids for rec in self.records[tid] if rec.state not in FINISHED_STATES
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
        waiting = []
        for rec in self._retrying:
            if rec.state not in _WAITING_TO_RUN:
                continue
            if rec.next_retry_at and rec.next_retry_at <= now:
                rec.state = TI.SCHEDULED
                out.append(rec)
            else:
                waiting.append(rec)
        self._retrying = waiting
        self.touched.extend(out)
        out.sort(key=lambda r: (-self.weights[r.task_id], self.order[r.task_id], r.map_index))
        return out

    def _evaluate(self, task: Any) -> list[TaskInstanceRecord]:
        if task.task_id in self.grouped:
            return self._evaluate_grouped(task)
        pending = [r for r in self.records[task.task_id] if r.state is None]
        if not pending:
            return []
        if task.is_mapped and pending[0].map_index < 0:
            feeding = self._feeding_state(task)
            if feeding is not None:
                self._set(pending[0], feeding)
                return []
        gate = self.setup_gate.get(task.task_id)
        decision = decide_task(
            task.trigger_rule,
            self._counts(task.upstream_task_ids),
            indirect_setups=self._counts(gate) if gate else None,
            scope_unfinished=self._unfinished(self.scope.get(task.task_id, ())),
            map_index=pending[0].map_index,
        )
        if decision is Decision.WAIT:
            return []
        if decision is not Decision.RUN:
            for rec in pending:
                self._set(rec, STATE_FOR[decision])
            return []
        if not self._past_allows(task):
            return []
        if task.is_mapped and pending[0].map_index < 0:
            return self._expand(task, pending[0])
        for rec in pending:
            rec.state = TI.SCHEDULED
        return pending

    def _past_allows(self, task: Any) -> bool:
        """Whether ``depends_on_past`` lets the task run now (noting why not, if not)."""
        if self.past is None:
            return True
        blocker = past_blocker(
            task, self.past, catchup=self.dag.catchup, dag_start_date=self.dag.start_date
        )
        if blocker is not None:
            self.waiting_on_past[task.task_id] = blocker
            return False
        self.waiting_on_past.pop(task.task_id, None)
        return True

    def _feeding_state(self, task: Any) -> TI | None:
        """A failed or skipped upstream that feeds the expansion decides for the task.

        Only an unexpanded feeder counts (as in Airflow): a mapped feeder that expanded is
        fine even when some of its copies failed; the trigger rule judges those.
        """
        states = [
            r.state
            for tid in expansion_dependencies(task)
            for r in self.records[tid]
            if r.map_index < 0
        ]
        if any(s in FAILED_STATES for s in states):
            return TI.UPSTREAM_FAILED
        if any(s is TI.SKIPPED for s in states):
            return TI.SKIPPED
        return None

    def _expand(self, task: Any, placeholder: TaskInstanceRecord) -> list[TaskInstanceRecord]:
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
    def apply(self, rec: TaskInstanceRecord, outcome: TryResult) -> None:
        if rec.state is not TI.RUNNING:
            # Finished while it ran (fail_fast failed it): the late outcome changes nothing.
            rec.end_date = outcome.end_date
            return
        rec.start_date = rec.start_date or outcome.start_date
        rec.end_date = outcome.end_date
        rec.error = outcome.error
        rec.reschedule_date = getattr(outcome, "reschedule_date", None)
        rec.deferral = getattr(outcome, "deferral", None)
        rescheduled = outcome.state is TI.UP_FOR_RESCHEDULE
        rec.next_retry_at = rec.reschedule_date if rescheduled else outcome.next_retry_at
        rec.rendered_map_index = outcome.rendered_map_index
        for key in outcome.pushed_keys:
            self.pushed[(rec.task_id, key)] = self.pushed.get((rec.task_id, key), 0) + 1
        if rec.map_index < 0:
            for key, n in outcome.xcom_lengths.items():
                self.lengths[(rec.task_id, key)] = n
        self._set(rec, outcome.state)
        self._skip_downstream(rec, outcome.skip_downstream)
        if outcome.state is TI.FAILED and self.dag.fail_fast:
            self._stop_remaining(rec.task_id)

    def _stop_remaining(self, failed_task_id: str) -> None:
        """``fail_fast``: every other unfinished task but teardowns stops (Airflow's rule).

        Running ones are marked failed (their thread's outcome is then ignored); all others
        that are not success or failed, even upstream-failed ones, become skipped.
        """
        for recs in self.records.values():
            for other in recs:
                if other.task_id == failed_task_id or other.state in (TI.SUCCESS, TI.FAILED):
                    continue
                if self.dag.task_dict[other.task_id].is_teardown:
                    continue
                if other.state is TI.RUNNING:
                    other.error = "forced to fail by the DAG's fail_fast setting"
                    self._set(other, TI.FAILED)
                elif other.state is not TI.SKIPPED:
                    self._set(other, TI.SKIPPED)

    def _skip_downstream(self, rec: TaskInstanceRecord, task_ids: Iterable[str]) -> None:
        """Apply a branch / short-circuit's skips, as Airflow 3.3 does.

        Airflow skips the *unexpanded* instance of each named task at once, and later skips
        every instance of a named *direct* downstream task when it is about to be scheduled
        (its ``NotPreviouslySkippedDep``), which catches copies expanded from literals at run
        start. Instances already running or finished are left alone. A *mapped* branching
        copy skips nothing: Airflow records its choice in XCom but its scheduler does not act
        on it for mapped parents.
        """
        if rec.map_index >= 0:
            return
        direct = self.dag.task_dict[rec.task_id].downstream_task_ids
        for tid in task_ids:
            for other in self.records.get(tid, []):
                if other.state in _NOT_SKIPPABLE:
                    continue
                if other.map_index < 0 or tid in direct:
                    self._set(other, TI.SKIPPED)

    def skip_unfinished(self) -> None:
        for recs in self.records.values():
            for rec in recs:
                if rec.state in (None, TI.SCHEDULED, *_WAITING_TO_RUN):
                    self._set(rec, TI.SKIPPED)

    def next_retry(self) -> datetime | None:
        times = [r.next_retry_at for r in self._retrying if r.state in _WAITING_TO_RUN]
        return min((t for t in times if t), default=None)

    def final_state(self) -> DagRunState:
        states = {tid: [r.state for r in recs] for tid, recs in self.records.items()}
        return decide_run_state(states, set(self.plan.leaves), can_progress=False)

    def all_records(self) -> list[TaskInstanceRecord]:
        return [
            r for tid in sorted(self.records, key=self.order.__getitem__) for r in self.records[tid]
        ]
