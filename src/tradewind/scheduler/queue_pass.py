"""Queueing: the scheduler loop's part that hands ready task instances to the executor.

A mixin of :class:`~tradewind.scheduler.loop.Scheduler`: every method runs inside one of
its passes, on the pass's session. What to queue is decided by the pure
:mod:`~tradewind.scheduler.queueing`; this reads its inputs (candidates, slots in use) and
turns the chosen ones into workloads.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from tradewind.db.models import DagRun, Pool
from tradewind.db.queries import reschedules
from tradewind.db.queries import taskinstances as ti_queries
from tradewind.db.queries import xcom as xcom_queries
from tradewind.executors.base import Executor
from tradewind.executors.workload import (
    RESCHEDULE_METHOD,
    ExecuteTask,
    PrefetchedXCom,
    RunData,
)
from tradewind.scheduler.queueing import ActiveCounts, Candidate, PoolSlots, select_for_queueing
from tradewind.scheduler.run_sync import RunSnapshot
from tradewind.serialization.serialized_dag import SerializedDAG
from tradewind.states import TaskInstanceState as TI
from tradewind.xcom.backend import BaseXCom, XComResult
from tradewind.xcom.base import XComKey

#: Tries that may wait in the executor per try it runs at once, so its workers never wait
#: for a pass while events are batched.
WAITING_PER_SLOT = 3

#: Largest encoded XCom value sent along with every mapped try that expands over it.
PREFETCH_MAX_BYTES = 64 * 1024

#: Pages of queueing candidates read in one pass at most (when the best are held back).
QUEUE_PAGES = 8

RunKey = tuple[str, str]

_POOLS = select(Pool.pool, Pool.slots)


class QueuePass:
    """Queues what is ready, best first, while the executor has room (see the module
    docstring)."""

    executor: Executor
    job_id: int | None
    dags_folder: str | None
    _concurrency: int
    _in_flight: dict[tuple[str, int], bool]
    _page: list[Any] | None
    _pool_sizes: dict[str, int] | None
    _snapshots: dict[RunKey, RunSnapshot]
    _run_data: dict[RunKey, RunData]
    _running: set[RunKey]
    _prefetched: dict[tuple[str, str, str, str, int], msgspec.Raw | None]
    _xcom: BaseXCom
    _xcom_deleted: list[XComResult]
    _stopping: bool

    if TYPE_CHECKING:

        def _dag(
            self, session: Session, version_id: int | None, dag_id: str
        ) -> SerializedDAG | None: ...

    def _queue_budget(self) -> int:
        """How many tries to queue now: free executor slots, or as many as keep
        :data:`WAITING_PER_SLOT` tries waiting in the executor per try it can run at once
        (:attr:`_concurrency`)."""
        wanted = (1 + WAITING_PER_SLOT) * self._concurrency
        return max(self.executor.open_slots, wanted - len(self._in_flight))

    def _queue_ready(self, session: Session, now: datetime) -> list[ExecuteTask]:
        """Queue scheduled task instances, best first, while the executor has slots.

        Candidates are read a page at a time in queueing order; a page whose tasks are all
        held back (pools, limits) leads to the next one, up to :data:`QUEUE_PAGES` pages.
        What is left of the first page is kept for the next pass and read again whenever
        this scheduler scheduled something new or a run ended, and on every sweep (each
        one is queued with a compare-and-set, so one that changed meanwhile is skipped).

        Besides filling free slots, a few tries per slot may wait in the executor, so a worker
        that finishes starts its next try at once instead of after a scheduling pass (queued
        tries hold their pool slots and count against the limits, as in Airflow).
        """
        slots = self._queue_budget()
        if slots <= 0 or self._stopping:
            return []
        size = max(2 * slots, 16)
        first = self._page or self._read_page(session, size, 0)
        if not first:
            self._page = first
            return []
        pools, active = self._slots_in_use(session)
        chosen: list[Any] = []
        seen: set[str] = set()
        rows = first
        for number in range(QUEUE_PAGES):
            if number:
                rows = self._read_page(session, size, (number - 1) * size)
            rows = [row for row in rows if row.id not in seen]
            seen.update(row.id for row in rows)
            decision = select_for_queueing(
                [self._candidate(session, row) for row in rows], pools, active, slots - len(chosen)
            )
            queued = {c.ti_id for c in decision.queued}
            chosen += [row for row in rows if row.id in queued]
            if len(chosen) >= slots or (number and len(rows) < size):
                break
        taken = {row.id for row in chosen}
        self._page = [row for row in first if row.id not in taken] if number == 0 else None
        workloads: list[ExecuteTask] = []
        # A sensor's next poke carries when its try first poked and how often it waited.
        pokes = reschedules.first_and_count(
            session,
            [(row.id, row.try_number) for row in chosen if row.next_method == RESCHEDULE_METHOD],
        )
        moved = ti_queries.mark_queued_many(
            session, [(row.id, row.try_number) for row in chosen], job_id=self.job_id
        )
        for row in chosen:
            try_number = moved.get(row.id)
            if try_number is None:
                self._page = None  # it changed since it was read
                continue
            key = (row.dag_id, row.run_id)
            snap = self._snapshots.get(key)
            if snap is not None and not snap.queued(row.id, try_number):
                del self._snapshots[key]
            run = self._run_data.get(key) or self._read_run_data(session, key, row.run_pk)
            if run is not None:
                prefetch = self._prefetch(session, row)
                workload = self._workload(row, run, try_number, prefetch)
                if row.id in pokes:
                    first_poke, count = pokes[row.id]
                    workload = msgspec.structs.replace(
                        workload, first_reschedule_date=first_poke, reschedule_count=count
                    )
                workloads.append(workload)
        # What earlier tries pushed goes in this transaction, in one statement, instead of
        # a request from every try as it starts.
        self._xcom_deleted += xcom_queries.clear_tries(
            session.connection(),
            # A resumed deferral keeps what its try pushed before deferring.
            [
                (w.dag_id, w.run_id, w.task_id, w.map_index)
                for w in workloads
                if w.next_method is None or w.next_method == RESCHEDULE_METHOD
            ],
            returning=self._xcom.purges,
        )
        return workloads

    def _read_page(self, session: Session, size: int, offset: int) -> list[Any]:
        return list(ti_queries.queue_candidates(session, limit=size, offset=offset))

    def _candidate(self, session: Session, row: Any) -> Candidate:
        dag = self._dag(session, row.dag_version_id, row.dag_id)
        task = dag.task_dict.get(row.task_id) if dag else None
        return Candidate(
            ti_id=row.id,
            dag_id=row.dag_id,
            run_id=row.run_id,
            task_id=row.task_id,
            map_index=row.map_index,
            priority_weight=row.priority_weight or 1,
            pool=row.pool,
            pool_slots=row.pool_slots,
            run_after=row.run_after,
            max_active_tasks=row.max_active_tasks,
            max_active_tis_per_dag=task.max_active_tis_per_dag if task else None,
            max_active_tis_per_dagrun=task.max_active_tis_per_dagrun if task else None,
        )

    def _read_run_data(self, session: Session, key: RunKey, run_pk: int) -> RunData | None:
        """What a task's context needs of its run; kept while the run runs (a run that runs
        again after a clear is read again)."""
        run = session.get(DagRun, run_pk)
        if run is None:
            return None
        data = RunData(
            logical_date=run.logical_date,
            data_interval_start=run.data_interval_start,
            data_interval_end=run.data_interval_end,
            run_after=run.run_after,
            start_date=run.start_date,
            run_type=run.run_type,
            conf=dict(run.conf or {}),
        )
        if key in self._running:
            self._run_data[key] = data
        return data

    def _prefetch(self, session: Session, row: Any) -> list[PrefetchedXCom]:
        """The values a mapped try expands over, read once per run for all its copies
        instead of by every copy (each read is a round trip from the try): only from an
        unmapped upstream that has succeeded, as of this scheduler's snapshot of the run,
        and kept by that upstream's try number (a cleared upstream that runs again is read
        again), up to :data:`PREFETCH_MAX_BYTES`."""
        if row.map_index < 0:
            return []
        snap = self._snapshots.get((row.dag_id, row.run_id))
        dag = self._dag(session, row.dag_version_id, row.dag_id)
        task = dag.task_dict.get(row.task_id) if dag is not None else None
        if snap is None or task is None or task.expand_input is None:
            return []
        found: list[PrefetchedXCom] = []
        for feeder, key in task.expand_input.references():
            state, feeder_try = snap.stored.get((feeder, -1), (None, 0))
            if state is not TI.SUCCESS:
                continue
            cache_key = (row.dag_id, row.run_id, feeder, key, feeder_try)
            if cache_key not in self._prefetched:
                xcom_key = XComKey(row.dag_id, row.run_id, feeder, -1, key)
                try:
                    text = xcom_queries.get_encoded(session.connection(), xcom_key)
                except KeyError:
                    text = ""
                fits = 0 < len(text) <= PREFETCH_MAX_BYTES
                self._prefetched[cache_key] = msgspec.Raw(text.encode()) if fits else None
            value = self._prefetched[cache_key]
            if value is not None:
                found.append(PrefetchedXCom(task_id=feeder, key=key, value=value))
        return found

    def _workload(
        self, row: Any, run: RunData, try_number: int, prefetch: list[PrefetchedXCom]
    ) -> ExecuteTask:
        """What a worker needs to run the try: ids, the DAG file and the run's data."""
        return ExecuteTask.make(
            ti_id=row.id,
            dag_id=row.dag_id,
            run_id=row.run_id,
            task_id=row.task_id,
            map_index=row.map_index,
            try_number=try_number,
            max_tries=row.max_tries,
            dag_file=row.fileloc or "",
            dag_file_hash=row.source_code_hash or "",
            dags_folder=self.dags_folder,
            run=run,
            queue=row.queue or "default",
            pool=row.pool,
            priority_weight=row.priority_weight or 1,
            xcom_cleared=True,
            xcom_prefetch=prefetch,
            next_method=row.next_method,
            next_kwargs=row.next_kwargs,
        )

    def _slots_in_use(self, session: Session) -> tuple[dict[str, PoolSlots], ActiveCounts]:
        """Each pool's open slots, and the tries holding slots (queued or running)."""
        used: Counter[str] = Counter()
        active = ActiveCounts()
        for dag_id, run_id, task_id, pool, n, slots in ti_queries.active_tries(session):
            active.add(dag_id, run_id, task_id, n)
            used[pool] += slots
        pools: dict[str, PoolSlots] = {}
        if self._pool_sizes is None:
            rows = session.connection().execute(_POOLS)
            self._pool_sizes = {name: int(size) for name, size in rows}
        for name, size in self._pool_sizes.items():
            pools[name] = PoolSlots(-1, -1) if size < 0 else PoolSlots(size, size - used[name])
        if "default_pool" not in pools:
            from tradewind.db.models.pool import DEFAULT_POOL_SLOTS

            taken = used["default_pool"]
            pools["default_pool"] = PoolSlots(DEFAULT_POOL_SLOTS, DEFAULT_POOL_SLOTS - taken)
        return pools, active
