"""The triggerer service (``tradewind triggerer``; ``standalone`` runs one in a thread):
runs the triggers deferred tasks wait for and hands each event back to the scheduler.

Each pass, in one transaction: renew this triggerer's job heartbeat, claim triggers that
no live triggerer runs (up to ``triggerer.capacity``, default 1,000), read the ones it runs,
and turn every trigger that fired or failed into its task instance's next step
(``scheduled``, to resume at its method with the event, or to fail with the traceback).
The runner gets the new triggers and loses the ones gone. A pass runs when the runner has
results (its wakeup hook) or every ``triggerer.poll_seconds`` (default 0.5) for new triggers.

A stopping triggerer gives its triggers back and ends its job, so another takes them at
once; one that died is noticed by its stale heartbeat (``triggerer.health_check_threshold``
seconds, default 30) and its triggers are claimed again, so a trigger is never lost and two
triggerers never run it at once for long.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tradewind import config
from tradewind.db.queries import triggers
from tradewind.db.queries.dags import end_job, heartbeat_job, start_job
from tradewind.triggerer.runner import TriggerResult, TriggerRunner
from tradewind.triggers.base import BaseTaskEndEvent
from tradewind.triggers.serialization import load_trigger

log = logging.getLogger("tradewind.triggerer")

HEARTBEAT_SECONDS = 5.0


def _setting(key: str, default: float) -> float:
    return float(config.get("triggerer", key, default))


class TriggererService:
    """One triggerer: a :class:`TriggerRunner` and the DB work around it::

    service = TriggererService(get_engine(database_url()))
    service.run(stop_event)  # until stop_event is set
    """

    def __init__(self, engine: Engine, *, capacity: int | None = None) -> None:
        self.engine = engine
        self.capacity = int(capacity or _setting("capacity", 1000))
        self.poll_seconds = _setting("poll_seconds", 0.5)
        self.health_threshold = timedelta(seconds=_setting("health_check_threshold", 30.0))
        self._wake = threading.Event()
        self.runner = TriggerRunner(wakeup=self._wake.set)
        self.job_id: int | None = None
        self._heartbeat_at = float("-inf")
        #: Triggers this triggerer runs now, by id.
        self._running: set[int] = set()

    def start(self) -> None:
        with Session(self.engine) as session, session.begin():
            self.job_id = start_job(session, triggers.JOB_TYPE)
        self.runner.start()
        log.info("triggerer job %s started (capacity %s)", self.job_id, self.capacity)

    def run(self, stop: threading.Event) -> None:
        """Run passes until ``stop`` is set, then stop cleanly."""
        self.start()
        try:
            while not stop.is_set():
                self.run_once()
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
        finally:
            self.stop()

    def wake(self) -> None:
        """Run a pass now (new triggers were created here)."""
        self._wake.set()

    def run_once(self) -> None:
        """One pass (see the module's description)."""
        assert self.job_id is not None, "start() first"
        results = self.runner.drain()
        now = datetime.now(UTC)
        moved = False
        with Session(self.engine) as session, session.begin():
            clock = time.monotonic()
            if clock - self._heartbeat_at >= HEARTBEAT_SECONDS:
                heartbeat_job(session, self.job_id)
                self._heartbeat_at = clock
            moved = bool(self._settle(session, results))
            triggers.claim(session, self.job_id, self.capacity, now - self.health_threshold)
            wanted = triggers.assigned(session, self.job_id)
            new = triggers.definitions(session, wanted - self._running)
        for trigger_id in self._running - wanted:  # deleted, or taken by another triggerer
            self.runner.cancel(trigger_id)
        for trigger_id, classpath, kwargs in new:
            self._add(trigger_id, classpath, kwargs)
        self._running = wanted
        if moved:
            _wake_scheduler()

    def _add(self, trigger_id: int, classpath: str, kwargs: str) -> None:
        try:
            trigger = load_trigger(classpath, kwargs)
        except Exception as err:  # a trigger that cannot be rebuilt fails its task
            log.error("trigger %s (%s) cannot be loaded: %s", trigger_id, classpath, err)
            with Session(self.engine) as session, session.begin():
                error = f"{classpath} cannot be loaded: {err}"
                triggers.fire_many(session, [(trigger_id, None, error)])
            _wake_scheduler()
            return
        self.runner.add(trigger_id, trigger)

    def _settle(self, session: Session, results: list[TriggerResult]) -> list[tuple[str, str]]:
        """Turn what the triggers did into their tasks' next steps; the runs that moved."""
        ended: list[tuple[int, str, dict[str, object]]] = []
        fired: list[tuple[int, object, str | None]] = []
        for result in results:
            self._running.discard(result.trigger_id)
            if result.error is not None:
                log.error("trigger %s failed: %s", result.trigger_id, result.error)
                fired.append((result.trigger_id, None, result.error))
            elif isinstance(result.event, BaseTaskEndEvent):  # end_from_trigger: no worker
                ended.append((result.trigger_id, result.event.task_state, result.event.xcoms))
            else:
                payload = result.event.payload if result.event is not None else None
                fired.append((result.trigger_id, payload, None))
        return triggers.end_tasks_many(session, ended) + triggers.fire_many(session, fired)

    def stop(self) -> None:
        """Stop the runner, give this triggerer's triggers back, and end its job."""
        self.runner.stop()
        if self.job_id is None:
            return
        with Session(self.engine) as session, session.begin():
            triggers.release(session, self.job_id)
            end_job(session, self.job_id)
        log.info("triggerer job %s stopped", self.job_id)


def _wake_scheduler() -> None:
    """Tell a scheduler on this machine that deferred tasks can resume (one elsewhere
    finds them on its next sweep)."""
    from tradewind.scheduler.wakeup import notify

    notify()
