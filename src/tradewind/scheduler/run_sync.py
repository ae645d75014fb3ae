"""One scheduling pass over one DAG run: database rows in, decisions out, changes written.

Loads the run's task instances into a :class:`~tradewind.scheduler.run_machine.RunMachine`,
applies the outcomes of finished tries, lets the machine decide (trigger rules, skips,
expansion of mapped tasks, retries coming due), and writes back only what changed, each as
a compare-and-set. Finally the run's own state follows from its task instances. The same
machine runs ``dags test``, so both paths decide alike.

A long-running scheduler keeps each running run's machine between passes as a
:class:`RunSnapshot`, so a pass over a run of 1,000 task instances that has two new outcomes
does not read 1,000 rows again. The database stays the source of truth: a snapshot is used
only while the run's task instances in the database still agree with it (:meth:`RunSnapshot.
matches`: per state, how many, and the sums of their try numbers and map indexes), it is
dropped the moment a compare-and-set written from it fails, and the scheduler reloads every
run from scratch on its periodic sweep.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from tradewind.db.models import BackfillDagRun, DagRun, TaskInstance, TaskMap, TaskReschedule
from tradewind.db.queries import taskinstances as ti_queries
from tradewind.db.queries import triggers
from tradewind.db.queries import xcom as xcom_queries
from tradewind.db.types import new_uuid7
from tradewind.executors.workload import RESCHEDULE_METHOD
from tradewind.scheduler.past_deps import PastRuns, PreviousRun, depends_on_past, needed_task_ids
from tradewind.scheduler.run_machine import RunMachine, TaskInstanceRecord, TryResult, plan_for
from tradewind.states import FINISHED_STATES, DagRunState
from tradewind.states import TaskInstanceState as TI

#: States in which a task instance still moves without the scheduler deciding anything new.
_IN_FLIGHT = frozenset(
    {TI.SCHEDULED, TI.QUEUED, TI.RUNNING, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE, TI.DEFERRED}
)

Key = tuple[str, int]
#: What a task instance row holds, as far as a pass cares: state and try number.
Stored = tuple[TI | None, int]
#: Per state: how many task instances, and the sums of their try numbers and map indexes.
Fingerprint = dict[str | None, tuple[int, int, int]]


@dataclass
class RunPass:
    """What one pass did. ``snapshot`` is the run as this pass left it, to hand to the
    next pass; ``None`` when it may not be trusted (a compare-and-set failed) or the run
    ended."""

    run_state: DagRunState
    changed: int = 0
    newly_scheduled: list[str] = field(default_factory=list)
    snapshot: RunSnapshot | None = None
    #: The earliest time an ``up_for_retry`` task instance of the run comes due.
    next_retry: datetime | None = None
    #: Some task waits for the previous run (``depends_on_past``): look again next pass.
    waiting_on_past: bool = False


def _state(value: str | None) -> TI | None:
    return TI(value) if value is not None else None


#: What a pass reads of each task instance.
_COLUMNS = (
    TaskInstance.id,
    TaskInstance.task_id,
    TaskInstance.map_index,
    TaskInstance.state,
    TaskInstance.try_number,
    TaskInstance.start_date,
    TaskInstance.end_date,
    TaskInstance.next_retry_at,
    TaskInstance.rendered_map_index,
)


class RunSnapshot:
    """A run's machine, the ids of its task instance rows and what each row holds (state,
    try number), as a pass left them; its fingerprint is kept up to date as rows change."""

    def __init__(
        self, dag: Any, machine: RunMachine, ids: dict[Key, str], stored: dict[Key, Stored]
    ) -> None:
        self.dag = dag
        self.machine = machine
        self.ids = ids
        self.keys = {ti_id: key for key, ti_id in ids.items()}
        self.stored: dict[Key, Stored] = {}
        self._fingerprint: dict[str | None, list[int]] = {}
        for key, value in stored.items():
            self.store(key, *value)

    @classmethod
    def load(cls, session: Session, dag_id: str, run_id: str, dag: Any) -> RunSnapshot:
        """Read the run's task instances (one lean query) into a fresh machine."""
        records: dict[str, list[TaskInstanceRecord]] = {}
        ids: dict[Key, str] = {}
        stored: dict[Key, Stored] = {}
        rows = session.execute(
            select(*_COLUMNS).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        for ti_id, task_id, map_index, state, try_number, start, end, retry_at, rendered in rows:
            ids[(task_id, map_index)] = ti_id
            stored[(task_id, map_index)] = (_state(state), try_number)
            records.setdefault(task_id, []).append(
                TaskInstanceRecord(
                    task_id=task_id,
                    map_index=map_index,
                    state=_state(state),
                    try_number=try_number,
                    start_date=start,
                    end_date=end,
                    next_retry_at=retry_at,
                    rendered_map_index=rendered,
                    # Waiting to poke again: it runs again in the same try.
                    reschedule_date=retry_at if state == TI.UP_FOR_RESCHEDULE.value else None,
                )
            )
        for recs in records.values():
            recs.sort(key=lambda r: r.map_index)
        machine = RunMachine(dag, plan=plan_for(dag), records=records)
        lengths = session.execute(
            select(TaskMap.task_id, TaskMap.key, TaskMap.length).where(
                TaskMap.dag_id == dag_id, TaskMap.run_id == run_id, TaskMap.map_index == -1
            )
        ).all()
        machine.lengths = {(t, k): int(n) for t, k, n in lengths}
        return cls(dag, machine, ids, stored)

    def record(self, ti_id: str) -> TaskInstanceRecord | None:
        key = self.keys.get(ti_id)
        if key is None:
            return None
        task_id, map_index = key
        recs = self.machine.records.get(task_id, [])
        if 0 <= map_index < len(recs) and recs[map_index].map_index == map_index:
            return recs[map_index]
        return next((r for r in recs if r.map_index == map_index), None)

    def store(self, key: Key, state: TI | None, try_number: int) -> None:
        """Note what the row of ``key`` holds now."""
        self._unstore(key)
        self.stored[key] = (state, try_number)
        acc = self._fingerprint.setdefault(_bucket(state.value if state else None), [0, 0, 0])
        acc[0] += 1
        acc[1] += try_number
        acc[2] += key[1]

    def _unstore(self, key: Key) -> None:
        old = self.stored.pop(key, None)
        if old is not None:
            acc = self._fingerprint[_bucket(old[0].value if old[0] else None)]
            acc[0] -= 1
            acc[1] -= old[1]
            acc[2] -= key[1]

    def move(self, old: Key, new: Key) -> None:
        """The row of ``old`` now has the key ``new`` (a mapped task's row took index 0)."""
        ti_id, (state, try_number) = self.ids.pop(old), self.stored[old]
        self._unstore(old)
        self.ids[new] = ti_id
        self.keys[ti_id] = new
        self.store(new, state, try_number)

    def add(self, key: Key, ti_id: str, state: TI | None) -> None:
        self.ids[key] = ti_id
        self.keys[ti_id] = key
        self.store(key, state, 0)

    def fingerprint(self) -> Fingerprint:
        return {state: (n, t, i) for state, (n, t, i) in self._fingerprint.items() if n}

    def matches(self, session: Session, dag_id: str, run_id: str) -> bool:
        """Whether the run's task instances in the database still look as this snapshot."""
        return run_fingerprint(session, dag_id, run_id) == self.fingerprint()

    def complete(self) -> bool:
        """Whether every instance the machine knows has a row."""
        return len(self.ids) == sum(len(recs) for recs in self.machine.records.values())

    # What the loop itself changed between passes (a try queued, a try started).
    def queued(self, ti_id: str, try_number: int) -> bool:
        rec = self.record(ti_id)
        # A deferred instance that was queued had been scheduled by the triggerer (or
        # the deferral timed out): the machine's decisions do not depend on which.
        if rec is None or rec.state not in (TI.SCHEDULED, TI.DEFERRED):
            return False
        # A try resuming after a deferral keeps its start, as in Airflow (its duration
        # covers the wait); a new try, or a sensor's next poke, starts afresh.
        resumed = try_number == rec.try_number and rec.reschedule_date is None
        rec.state, rec.try_number = TI.QUEUED, try_number
        rec.end_date = rec.next_retry_at = None
        if not resumed:
            rec.start_date = None
        self.store((rec.task_id, rec.map_index), TI.QUEUED, try_number)
        return True

    def started(self, ti_id: str, try_number: int, start_date: datetime) -> bool:
        rec = self.record(ti_id)
        if rec is None or rec.state is not TI.QUEUED or rec.try_number != try_number:
            return False
        rec.state, rec.start_date = TI.RUNNING, rec.start_date or start_date
        self.store((rec.task_id, rec.map_index), TI.RUNNING, try_number)
        return True


_FINGERPRINT = (
    select(
        TaskInstance.state,
        func.count(),
        func.sum(TaskInstance.try_number),
        func.sum(TaskInstance.map_index),
    )
    .where(TaskInstance.dag_id == bindparam("dag_id"), TaskInstance.run_id == bindparam("run_id"))
    .group_by(TaskInstance.state)
)


def run_fingerprint(session: Session, dag_id: str, run_id: str) -> Fingerprint:
    """Per state: how many of the run's task instances, their try numbers' and map
    indexes' sums (one aggregate over the run's rows in the ``dag_id, run_id, state`` index)."""
    rows = session.connection().execute(_FINGERPRINT, {"dag_id": dag_id, "run_id": run_id})
    found: dict[str | None, tuple[int, int, int]] = {}
    for state, n, tries, idx in rows:
        seen = found.get(_bucket(state), (0, 0, 0))
        found[_bucket(state)] = (
            seen[0] + int(n),
            seen[1] + int(tries or 0),
            seen[2] + int(idx or 0),
        )
    return found


def _bucket(state: str | None) -> str | None:
    """The state a run's check counts an instance under: ``deferred`` counts as
    ``scheduled``, so the triggerer moving an instance back to ``scheduled`` (which
    changes no decision the run machine makes) does not make the scheduler read the
    whole run again."""
    return TI.SCHEDULED.value if state == TI.DEFERRED.value else state


def _record_lengths(
    session: Session, run: DagRun, rec: TaskInstanceRecord, outcome: TryResult
) -> None:
    if rec.map_index >= 0:
        return
    for key, length in outcome.xcom_lengths.items():
        existing = session.get(TaskMap, (run.dag_id, run.run_id, rec.task_id, -1, key))
        if existing is None:
            session.add(
                TaskMap(
                    dag_id=run.dag_id,
                    run_id=run.run_id,
                    task_id=rec.task_id,
                    map_index=-1,
                    key=key,
                    length=length,
                )
            )
        else:
            existing.length = length


def _pushed_needed(machine: RunMachine) -> bool:
    """Whether a mapped task has finished, so what it pushed may size an expansion."""
    return any(
        all(r.state in FINISHED_STATES for r in reversed(machine.records[tid]))
        for tid in machine.mapped_ids
    )


def schedule_run(
    session: Session,
    run: DagRun,
    dag: Any,
    outcomes: Iterable[tuple[str, TryResult]] = (),
    now: datetime | None = None,
    past: PastRuns | None = None,
    snapshot: RunSnapshot | None = None,
) -> RunPass:
    """Apply ``outcomes`` (``(ti_id, result)``) and make every decision now due for ``run``.

    ``past`` is what ``depends_on_past`` needs from earlier runs; it is loaded here when
    not given and a task of ``dag`` depends on the past. ``snapshot`` is the run as the
    previous pass left it, which the caller checked still :meth:`~RunSnapshot.matches` the
    database; without one the run's task instances are read. An outcome that names a
    ``try_number`` other than the task instance's current try is a stale report: ignored.
    """
    now = now or datetime.now(UTC)
    snap = snapshot or RunSnapshot.load(session, run.dag_id, run.run_id, dag)
    machine = snap.machine
    machine.touched = []
    machine.past = past if past is not None else load_past_runs(session, run, dag)
    if machine.waiting_on_past:
        # Held back by the previous run last time: judge them again.
        machine.dirty |= set(machine.waiting_on_past)
        machine.waiting_on_past = {}
    result = RunPass(run_state=DagRunState(run.state))

    # Every try with an outcome here was running; mark them all so before applying any
    # outcome, so one's skips do not overwrite another that already ran (as in Airflow).
    applied: list[tuple[TaskInstanceRecord, TryResult]] = []
    for ti_id, outcome in outcomes:
        rec = snap.record(ti_id)
        if rec is None:
            continue
        if getattr(outcome, "try_number", None) not in (None, rec.try_number):
            continue
        if rec.state is TI.QUEUED:
            rec.state = TI.RUNNING
        applied.append((rec, outcome))
    for rec, outcome in applied:
        machine.apply(rec, outcome)
        _record_lengths(session, run, rec, outcome)
    if _pushed_needed(machine):
        # Counted from the stored XCom, which already holds what these tries pushed.
        machine.pushed = xcom_queries.pushed_counts(
            session, run.dag_id, run.run_id, set(machine.mapped_ids)
        )

    scheduled = machine.ready()
    changes = {(r.task_id, r.map_index): r for r, _ in applied}
    changes.update(((r.task_id, r.map_index), r) for r in machine.touched)
    ran = {(rec.task_id, rec.map_index): _running_values(rec, o) for rec, o in applied}
    changed, consistent = _write_changes(session, snap, list(changes.values()), now, ran)
    machine.touched = []
    result.changed += changed
    result.newly_scheduled = [f"{r.task_id}[{r.map_index}]" for r in scheduled]
    result.waiting_on_past = bool(machine.waiting_on_past)

    if consistent and snap.complete():
        states = {_state(value) for value in snap.fingerprint()}
    else:
        states = {rec.state for recs in machine.records.values() for rec in recs}
    if states <= FINISHED_STATES:
        final = machine.final_state()
        _finish_run(session, run, final, now)
        result.run_state = final
    elif not states & _IN_FLIGHT and not _may_wait_on_past(machine):
        # Unfinished work that nothing can move any more: a deadlock, as Airflow calls it.
        _finish_run(session, run, DagRunState.FAILED, now)
        result.run_state = DagRunState.FAILED
    else:
        result.next_retry = machine.next_retry()
        result.snapshot = snap if consistent else None
    return result


def _write_changes(
    session: Session,
    snap: RunSnapshot,
    changes: list[TaskInstanceRecord],
    now: datetime,
    ran: dict[Key, dict[str, Any]],
) -> tuple[int, bool]:
    """Write what the machine changed; ``(state changes written, every compare-and-set
    held)``. ``ran`` has the instances whose try ended, each with what its ``running``
    step records (the try's process and host, when the loop had not marked it running)."""
    changed, consistent = 0, True
    new_rows: list[dict[str, Any]] = []
    batch: list[ti_queries.Move] = []
    reschedules: list[dict[str, Any]] = []
    started_deferred: dict[Key, int] = {}
    started_recs: list[TaskInstanceRecord] = []
    new_triggers: list[tuple[tuple[str, str], dict[str, Any]]] = []
    expanded = {r.task_id for r in changes if r.map_index >= 0 and (r.task_id, -1) in snap.ids}
    for tid in sorted(expanded):
        # A mapped task expanded: its unexpanded row becomes map index 0 (as in Airflow),
        # and a new row is added for every other index.
        placeholder = snap.ids[(tid, -1)]
        session.execute(
            update(TaskInstance.__table__)  # type: ignore[arg-type]
            .where(TaskInstance.id == placeholder, TaskInstance.map_index == -1)
            .values(map_index=0, updated_at=now)
        )
        snap.move((tid, -1), (tid, 0))
        template = _template(session, placeholder)
        for rec in snap.machine.records[tid][1:]:
            row = _copy_for_index(template, rec, now)
            new_rows.append(row)
            snap.add((tid, rec.map_index), row["id"], rec.state)
            changed += 1
    for rec in changes:
        key = (rec.task_id, rec.map_index)
        ti_id = snap.ids.get(key)
        if ti_id is None:
            continue
        old_state, try_number = snap.stored[key]
        if rec.state == old_state or rec.state is None:
            continue
        # The states the row passes through: a try that ran was running first, and a
        # retry already due goes through up_for_retry to scheduled. One compare-and-set
        # writes them, but a try going up_for_retry is archived before the next replaces it.
        segments: list[list[TI]] = [[]]
        if key in ran and old_state is TI.QUEUED:
            segments[-1].append(TI.RUNNING)
        if key in ran and rec.state is TI.SCHEDULED and rec.reschedule_date is not None:
            segments[-1].append(TI.UP_FOR_RESCHEDULE)  # its next poke is due already
        elif key in ran and rec.state is TI.SCHEDULED:
            segments[-1].append(TI.UP_FOR_RETRY)
            segments.append([])
        segments[-1].append(rec.state)
        if key in ran and TI.UP_FOR_RESCHEDULE in segments[-1]:
            reschedules.append(_reschedule_row(ti_id, try_number, rec, now))
        deferral_values: dict[str, Any] = {}
        trigger: tuple[str, str] | None = None  # (classpath, kwargs) of a trigger to make
        if key in ran and rec.state is TI.DEFERRED and rec.deferral is not None:
            deferral_values, trigger = _deferral_values(rec.deferral)
        start_trigger = _start_trigger(snap.dag, rec)
        if start_trigger is not None:
            # start_from_trigger: the new try begins waiting in the triggerer, no worker.
            segments[-1].append(TI.DEFERRED)
            deferral_values, trigger = _start_deferral_values(start_trigger, try_number, now)
            started_deferred[key] = try_number + 1
            started_recs.append(rec)
        if len(segments) == 1 and rec.state is not TI.UP_FOR_RETRY:
            # The common case, written with the others of its shape in one statement below
            # (a try going up_for_retry is archived after its own write, so not batched).
            steps = segments[0]
            columns: dict[str, Any] = {}
            for step in steps:
                columns.update(ran.get(key, {}) if step is TI.RUNNING else {})
                columns.update(_values_for(step, rec, now))
            columns.update(deferral_values)
            if trigger is not None:
                # Its id is filled in when the pass's triggers are made, all at once.
                columns["trigger_id"] = None
                new_triggers.append((trigger, columns))
            with_try = TI.RUNNING in (old_state, *steps[:-1])
            batch.append(
                (ti_id, old_state, steps[-1], steps[:-1], try_number if with_try else None, columns)
            )
            continue
        if trigger is not None:
            deferral_values["trigger_id"] = triggers.create(session, *trigger, now)
        current = old_state
        for number, steps in enumerate(segments, 1):
            values: dict[str, Any] = {}
            for step in steps:
                values.update(ran.get(key, {}) if step is TI.RUNNING else {})
                values.update(_values_for(step, rec, now))
            if number == len(segments):
                values.update(deferral_values)  # the deferral is where the changes end
            if not ti_queries.transition(
                session,
                ti_id,
                expected=current,
                new=steps[-1],
                via=steps[:-1],
                try_number=try_number if TI.RUNNING in (current, *steps[:-1]) else None,
                values=values,
            ):
                consistent = False
                break
            changed += len(steps)
            current = steps[-1]
            snap.store(key, current, started_deferred.get(key, try_number))
            if current is TI.UP_FOR_RETRY:
                ti_queries.archive_try(session, ti_id)
    if new_triggers:
        ids = triggers.create_many(session, [definition for definition, _ in new_triggers], now)
        for trigger_id, (_, columns) in zip(ids, new_triggers, strict=True):
            columns["trigger_id"] = trigger_id
    if batch:
        if ti_queries.transition_all(session, batch):
            for ti_id, _, state, via, _, _ in batch:
                key = snap.keys[ti_id]
                snap.store(key, state, started_deferred.get(key, snap.stored[key][1]))
                changed += len(via) + 1
        else:
            consistent = False
    for rec in started_recs:
        rec.state, rec.start_date = TI.DEFERRED, now
        rec.try_number = started_deferred[(rec.task_id, rec.map_index)]
    if new_rows:
        session.execute(insert(TaskInstance.__table__), new_rows)  # type: ignore[arg-type]
    if reschedules and consistent:
        session.execute(insert(TaskReschedule.__table__), reschedules)  # type: ignore[arg-type]
    return changed, consistent


def _deferral_values(deferral: Any) -> tuple[dict[str, Any], tuple[str, str]]:
    """What the task instance of a deferred try records (but the trigger's id), and the
    ``(classpath, kwargs)`` of the trigger it waits for."""
    values = {
        "trigger_timeout": deferral.timeout_at,
        "next_method": deferral.next_method,
        "next_kwargs": deferral.next_kwargs,
    }
    return values, (deferral.trigger_classpath, deferral.trigger_kwargs)


def _start_trigger(dag: Any, rec: TaskInstanceRecord) -> dict[str, Any] | None:
    """The stored start trigger of a task instance about to be scheduled for a new try
    (``start_from_trigger``); ``None`` for every other change."""
    if rec.state is not TI.SCHEDULED or rec.reschedule_date is not None:
        return None
    task = dag.task_dict.get(rec.task_id)
    start: dict[str, Any] | None = getattr(task, "start_trigger", None)
    return start


def _start_deferral_values(
    start: dict[str, Any], try_number: int, now: datetime
) -> tuple[dict[str, Any], tuple[str, str]]:
    """What the task instance of a task with ``start_from_trigger`` records as it begins
    a try waiting (counted as started now), but the trigger's id; and the trigger's
    ``(classpath, kwargs)``."""
    timeout = start.get("timeout")
    values = {
        "trigger_timeout": now + timedelta(seconds=timeout) if timeout is not None else None,
        "next_method": start["next_method"],
        "next_kwargs": start["next_kwargs"],
        "try_number": try_number + 1,
        "start_date": now,
        "end_date": None,
        "duration": None,
    }
    return values, (start["trigger_cls"], start["trigger_kwargs"])


def _reschedule_row(
    ti_id: str, try_number: int, rec: TaskInstanceRecord, now: datetime
) -> dict[str, Any]:
    """The ``task_reschedule`` row of a poke that ended ``up_for_reschedule``."""
    start, end = rec.start_date or now, rec.end_date or now
    return {
        "ti_id": ti_id,
        "try_number": try_number,
        "start_date": start,
        "end_date": end,
        "duration": (end - start).total_seconds(),
        "reschedule_date": rec.reschedule_date or now,
    }


def _running_values(rec: TaskInstanceRecord, outcome: TryResult) -> dict[str, Any]:
    """What a try's ``running`` step records, written with its outcome when the try's
    start was not recorded on its own."""
    values = {
        "pid": getattr(outcome, "pid", None),
        "hostname": getattr(outcome, "hostname", None),
        "last_heartbeat_at": rec.start_date,
    }
    return {name: value for name, value in values.items() if value is not None}


def _values_for(step: TI, rec: TaskInstanceRecord, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if step is TI.SCHEDULED:
        values["scheduled_dttm"] = now
        if rec.reschedule_date is not None:
            # The next poke of the same try: queueing keeps its try number.
            values["next_method"] = RESCHEDULE_METHOD
    if step in FINISHED_STATES or step in (TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE):
        end = rec.end_date or now
        values["end_date"] = end
        if rec.start_date is not None:
            values["start_date"] = rec.start_date
            values["duration"] = (end - rec.start_date).total_seconds()
        # The try ended: nothing is left to resume.
        values["next_method"] = None
        values["next_kwargs"] = None
    if step is TI.DEFERRED and rec.start_date is not None:
        # Its start may not be written yet (a try that started and deferred between two
        # passes): the task's start, kept while it waits and when it resumes.
        values["start_date"] = rec.start_date
    if step in (TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE):
        values["next_retry_at"] = rec.next_retry_at
    if rec.rendered_map_index is not None and step is not TI.SCHEDULED:
        values["rendered_map_index"] = rec.rendered_map_index
    return values


#: Columns a new map index copies from its task's unexpanded row.
_TEMPLATE = (
    "dag_id",
    "run_id",
    "task_id",
    "max_tries",
    "pool",
    "pool_slots",
    "queue",
    "priority_weight",
    "operator",
    "custom_operator_name",
    "task_display_name",
    "dag_version_id",
)


def _template(session: Session, ti_id: str) -> dict[str, Any]:
    columns = [getattr(TaskInstance, name) for name in _TEMPLATE]
    row = session.execute(select(*columns).where(TaskInstance.id == ti_id)).one()
    return dict(zip(_TEMPLATE, row, strict=True))


def _copy_for_index(
    template: dict[str, Any], rec: TaskInstanceRecord, now: datetime
) -> dict[str, Any]:
    """A new row for map index ``rec.map_index`` of an expanding task."""
    return {
        **template,
        "id": new_uuid7(),
        "map_index": rec.map_index,
        "try_number": 0,
        "state": rec.state.value if rec.state else None,
        "scheduled_dttm": now if rec.state is TI.SCHEDULED else None,
        "updated_at": now,
    }


def _finish_run(session: Session, run: DagRun, state: DagRunState, now: datetime) -> None:
    session.execute(
        update(DagRun)
        .where(DagRun.id == run.id, DagRun.state == DagRunState.RUNNING.value)
        .values(state=state.value, end_date=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    run.state = state.value
    run.end_date = now


# -- depends_on_past -------------------------------------------------------------------------


def _may_wait_on_past(machine: RunMachine) -> bool:
    """As Airflow: a run with an unfinished ``depends_on_past`` task is never deadlocked
    (the previous run may still let it go)."""
    tasks = machine.dag.task_dict
    return any(
        depends_on_past(tasks[tid]) and any(r.state not in FINISHED_STATES for r in recs)
        for tid, recs in machine.records.items()
    )


def load_past_runs(session: Session, run: DagRun, dag: Any) -> PastRuns | None:
    """What ``depends_on_past`` needs from the runs before ``run`` (see
    :mod:`~tradewind.scheduler.past_deps`); ``None`` when no task of ``dag`` needs it."""
    tasks = [t for t in dag.task_dict.values() if depends_on_past(t)]
    if not tasks:
        return None
    if run.logical_date is None:
        return PastRuns()
    if run.backfill_id is not None:
        ordinal = session.scalar(
            select(BackfillDagRun.sort_ordinal).where(
                BackfillDagRun.backfill_id == run.backfill_id, BackfillDagRun.dag_run_id == run.id
            )
        )
        if ordinal == 1:
            return PastRuns(first_in_backfill=True)
    earlier = (DagRun.dag_id == run.dag_id) & (DagRun.logical_date < run.logical_date)
    query = select(DagRun.run_id, DagRun.logical_date).where(earlier)
    if dag.catchup:
        query = query.where(DagRun.run_type != "manual")
    previous = session.execute(query.order_by(DagRun.logical_date.desc()).limit(1)).first()
    if previous is None:
        return PastRuns()
    states: dict[str, list[TI | None]] = {}
    for task_id, state in session.execute(
        select(TaskInstance.task_id, TaskInstance.state).where(
            TaskInstance.dag_id == run.dag_id,
            TaskInstance.run_id == previous.run_id,
            TaskInstance.task_id.in_(sorted(needed_task_ids(tasks))),
        )
    ):
        states.setdefault(task_id, []).append(_state(state))
    missing = [t.task_id for t in tasks if t.task_id not in states]
    ran_before: set[str] = set()
    if missing:
        ran_before = set(
            session.scalars(
                select(TaskInstance.task_id)
                .distinct()
                .join(
                    DagRun,
                    (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id),
                )
                .where(earlier, TaskInstance.task_id.in_(missing))
            )
        )
    return PastRuns(
        previous=PreviousRun(previous.logical_date, {k: tuple(v) for k, v in states.items()}),
        ran_before=frozenset(ran_before),
    )
