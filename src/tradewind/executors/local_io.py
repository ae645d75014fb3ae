"""The local executor's I/O thread: owns the worker processes and their sockets.

Only this thread reads or writes a worker's socket or a try's channel, so frames never
interleave and the services are called one request at a time. Other threads talk to it
through the executor's locked state and a wake-up pipe.

Each try gets its own channel, a socket pair made here: one end goes to the worker with
the workload (as a file descriptor) and on to the task process it forks, so the task's
requests and its outcome come straight here, not relayed by the worker. A try's outcome is
what its channel says; if the worker then reports the process ended (``TryEnded``) with
none received, the try failed and the worker's report says why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tradewind.execution.comms import (
    PROTOCOL,
    Cancel,
    Frame,
    FrameError,
    ServiceRequest,
    Shutdown,
    TryEnded,
    WorkerHeartbeat,
    WorkerReady,
    send_frame,
)
from tradewind.executors.base import ExecutorError
from tradewind.executors.local_workers import TryChannel, WorkerHandle, worker_env
from tradewind.executors.serving import answer
from tradewind.executors.workload import TaskOutcomeEvent, TaskStartedEvent

if TYPE_CHECKING:
    from tradewind.executors.local import LocalExecutor

log = logging.getLogger("tradewind.executors.local")

#: Consecutive workers dying before they are ready, after which ``heartbeat`` raises.
FAILED_STARTS_LIMIT = 5


class _Stop:
    def __init__(self, kill: bool) -> None:
        self.kill = kill


class PoolIO:
    """Runs the worker pool for a :class:`~tradewind.executors.local.LocalExecutor`."""

    def __init__(self, owner: LocalExecutor) -> None:
        self.owner = owner
        self.env = worker_env(owner.kill_grace, owner.heartbeat_interval)
        self.stale_after = owner.stale_after
        self.hostname = socket.gethostname()
        self.workers: list[WorkerHandle] = []
        self.sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._commands: deque[Cancel | _Stop] = deque()
        self._thread = threading.Thread(target=self._loop, name="tradewind-local-executor")
        self._thread.daemon = True
        self._error: BaseException | None = None
        self._failed_starts = 0
        self._last_start_error = ""
        self._respawn_at = 0.0
        self._stale: set[int] = set()
        self._stopped = False

    # -- from other threads ------------------------------------------------------------------
    def start(self) -> None:
        for _ in range(self.owner.size):
            self._spawn()
        self._thread.start()

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"!")

    def command(self, command: Cancel | _Stop) -> None:
        self._commands.append(command)
        self.wake()

    def check(self) -> None:
        if self._error is not None:
            raise ExecutorError(f"the local executor's I/O thread failed: {self._error!r}")
        if self._failed_starts >= FAILED_STARTS_LIMIT:
            raise ExecutorError(
                f"{self._failed_starts} workers in a row died before they were ready "
                f"(last: {self._last_start_error})"
            )

    def stop(self, kill: bool) -> None:
        """Stop the workers and the thread (once; later calls do nothing)."""
        if self._stopped:
            return
        if self._thread.is_alive():
            self.command(_Stop(kill))
            self._thread.join()
        else:
            self._shutdown(kill=True)
        self._stopped = True
        self.sel.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    # -- the thread ------------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            while True:
                self._dispatch()
                timeout = self._housekeeping()
                for key, _ in self.sel.select(timeout):
                    if key.data is None:
                        with contextlib.suppress(BlockingIOError):
                            os.read(self._wake_r, 4096)
                        if self._run_commands():
                            return
                    elif isinstance(key.data, WorkerHandle):
                        self._read(key.data)
                    else:
                        self._read_channel(*key.data)
        except BaseException as err:
            log.exception("the local executor's I/O thread failed")
            self._error = err
            self._shutdown(kill=True)
            self.owner.wake()

    def _spawn(self) -> None:
        try:
            worker = WorkerHandle.spawn(self.env)
        except OSError as err:
            self._start_failed(f"cannot start a worker: {err}")
            return
        self.workers.append(worker)
        self.sel.register(worker.sock, selectors.EVENT_READ, worker)

    def _start_failed(self, why: str) -> None:
        self._failed_starts += 1
        self._last_start_error = why
        delay = min(0.1 * 2**self._failed_starts, 10.0)
        self._respawn_at = time.monotonic() + delay
        log.error("local executor worker failed to start (%s); retrying in %.1fs", why, delay)
        self.owner.wake()

    def _dispatch(self) -> None:
        # Longest idle first: a worker that reported a moment ago may still be reaping its
        # last task process, one idle for longer is already waiting.
        idle = sorted((w for w in self.workers if w.idle), key=lambda w: w.idle_since)
        for worker in idle:
            workload = self.owner.next_workload()
            if workload is None:
                return
            worker.workload = workload
            worker.started = datetime.now(UTC)
            worker.task_pid = None
            worker.last_seen = time.monotonic()
            self.owner.started(workload, worker.pid, None)
            channel, theirs = TryChannel.open(workload.key)
            self._close_channel(worker)
            worker.channel = channel
            self.sel.register(channel.sock, selectors.EVENT_READ, (worker, channel))
            try:
                worker.send(workload, (theirs.fileno(),))
            except OSError as err:
                self._lost(worker, f"could not send the workload: {err}")
            finally:
                theirs.close()

    def _housekeeping(self) -> float:
        now = time.monotonic()
        for worker in self.workers:
            if worker.workload is not None and now - worker.last_seen > self.stale_after:
                if worker.pid not in self._stale:
                    log.error("worker %s stopped heartbeating; killing it", worker.pid)
                    self._stale.add(worker.pid)
                    worker.kill()  # its socket closes; _read reports the try
        if len(self.workers) < self.owner.size and now >= self._respawn_at:
            for _ in range(self.owner.size - len(self.workers)):
                self._spawn()
        timeout = self.owner.heartbeat_interval
        if len(self.workers) < self.owner.size:
            timeout = min(timeout, max(0.0, self._respawn_at - now))
        return timeout

    def _run_commands(self) -> bool:
        """Carry out queued commands; ``True`` when the thread must end."""
        while self._commands:
            command = self._commands.popleft()
            if isinstance(command, _Stop):
                self._shutdown(command.kill)
                return True
            for worker in self.workers:
                if worker.workload is not None and worker.workload.ti_id == command.ti_id:
                    with contextlib.suppress(OSError):
                        worker.send(command)
        return False

    def _read(self, worker: WorkerHandle) -> None:
        try:
            frames = worker.reader.read_available()
        except (EOFError, OSError, FrameError) as err:
            self._lost(worker, str(err))
            return
        worker.last_seen = time.monotonic()
        for frame in frames:
            if not self._on_frame(worker, frame):
                worker.kill()
                self._lost(worker, f"protocol violation: unexpected {type(frame).__name__}")
                return

    def _read_channel(self, worker: WorkerHandle, channel: TryChannel) -> None:
        """A try's task process asked for something, or sent its outcome."""
        try:
            frames = channel.reader.read_available()
        except (EOFError, OSError, FrameError):
            self._close_channel(worker, channel)  # the process ended: its worker reports it
            return
        worker.last_seen = time.monotonic()
        for frame in frames:
            self._from_channel(worker, channel, frame, answering=True)

    def _from_channel(
        self, worker: WorkerHandle, channel: TryChannel, frame: Frame, *, answering: bool
    ) -> None:
        workload = worker.workload
        if workload is None or workload.key != channel.key:
            self._close_channel(worker, channel)  # a try already settled: nothing to say
        elif isinstance(frame, ServiceRequest):
            if answering:
                owner = (workload.dag_id, workload.run_id, workload.task_id, workload.map_index)
                with contextlib.suppress(OSError):  # a process gone is reported by its worker
                    send_frame(channel.sock, answer(self.owner.services, frame, owner))
        elif isinstance(frame, TaskStartedEvent) and (frame.ti_id, frame.try_number) == channel.key:
            worker.task_pid = frame.pid
            self.owner.started(workload, worker.pid, frame)
        elif isinstance(frame, TaskOutcomeEvent) and (frame.ti_id, frame.try_number) == channel.key:
            self._settle(worker, frame)
        else:
            log.error("try %s sent an unexpected %s: ignored", channel.key, type(frame).__name__)

    def _close_channel(self, worker: WorkerHandle, channel: TryChannel | None = None) -> None:
        """Stop listening on ``channel`` (the worker's current one by default)."""
        channel = channel or worker.channel
        if channel is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(channel.sock)
        channel.close()
        if worker.channel is channel:
            worker.channel = None

    def _try_ended(self, worker: WorkerHandle, frame: TryEnded) -> None:
        """The worker reaped a try's process: whatever the process sent is in its channel
        by now; without an outcome there, the try failed."""
        workload = worker.workload
        if workload is None or workload.key != (frame.ti_id, frame.try_number):
            return  # its outcome came in already
        channel = worker.channel
        if channel is not None and channel.key == workload.key:
            channel.sock.setblocking(False)
            try:
                while worker.channel is channel:
                    for item in channel.reader.read_available():
                        self._from_channel(worker, channel, item, answering=False)
            except (EOFError, OSError, FrameError):
                pass
            self._close_channel(worker, channel)
        if worker.workload is not workload:
            return  # the outcome was in the channel
        error = frame.error or (
            "Try ended without an outcome: the task process exited without reporting one"
        )
        crash = TaskOutcomeEvent.crash(
            workload, error, worker.started, frame.end_date, pid=frame.pid, hostname=self.hostname
        )
        self._settle(worker, crash)

    def _settle(self, worker: WorkerHandle, outcome: TaskOutcomeEvent) -> None:
        """The worker's try ended with ``outcome``: report it; the worker is free."""
        worker.workload = None
        worker.idle_since = time.monotonic()
        self._close_channel(worker)
        self.owner.finished(outcome)

    def _on_frame(self, worker: WorkerHandle, frame: Frame) -> bool:
        workload = worker.workload
        if isinstance(frame, TryEnded):
            self._try_ended(worker, frame)
        elif isinstance(frame, TaskOutcomeEvent) and workload is not None:
            # From the worker itself: it could not load the task, so nothing was forked.
            if (frame.ti_id, frame.try_number) != workload.key:
                return False
            self._settle(worker, frame)
        elif isinstance(frame, WorkerHeartbeat) and workload is not None:
            self.owner.seen(workload)
        elif isinstance(frame, WorkerReady) and not worker.ready:
            if frame.protocol != PROTOCOL:
                return False
            worker.ready = True
            self._failed_starts = 0
        else:
            return False
        return True

    def _lost(self, worker: WorkerHandle, why: str) -> None:
        """A worker is gone (or must go): reap it and report the try it was running."""
        if worker not in self.workers:
            return
        self.workers.remove(worker)
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(worker.sock)
        self._close_channel(worker)
        worker.kill()
        how = worker.close(wait=5.0)
        stale = worker.pid in self._stale
        self._stale.discard(worker.pid)
        if worker.workload is not None:
            cause = "stopped heartbeating and was killed" if stale else f"died ({how})"
            message = f"Try ended without an outcome: its worker process {worker.pid} {cause}"
            self.owner.finished(
                TaskOutcomeEvent.crash(
                    worker.workload,
                    message,
                    worker.started,
                    datetime.now(UTC),
                    pid=worker.task_pid,
                    hostname=self.hostname,
                )
            )
        elif not worker.ready:
            self._start_failed(f"worker {worker.pid} {how} before it was ready ({why})")
        log.warning("local executor worker %s is gone (%s, %s)", worker.pid, how, why)

    def _shutdown(self, kill: bool) -> None:
        """Stop every worker; with ``kill``, at once, reporting their tries as failed."""
        for worker in self.workers:
            if kill:
                worker.kill()
            else:
                with contextlib.suppress(OSError):
                    worker.send(Shutdown())
        for worker in list(self.workers):
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(worker.sock)
            how = worker.close(wait=5.0)
            self._close_channel(worker)
            if worker.workload is not None:
                self.owner.finished(
                    TaskOutcomeEvent.crash(
                        worker.workload,
                        f"Try ended without an outcome: the executor stopped ({how})",
                        worker.started,
                        datetime.now(UTC),
                        pid=worker.task_pid,
                        hostname=self.hostname,
                    )
                )
        self.workers.clear()
        self.owner.drop_pending()
