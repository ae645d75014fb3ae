"""The scheduler loop: the only I/O in the scheduler.

Each pass is one transaction: record what the executor reported (a try started, a try
ended), create the runs that are due (schedules), start queued runs within
``max_active_runs``, make every decision now due in the running runs that changed
(:mod:`~tradewind.scheduler.run_sync`), and queue what became ready
(:mod:`~tradewind.scheduler.queueing`). Then it sleeps until the executor reports something,
someone wakes it (a trigger, a clear) or the next deadline (a retry coming due, a schedule)
arrives: event-driven, not a fixed sleep. It never imports DAG files; it reads serialized DAGs.

Work follows events: a pass looks only at the runs with new outcomes, runs just started,
runs with a retry coming due and runs waiting on a previous one, each from the snapshot the
last pass left (checked against the database first). A sweep reads every running run afresh
at least every :data:`SWEEP_SECONDS`, and whenever the loop was woken by something other than
its executor, so what no event announced (another scheduler's or a user's change) is seen.

Several schedulers may run against PostgreSQL: runs and DAGs are taken with
``FOR UPDATE SKIP LOCKED`` and every task instance change is a compare-and-set.

Two parts of a pass live in their own modules, as mixins of :class:`Scheduler`: making
runs (:mod:`~tradewind.scheduler.run_creation`) and queueing
(:mod:`~tradewind.scheduler.queue_pass`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, bindparam, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tradewind.db.dialects import for_update_skip_locked
from tradewind.db.models import DagRun, Job
from tradewind.db.models import TaskInstance as TIRow
from tradewind.db.queries import dagruns, triggers
from tradewind.db.queries import taskinstances as ti_queries
from tradewind.db.queries.backfills import mark_completed
from tradewind.db.queries.dags import SerializedDagCache
from tradewind.db.queries.xcom_purge import purge_deleted
from tradewind.exceptions import SchedulerDeclaredDead, XComError
from tradewind.executors.base import Event, Executor
from tradewind.executors.workload import (
    RunData,
    TaskOutcomeEvent,
    TaskStartedEvent,
)
from tradewind.retries import retry_delay_for
from tradewind.scheduler.queue_pass import QueuePass
from tradewind.scheduler.recovery import (
    orphan_check_interval,
    recover_orphans,
    refresh_heartbeats,
)
from tradewind.scheduler.run_creation import RunCreation
from tradewind.scheduler.run_sync import RunSnapshot, schedule_run
from tradewind.sdk.secrets_access import use_reader
from tradewind.serialization.serialized_dag import SerializedDAG
from tradewind.states import DagRunState
from tradewind.states import TaskInstanceState as TI
from tradewind.xcom.backend import BaseXCom, XComResult, get_backend

log = logging.getLogger("tradewind.scheduler")

#: Longest the loop sleeps without an event, so schedules and heartbeats stay on time.
MAX_IDLE_SECONDS = 1.0
#: Longest time between two sweeps (every running run read afresh, due schedules made).
SWEEP_SECONDS = 1.0
#: How often the scheduler's job row is heartbeated.
HEARTBEAT_SECONDS = 1.0
#: Longest a try's start waits to be recorded when nothing else needs a pass.
HOLD_SECONDS = 0.05
#: Longest events wait for a pass while the executor still has a queued try waiting (its
#: workers are busy meanwhile, so waiting costs no throughput and one pass handles more).
BATCH_SECONDS = 0.020
#: While executor events keep the loop busy, how often it reads which runs are queued and
#: running (new runs from elsewhere start within this time; at once in any other pass).
RUNS_SECONDS = 0.05

RunKey = tuple[str, str]


def _now() -> datetime:
    return datetime.now(UTC)


def health_check_threshold() -> timedelta:
    """``scheduler.scheduler_health_check_threshold``: a scheduler job silent this long is
    dead (Airflow's name and default, 30 s)."""
    from tradewind import config

    return timedelta(seconds=float(config.get("scheduler", "scheduler_health_check_threshold", 30)))


@dataclass
class _Outcome:
    """A try's outcome as the run machine reads it (a crashed try may become a retry)."""

    state: TI
    start_date: datetime
    end_date: datetime
    error: str | None
    next_retry_at: datetime | None
    rendered_map_index: str | None
    pushed_keys: list[str] = field(default_factory=list)
    xcom_lengths: dict[str, int] = field(default_factory=dict)
    skip_downstream: list[str] = field(default_factory=list)
    #: The try this outcome is of (a report of an older try is ignored).
    try_number: int | None = None
    #: The try's process and host (from its started event when that came in the same batch).
    pid: int | None = None
    hostname: str | None = None
    #: A sensor's next poke (``up_for_reschedule``).
    reschedule_date: datetime | None = None
    #: What a deferred try waits for (``deferred``).
    deferral: Any = None


def event_key(event: Event) -> tuple[str, int]:
    """The try an event is about."""
    return (event.ti_id, event.try_number)


def check_storage_reachable(backend: BaseXCom, executor: Executor) -> None:
    """Refuse a local XCom folder when tasks run on other hosts (an executor whose
    ``runs_on_other_hosts`` is true): they could not read what another host stored. Also
    makes the object store now, so a bad ``xcom.objectstorage_path`` stops the scheduler
    at start."""
    store = getattr(backend, "store", None)
    if store is not None and store.is_local and getattr(executor, "runs_on_other_hosts", False):
        raise XComError(
            f"xcom.objectstorage_path is a local folder ({store.url}), but "
            f"{type(executor).__name__} runs tasks on other hosts, which cannot read it: "
            "point xcom.objectstorage_path at storage every host reaches (s3://, gs://, ...)"
        )


class Scheduler(RunCreation, QueuePass):
    """Drives runs to completion. ``run(stop)`` loops; ``run_once()`` is one pass (tests)."""

    def __init__(
        self, engine: Engine, executor: Executor, *, dags_folder: str | None = None
    ) -> None:
        self.engine = engine
        self.executor = executor
        self.dags_folder = dags_folder
        self.dags = SerializedDagCache()
        self.job_id: int | None = None
        self._next_computed: set[tuple[str, int]] = set()
        self._pending: dict[RunKey, list[tuple[str, _Outcome]]] = defaultdict(list)
        #: Running runs as of the last pass, and each one's state as that pass left it.
        self._running: set[RunKey] = set()
        self._snapshots: dict[RunKey, RunSnapshot] = {}
        #: Runs to look at in the next pass; runs to look at in every pass (waiting on a
        #: previous run); when a run's first retry comes due.
        self._dirty: set[RunKey] = set()
        self._watch: set[RunKey] = set()
        self._retry_at: dict[RunKey, datetime] = {}
        #: When a run's ``last_scheduling_decision`` may be written again.
        self._decided: dict[RunKey, datetime] = {}
        #: Each pool's size, read again on every sweep.
        self._pool_sizes: dict[str, int] | None = None
        #: What is left of the last page of queueing candidates (None: read it again).
        self._page: list[Any] | None = None
        #: Each running run's data for workloads.
        self._run_data: dict[RunKey, RunData] = {}
        self._run_query: Any = None
        self._conn: Connection | None = None
        #: When the queued and running runs were last read.
        self._runs_read_at = float("-inf")
        self._swept_at = float("-inf")
        self._sweep_requested = False
        self._heartbeat_at = float("-inf")
        #: Queued runs seen last pass; whether a run ended since (both gate starting runs).
        self._queued_seen: set[int] = set()
        self._run_ended = False
        #: Tries this scheduler queued that have no outcome yet: whether each has started.
        self._in_flight: dict[tuple[str, int], bool] = {}
        #: The most of them seen running at once after recording a batch of events (a
        #: worker reports an outcome before its next start, so this never exceeds the
        #: executor's slots).
        self._concurrency = 0
        #: Events of tries starting, held for the next pass, and since when.
        self._held: list[Event] = []
        #: Tries whose start one pass left for the next (it is not left twice).
        self._start_deferred: set[tuple[str, int]] = set()
        #: Set by :meth:`stop`: passes record outcomes and queue nothing.
        self._stopping = False
        #: When this scheduler last looked for orphans and last renewed its tries' leases
        #: (monotonic clock), and how often it looks.
        self._orphans_checked_at = float("-inf")
        self._orphan_interval = orphan_check_interval()
        self._leases_renewed_at = float("-inf")
        #: Values mapped tries expand over, by run, upstream, key and the upstream's try
        #: number (None: too big or missing, the try reads it itself); see _prefetch.
        self._prefetched: dict[tuple[str, str, str, str, int], msgspec.Raw | None] = {}
        self._held_since = float("inf")
        #: The XCom backend (made now, so a bad XCom setting stops the scheduler at start),
        #: and the rows a pass deleted whose stored data goes once the pass has committed.
        self._xcom = get_backend()
        check_storage_reachable(self._xcom, executor)
        self._xcom_deleted: list[XComResult] = []

    def _purge_xcom(self, deleted: list[XComResult]) -> None:
        """Remove what deleted XCom rows stored outside the DB, reaching the storage with
        the connections the executor's services read (the DB's too, not only env vars)."""
        secrets = getattr(getattr(self.executor, "services", None), "secrets", None)
        with use_reader(secrets) if secrets is not None else contextlib.nullcontext():
            purge_deleted(deleted, self._xcom)

    def _dag(self, session: Session, version_id: int | None, dag_id: str) -> SerializedDAG | None:
        """The DAG version a run follows (the latest when the run has none recorded)."""
        if version_id is not None:
            return self.dags.get(session, version_id)
        latest = self.dags.latest(session, dag_id)
        return latest[1] if latest else None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        now = _now()
        with Session(self.engine) as session, session.begin():
            job = Job(
                job_type="SchedulerJob",
                state="running",
                hostname=socket.gethostname(),
                pid=os.getpid(),
                executor_class=type(self.executor).__name__,
                start_date=now,
                latest_heartbeat=now,
            )
            session.add(job)
            session.flush()
            self.job_id = job.id
        self.recover()
        self._orphans_checked_at = time.monotonic()
        self.executor.start()

    def recover(self) -> None:
        """Settle what dead schedulers left queued or running (see :mod:`.recovery`)."""
        with Session(self.engine) as session, session.begin():
            recover_orphans(
                session,
                my_job_id=self.job_id,
                heartbeat_timeout=health_check_threshold(),
                dags=self.dags,
            )

    # -- leases, orphans and backfills (see :mod:`.recovery`) ------------------------------

    def _recover_orphans_if_due(self, clock: float) -> None:
        """Every ``scheduler.orphaned_tasks_check_interval`` seconds, settle what dead
        schedulers left queued or running, in a transaction of its own (a failure there
        never costs a pass), and look at the runs it touched in this pass."""
        if self.job_id is None:
            return  # not started: its own tries have no owner and would look orphaned
        if clock - self._orphans_checked_at < self._orphan_interval:
            return
        self._orphans_checked_at = clock
        try:
            with self._session() as session, session.begin():
                result = recover_orphans(
                    session,
                    my_job_id=self.job_id,
                    heartbeat_timeout=health_check_threshold(),
                    dags=self.dags,
                )
        except DBAPIError as err:
            if err.connection_invalidated:
                self._close_connection()
            log.warning("looking for orphaned tries failed, trying again later: %s", err)
            return
        for key in result.touched_runs:
            self._snapshots.pop(key, None)  # they changed behind this scheduler's back
            self._dirty.add(key)
        if result.touched_runs:
            self._page = None  # requeued tries are candidates again

    def _renew_leases_and_complete_backfills(
        self, session: Session, now: datetime, clock: float, sweep: bool
    ) -> None:
        """In the pass's transaction: renew the lease (``last_heartbeat_at``) of the tries
        the executor runs, with the job heartbeat's cadence and in one statement; and, once
        per pass in which a run ended (and on sweeps, for runs ended elsewhere), mark the
        backfills with nothing left to run complete."""
        if clock - self._leases_renewed_at >= HEARTBEAT_SECONDS:
            running = [(t.ti_id, t.try_number) for t in self.executor.running()]
            if running:
                refresh_heartbeats(session, running, now)
            self._leases_renewed_at = clock
        if sweep or self._run_ended:
            mark_completed(session, now)
        if sweep:
            # Deferrals past their timeout go back to be failed by a worker (Airflow's rule).
            self._dirty.update(triggers.fail_overdue(session, now))

    def stop(self, timeout: float | None = 30) -> None:
        """Let the executor finish what it runs (``timeout`` seconds at most), record how
        those tries ended in one last pass that queues nothing, and end the job."""
        self._stopping = True
        self.executor.end(timeout)
        try:
            self.run_once()
        except DBAPIError as err:  # their outcomes are lost; recovery settles the tries
            log.warning("could not record the last outcomes on stopping: %s", err)
        except SchedulerDeclaredDead as err:
            log.error("not recording the last outcomes: %s", err)
            self._close_connection()
            return
        self._close_connection()
        if self.job_id is not None:
            with Session(self.engine) as session, session.begin():
                session.execute(
                    update(Job)
                    .where(Job.id == self.job_id)
                    .values(state="success", end_date=_now())
                )

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set: one pass, then wait for an event or the next deadline."""
        self.start()
        try:
            while not stop.is_set():
                wait = self.run_once()
                if wait <= 0:
                    continue
                if not self.executor.wait_for_event(timeout=wait) and not self._held:
                    # Woken by someone else (a trigger, a clear) or a deadline, not by the
                    # executor: the next pass looks at everything.
                    self._sweep_requested = True
        except SchedulerDeclaredDead:
            # Another scheduler owns this one's tries now: run nothing more of them.
            log.error("this scheduler's job was marked failed by another scheduler; stopping")
            self.executor.terminate()
            self._close_connection()
            raise
        except BaseException:
            self.stop()
            raise
        self.stop()

    def run_once(self) -> float:
        """One scheduling pass, in one transaction; returns how long the loop may sleep."""
        now = _now()
        clock = time.monotonic()
        self._recover_orphans_if_due(clock)
        sweep = self._sweep_requested or clock - self._swept_at >= SWEEP_SECONDS
        events, self._held = self._held + self.executor.get_events(), []
        for event in events:
            if isinstance(event, TaskStartedEvent) and event_key(event) in self._in_flight:
                self._in_flight[event_key(event)] = True
        hold = self._hold_for(events, now, clock) if events and not sweep else 0.0
        if self._stopping:
            sweep, hold = False, 0.0
        if hold > 0:
            self._held, self._held_since = events, min(self._held_since, clock)
            return hold
        self._held_since = float("inf")
        taken: list[tuple[RunKey, list[tuple[str, _Outcome]]]] = []
        deferred: list[Event] = []
        try:
            with self._session() as session, session.begin():
                deferred = self._record_events(session, events, defer_starts=True)
                self._concurrency = max(self._concurrency, sum(self._in_flight.values()))
                if sweep:
                    self._create_scheduled_runs(session, now)
                running = self._running
                busy = events and clock - self._runs_read_at < RUNS_SECONDS
                if sweep or self._run_ended or not busy:
                    queued, running = dagruns.active_runs(session)
                    self._runs_read_at = clock
                    if sweep or self._run_ended or not queued <= self._queued_seen:
                        # New queued runs, or a run ended (a slot under max_active_runs).
                        self._start_queued_runs(session, now)
                        running = dagruns.active_runs(session)[1]  # with the runs just started
                    self._queued_seen, self._run_ended = queued, False
                self._schedule_running_runs(session, now, running, sweep, taken)
                workloads = self._queue_ready(session, now)
                self._renew_leases_and_complete_backfills(session, now, clock, sweep)
                if clock - self._heartbeat_at >= HEARTBEAT_SECONDS and self.job_id is not None:
                    alive = session.execute(
                        update(Job)
                        .where(Job.id == self.job_id, Job.state == "running")
                        .values(latest_heartbeat=now)
                    )
                    if alive.rowcount == 0:  # type: ignore[attr-defined]
                        raise SchedulerDeclaredDead(
                            f"scheduler job {self.job_id} was marked failed (another "
                            "scheduler found it not heartbeating and took over its tries)"
                        )
                    self._heartbeat_at = clock
        except DBAPIError as err:
            self._undo(taken)
            self._xcom_deleted = []
            if not err.connection_invalidated:
                raise
            # The database went away (a restart): nothing was written; try again soon.
            log.warning("the scheduler lost its database connection: %s", err)
            self._close_connection()
            return 0.5
        except BaseException:
            self._undo(taken)
            self._xcom_deleted = []
            raise
        if self._xcom_deleted:
            self._purge_xcom(self._xcom_deleted)
            self._xcom_deleted = []
        if sweep:
            self._swept_at, self._sweep_requested = clock, False
            self._pool_sizes = self._page = None
        for workload in workloads:
            self.executor.queue_workload(workload)
            self._in_flight[workload.key] = False
        self.executor.heartbeat()
        wait = MAX_IDLE_SECONDS
        if deferred:  # recorded by the next pass (with their outcome, for short tries)
            self._held[:0] = deferred
            self._held_since = min(self._held_since, clock)
            wait = HOLD_SECONDS
        if self._dirty:
            return 0.01  # runs another scheduler held, or whose snapshot failed: soon again
        if self._retry_at:
            due = min(self._retry_at.values())
            wait = min(wait, max(0.0, (due - _now()).total_seconds()))
        return wait

    def _undo(self, taken: list[tuple[RunKey, list[tuple[str, _Outcome]]]]) -> None:
        """A pass failed and nothing of it was written: keep its outcomes, trust no snapshot
        and no candidate page, and look at everything next time."""
        for key, outcomes in taken:
            self._pending[key][:0] = outcomes
        self._start_deferred.clear()
        self._snapshots.clear()
        self._page = None
        self._sweep_requested = True

    def _session(self) -> Session:
        """A session on the connection the loop keeps: taking one from the pool for every
        pass costs a round trip on PostgreSQL (the pool pings it)."""
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = self.engine.connect()
        return Session(bind=self._conn)

    def _close_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    # -- events ------------------------------------------------------------------------
    def _hold_for(self, events: list[Event], now: datetime, clock: float) -> float:
        """How long ``events`` may wait for a pass (0: handle them now).

        Only tries starting, with nothing to queue: up to :data:`HOLD_SECONDS` (they are
        then usually recorded with their outcome, in one compare-and-set). Any events while
        a try this scheduler queued still waits in the executor (no worker is about to
        idle): up to :data:`BATCH_SECONDS`, so one pass handles more of them. Never while a
        run needs a look anyway.
        """
        if self._dirty or self._watch or any(at <= now for at in self._retry_at.values()):
            return 0.0
        age = clock - min(self._held_since, clock)
        if not all(self._in_flight.values()) and age < BATCH_SECONDS:
            return BATCH_SECONDS - age
        starting = all(isinstance(e, TaskStartedEvent) for e in events)
        if starting and self._queue_budget() <= 0 and age < HOLD_SECONDS:
            return HOLD_SECONDS - age
        return 0.0

    def _record_events(
        self, session: Session, events: list[Event], *, defer_starts: bool = False
    ) -> list[Event]:
        """Mark started tries running; keep outcomes for their run's next pass. Returns the
        starts left for a later pass.

        A try whose outcome came in the same batch as its start is not marked running on its
        own: its run's pass writes ``queued -> running -> ...`` in one compare-and-set. With
        ``defer_starts``, a start younger than :data:`HOLD_SECONDS` waits once for the next
        pass, where a short try's outcome usually joins it (one write instead of two; on
        PostgreSQL each is a round trip).
        """
        ended = {(e.ti_id, e.try_number): e for e in events if isinstance(e, TaskOutcomeEvent)}
        starts: dict[tuple[str, int], TaskStartedEvent] = {}
        deferred: list[Event] = []
        young = _now() - timedelta(seconds=HOLD_SECONDS)
        for event in events:
            if isinstance(event, TaskStartedEvent):
                try_key = event_key(event)
                if try_key in self._in_flight:
                    self._in_flight[try_key] = True
                if try_key in ended:
                    starts[try_key] = event
                    self._start_deferred.discard(try_key)
                    continue
                if defer_starts and event.start_date > young:
                    if try_key not in self._start_deferred:
                        self._start_deferred.add(try_key)
                        deferred.append(event)
                        continue
                self._start_deferred.discard(try_key)
                moved = ti_queries.transition(
                    session,
                    event.ti_id,
                    expected=TI.QUEUED,
                    new=TI.RUNNING,
                    try_number=event.try_number,
                    values={
                        ti_queries.FIRST_START: event.start_date,
                        "pid": event.pid,
                        "hostname": event.hostname,
                        "last_heartbeat_at": event.start_date,
                    },
                )
                if moved:
                    for key, snap in list(self._snapshots.items()):
                        if event.ti_id in snap.keys:
                            if not snap.started(event.ti_id, event.try_number, event.start_date):
                                del self._snapshots[key]
                            break
            elif isinstance(event, TaskOutcomeEvent):
                try_key = (event.ti_id, event.try_number)
                self._in_flight.pop(try_key, None)
                outcome = self._as_outcome(session, event)
                start = starts.get(try_key)
                if start is not None:
                    outcome.pid, outcome.hostname = start.pid, start.hostname
                    outcome.start_date = start.start_date
                key = (event.dag_id, event.run_id)
                self._pending[key].append((event.ti_id, outcome))
                self._dirty.add(key)
        return deferred

    def _as_outcome(self, session: Session, event: TaskOutcomeEvent) -> _Outcome:
        state, next_retry = event.state, event.next_retry_at
        if event.crashed and state is TI.FAILED:
            # The runner did not decide (the process died): apply the task's retries here,
            # counting the task instance's own max_tries (it grows when a run is cleared).
            run = dagruns.get_run(session, event.dag_id, event.run_id)
            dag = self._dag(session, run.dag_version_id if run else None, event.dag_id)
            task = dag.task_dict.get(event.task_id) if dag else None
            row = session.get(TIRow, event.ti_id)
            max_tries = row.max_tries if row is not None else (task.retries if task else 0)
            if task is not None and event.try_number <= max_tries:
                state = TI.UP_FOR_RETRY
                next_retry = event.end_date + retry_delay_for(
                    retry_delay=task.retry_delay,
                    exponential_backoff=task.retry_exponential_backoff,
                    max_retry_delay=task.max_retry_delay,
                    try_number=event.try_number,
                    dag_id=event.dag_id,
                    task_id=event.task_id,
                    logical_date=run.logical_date if run else None,
                )
            log.warning("try %s of %s crashed: %s", event.try_number, event.task_id, event.error)
        return _Outcome(
            state=state,
            start_date=event.start_date or event.end_date,
            end_date=event.end_date,
            error=event.error,
            next_retry_at=next_retry,
            rendered_map_index=event.rendered_map_index,
            pid=event.pid,
            hostname=event.hostname,
            pushed_keys=list(event.pushed_keys),
            xcom_lengths=dict(event.xcom_lengths),
            skip_downstream=list(event.skip_downstream),
            try_number=event.try_number,
            reschedule_date=event.reschedule_date,
            deferral=event.deferral,
        )

    def _schedule_running_runs(
        self,
        session: Session,
        now: datetime,
        running: set[RunKey],
        sweep: bool,
        taken: list[tuple[RunKey, list[tuple[str, _Outcome]]]],
    ) -> None:
        """Make the decisions now due in the ``running`` runs: every one on a sweep, else
        those that changed. Outcomes taken from ``_pending`` are listed in ``taken``."""
        for key in self._running - running:
            self._forget(key)
        due = {key for key, at in self._retry_at.items() if at <= now}
        todo = running if sweep else (self._dirty | self._watch | due | (running - self._running))
        todo &= running
        self._running = running
        self._dirty = set(todo)  # what stays here was held by another scheduler
        if not todo:
            return
        for run in self._lock_runs(session, None if sweep else sorted(todo)):
            key = (run.dag_id, run.run_id)
            self._dirty.discard(key)
            outcomes = self._pending.pop(key, [])
            taken.append((key, outcomes))
            dag = self._dag(session, run.dag_version_id, run.dag_id)
            if dag is None:
                log.error("run %s of %s: its serialized DAG is missing", run.run_id, run.dag_id)
                continue
            if dag.dagrun_timeout and run.start_date and now - run.start_date > dag.dagrun_timeout:
                self._time_out(session, run, now)
                self._forget(key)
                continue
            snap = None if sweep else self._snapshots.get(key)
            if snap is not None and (snap.dag is not dag or not snap.matches(session, *key)):
                snap = None
            result = schedule_run(session, run, dag, outcomes, now, snapshot=snap)
            if result.newly_scheduled:
                self._page = None  # read the queueing order again
            if (result.changed or outcomes) and now >= self._decided.get(key, now):
                # Recorded at most once a second per run: it is for people, not decisions.
                dagruns.mark_decided(session, run.id, now)
                self._decided[key] = now + timedelta(seconds=1)
            if result.run_state is not DagRunState.RUNNING:
                self._forget(key)
                continue
            if result.snapshot is None:
                self._snapshots.pop(key, None)
                self._dirty.add(key)  # a compare-and-set failed: look again from the DB
            else:
                self._snapshots[key] = result.snapshot
            if result.next_retry is None:
                self._retry_at.pop(key, None)
            else:
                self._retry_at[key] = result.next_retry
            if result.waiting_on_past:
                self._watch.add(key)
            else:
                self._watch.discard(key)

    def _lock_runs(self, session: Session, keys: list[RunKey] | None) -> list[DagRun]:
        """The running runs of ``keys`` (all when None), each locked for this pass on
        PostgreSQL; one another scheduler holds is skipped."""
        if keys is None:
            query = select(DagRun).where(DagRun.state == DagRunState.RUNNING.value)
            query = for_update_skip_locked(query.order_by(DagRun.id), session)
            return list(session.execute(query).scalars())
        if self._run_query is None:
            self._run_query = for_update_skip_locked(
                select(DagRun).where(
                    DagRun.state == DagRunState.RUNNING.value,
                    DagRun.dag_id == bindparam("dag_id"),
                    DagRun.run_id == bindparam("run_id"),
                ),
                session,
            )
        runs = []
        for dag_id, run_id in keys:
            params = {"dag_id": dag_id, "run_id": run_id}
            run = session.execute(self._run_query, params).scalar_one_or_none()
            if run is not None:
                runs.append(run)
        return runs

    def _forget(self, key: RunKey) -> None:
        """A run is no longer running here: drop what was kept for it between passes."""
        self._run_ended = True
        self._page = None
        self._run_data.pop(key, None)
        self._snapshots.pop(key, None)
        for cached in [k for k in self._prefetched if k[:2] == key]:
            del self._prefetched[cached]
        self._retry_at.pop(key, None)
        self._decided.pop(key, None)
        self._watch.discard(key)
        self._dirty.discard(key)

    def _time_out(self, session: Session, run: DagRun, now: datetime) -> None:
        """``dagrun_timeout``: the run fails and what has not finished is skipped."""
        for state in (None, TI.SCHEDULED, TI.UP_FOR_RETRY, TI.QUEUED):
            ids = session.execute(
                select(TIRow.id).where(
                    TIRow.dag_id == run.dag_id,
                    TIRow.run_id == run.run_id,
                    TIRow.state.is_(None) if state is None else TIRow.state == state.value,
                )
            ).scalars()
            ti_queries.transition_many(session, ids, expected=state, new=TI.SKIPPED)
        run.state = DagRunState.FAILED.value
        run.end_date = now


__all__ = ["MAX_IDLE_SECONDS", "SWEEP_SECONDS", "Scheduler"]
