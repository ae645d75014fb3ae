"""One scheduling pass over one DAG run: database rows in, decisions out, changes written.

Loads the run's task instances into a :class:`~tradewind.scheduler.run_machine.RunMachine`,
applies the outcomes of finished tries, lets the machine decide (trigger rules, skips,
expansion of mapped tasks, retries coming due), and writes back only what changed, each as
a compare-and-set. Finally the run's own state follows from its task instances. The same
machine runs ``dags test``, so both paths decide alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tradewind.db.models import DagRun, TaskInstance, TaskMap
from tradewind.db.queries import taskinstances as ti_queries
from tradewind.db.queries import xcom as xcom_queries
from tradewind.db.queries.dagruns import task_instances_of
from tradewind.scheduler.run_machine import RunMachine, TaskInstanceRecord, TryResult
from tradewind.states import FINISHED_STATES, DagRunState
from tradewind.states import TaskInstanceState as TI

#: States in which a task instance still moves without the scheduler deciding anything new.
_IN_FLIGHT = frozenset(
    {TI.SCHEDULED, TI.QUEUED, TI.RUNNING, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE, TI.DEFERRED}
)


@dataclass
class RunPass:
    """What one pass did."""

    run_state: DagRunState
    changed: int = 0
    newly_scheduled: list[str] = field(default_factory=list)


def _state(value: str | None) -> TI | None:
    return TI(value) if value is not None else None


def _records(rows: Sequence[TaskInstance]) -> dict[str, list[TaskInstanceRecord]]:
    out: dict[str, list[TaskInstanceRecord]] = {}
    for row in rows:
        out.setdefault(row.task_id, []).append(
            TaskInstanceRecord(
                task_id=row.task_id,
                map_index=row.map_index,
                state=_state(row.state),
                try_number=row.try_number,
                start_date=row.start_date,
                end_date=row.end_date,
                next_retry_at=row.next_retry_at,
                rendered_map_index=row.rendered_map_index,
            )
        )
    for recs in out.values():
        recs.sort(key=lambda r: r.map_index)
    return out


def _load_machine(
    session: Session, run: DagRun, dag: Any, rows: Sequence[TaskInstance]
) -> RunMachine:
    machine = RunMachine(dag)
    loaded = _records(rows)
    for tid in dag.task_dict:
        machine.records[tid] = loaded.get(tid, machine.records[tid])
    lengths = session.execute(
        select(TaskMap.task_id, TaskMap.key, TaskMap.length).where(
            TaskMap.dag_id == run.dag_id, TaskMap.run_id == run.run_id, TaskMap.map_index == -1
        )
    ).all()
    machine.lengths = {(t, k): int(n) for t, k, n in lengths}
    return machine


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


def schedule_run(
    session: Session,
    run: DagRun,
    dag: Any,
    outcomes: Iterable[tuple[str, TryResult]] = (),
    now: datetime | None = None,
) -> RunPass:
    """Apply ``outcomes`` (``(ti_id, result)``) and make every decision now due for ``run``."""
    now = now or datetime.now(UTC)
    rows = task_instances_of(session, run.dag_id, run.run_id)
    by_id = {row.id: row for row in rows}
    machine = _load_machine(session, run, dag, rows)
    before = {
        (rec.task_id, rec.map_index): (rec.state, rec.try_number)
        for recs in machine.records.values()
        for rec in recs
    }
    row_by_key = {(row.task_id, row.map_index): row for row in rows}
    result = RunPass(run_state=DagRunState(run.state))

    # Every try with an outcome here was running; mark them all so before applying any
    # outcome, so one's skips do not overwrite another that already ran (as in Airflow).
    applied: list[tuple[TaskInstanceRecord, TryResult]] = []
    for ti_id, outcome in outcomes:
        row = by_id.get(ti_id)
        if row is None:
            continue
        rec = next((r for r in machine.records[row.task_id] if r.map_index == row.map_index), None)
        if rec is None or rec.try_number != row.try_number:
            continue
        if rec.state is TI.QUEUED:
            rec.state = TI.RUNNING
        applied.append((rec, outcome))
    for rec, outcome in applied:
        machine.apply(rec, outcome)
        _record_lengths(session, run, rec, outcome)
    # Counted from the stored XCom, which already holds what these tries pushed.
    machine.pushed = xcom_queries.pushed_counts(
        session, run.dag_id, run.run_id, set(machine.mapped_ids)
    )

    scheduled = machine.ready()
    ran = {(rec.task_id, rec.map_index) for rec, _ in applied}
    result.changed += _write_changes(session, run, machine, before, row_by_key, now, ran)
    result.newly_scheduled = [f"{r.task_id}[{r.map_index}]" for r in scheduled]

    states = [rec.state for recs in machine.records.values() for rec in recs]
    if all(s in FINISHED_STATES for s in states):
        final = machine.final_state()
        _finish_run(session, run, final, now)
        result.run_state = final
    elif not any(s in _IN_FLIGHT for s in states):
        # Unfinished work that nothing can move any more: a deadlock, as Airflow calls it.
        _finish_run(session, run, DagRunState.FAILED, now)
        result.run_state = DagRunState.FAILED
    return result


def _write_changes(
    session: Session,
    run: DagRun,
    machine: RunMachine,
    before: dict[tuple[str, int], tuple[TI | None, int]],
    row_by_key: dict[tuple[str, int], TaskInstance],
    now: datetime,
    ran: set[tuple[str, int]],
) -> int:
    changed = 0
    for tid, recs in machine.records.items():
        keys = {(tid, r.map_index) for r in recs}
        placeholder = row_by_key.get((tid, -1))
        if placeholder is not None and (tid, -1) not in keys and (tid, 0) in keys:
            # A mapped task expanded: its unexpanded row becomes map index 0 (as in Airflow).
            session.execute(
                update(TaskInstance)
                .where(TaskInstance.id == placeholder.id, TaskInstance.map_index == -1)
                .values(map_index=0, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            row_by_key[(tid, 0)] = placeholder
            before[(tid, 0)] = before.pop((tid, -1))
        for rec in recs:
            key = (tid, rec.map_index)
            row = row_by_key.get(key)
            if row is None:
                session.add(_copy_for_index(placeholder, rec, now))
                changed += 1
                continue
            old_state, _ = before[key]
            if rec.state == old_state or rec.state is None:
                continue
            # The states the row passes through: a try that ran was running first, and a
            # retry already due goes through up_for_retry to scheduled.
            steps: list[TI] = []
            if key in ran and old_state is TI.QUEUED:
                steps.append(TI.RUNNING)
            if key in ran and rec.state is TI.SCHEDULED:
                steps.append(TI.UP_FOR_RETRY)
            steps.append(rec.state)
            current = old_state
            for step in steps:
                if not ti_queries.transition(
                    session,
                    row.id,
                    expected=current,
                    new=step,
                    try_number=row.try_number if current is TI.RUNNING else None,
                    values=_values_for(step, rec, now),
                ):
                    break
                changed += 1
                if step is TI.UP_FOR_RETRY:
                    # Keep the failed try (state, times) before the next one replaces it.
                    ti_queries.archive_try(session, row.id)
                current = step
    return changed


def _values_for(step: TI, rec: TaskInstanceRecord, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if step is TI.SCHEDULED:
        values["scheduled_dttm"] = now
    if step in FINISHED_STATES or step is TI.UP_FOR_RETRY:
        end = rec.end_date or now
        values["end_date"] = end
        if rec.start_date is not None:
            values["start_date"] = rec.start_date
            values["duration"] = (end - rec.start_date).total_seconds()
    if step is TI.UP_FOR_RETRY:
        values["next_retry_at"] = rec.next_retry_at
    if rec.rendered_map_index is not None and step is not TI.SCHEDULED:
        values["rendered_map_index"] = rec.rendered_map_index
    return values


def _copy_for_index(
    template: TaskInstance | None, rec: TaskInstanceRecord, now: datetime
) -> TaskInstance:
    assert template is not None, "a new map index needs the task's unexpanded row"
    return TaskInstance(
        dag_id=template.dag_id,
        run_id=template.run_id,
        task_id=template.task_id,
        map_index=rec.map_index,
        try_number=0,
        max_tries=template.max_tries,
        state=rec.state.value if rec.state else None,
        scheduled_dttm=now if rec.state is TI.SCHEDULED else None,
        pool=template.pool,
        pool_slots=template.pool_slots,
        queue=template.queue,
        priority_weight=template.priority_weight,
        operator=template.operator,
        custom_operator_name=template.custom_operator_name,
        task_display_name=template.task_display_name,
        dag_version_id=template.dag_version_id,
        updated_at=now,
    )


def _finish_run(session: Session, run: DagRun, state: DagRunState, now: datetime) -> None:
    session.execute(
        update(DagRun)
        .where(DagRun.id == run.id, DagRun.state == DagRunState.RUNNING.value)
        .values(state=state.value, end_date=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    run.state = state.value
    run.end_date = now
