"""Runs one try in a process forked from the warm worker, and watches it.

Why fork: the worker has already imported Tradewind and the DAG file, so a forked child
starts the task in about a millisecond, and whatever the task does to its process (globals,
threads, leaked memory, a crash) dies with it. The child runs the task runner in its main
thread, so ``execution_timeout`` interrupts even a blocking call with ``SIGALRM``.

The supervisor (the worker's only thread) relays the child's service requests to the
executor and the answers back, heartbeats while the try runs, and decides how the try ended:

- the child sent its :class:`~tradewind.executors.workload.TaskOutcomeEvent`: that is the
  outcome;
- the child died first (killed, out of memory, crashed): a ``crashed`` failure saying so;
- it ran past ``execution_timeout`` plus a grace period (blocked where ``SIGALRM`` cannot
  reach it): its process group is killed, and the outcome says so;
- the executor cancels the try or goes away: the same, and the worker exits with it.

The child itself is :mod:`tradewind.execution.task_process`.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from tradewind.execution.comms import (
    Cancel,
    FrameReader,
    ServiceRequest,
    ServiceResponse,
    Shutdown,
    WorkerHeartbeat,
    send_frame,
)
from tradewind.execution.task_log import format_line
from tradewind.execution.task_process import TryPlan, child_main
from tradewind.executors.workload import TaskOutcomeEvent, TaskStartedEvent

#: Seconds a child that has sent its outcome gets to exit before it is killed.
_EXIT_GRACE = 5.0


class ExecutorGone(Exception):
    """The executor closed its end: the worker must stop."""


@dataclass
class SupervisorSettings:
    #: Seconds after ``execution_timeout`` before the supervisor kills the try itself.
    kill_grace: float = 5.0
    #: Seconds between heartbeats to the executor while a try runs.
    heartbeat_interval: float = 5.0


def _now() -> datetime:
    return datetime.now(UTC)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux, or an old kernel
        return None


def _describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        hint = " (killed from outside, or out of memory)" if sig == signal.SIGKILL else ""
        return f"the task process died with signal {name}{hint}"
    return f"the task process exited with code {os.waitstatus_to_exitcode(status)}"


class TrySupervisor:
    """Forks the child for one try and watches it until it ends (see the module docstring).

    ``executor`` is the worker's connection to its executor and ``reader`` its frame reader
    (shared with the worker loop, which may have buffered frames already).
    """

    def __init__(
        self,
        plan: TryPlan,
        executor: socket.socket,
        reader: FrameReader,
        settings: SupervisorSettings,
    ) -> None:
        self.plan = plan
        self.executor = executor
        self.reader = reader
        self.settings = settings
        #: Set when the executor asked the worker to exit after this try.
        self.shutdown_requested = False
        self._result: TaskOutcomeEvent | None = None
        self._kill_reason: str | None = None
        self._pid = 0
        self._reaped = False

    def run(self) -> None:
        """Run the try to its end and report its outcome to the executor (as soon as the
        child sends it: the child's exit is not waited for). Raises :class:`ExecutorGone`
        if the executor went away."""
        w = self.plan.workload
        ours, theirs = socket.socketpair()
        sys.stdout.flush()
        sys.stderr.flush()
        started = _now()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns (coverage cannot see it)
            ours.close()
            child_main(self.plan, theirs, self.executor.fileno(), parent)
        theirs.close()
        self._pid = pid
        with contextlib.suppress(OSError):  # the child does it too: the first one wins
            os.setpgid(pid, pid)
        try:
            send_frame(
                self.executor,
                TaskStartedEvent(
                    ti_id=w.ti_id,
                    try_number=w.try_number,
                    start_date=started,
                    pid=pid,
                    hostname=self.plan.hostname,
                ),
            )
            status = self._watch(ours)
        except BaseException:
            self._kill()
            if not self._reaped:
                self._reap()
            raise
        finally:
            ours.close()
        self._kill()  # anything the try left behind in its process group
        if self._result is not None:
            return
        reason = self._kill_reason or _describe_exit(status)
        message = f"Try ended without an outcome: {reason}"
        self.plan.log.write_line(format_line("ERROR", message))
        event = TaskOutcomeEvent.crash(
            w, message, started, _now(), pid=pid, hostname=self.plan.hostname
        )
        try:
            send_frame(self.executor, event)
        except OSError as err:
            raise ExecutorGone(str(err)) from None

    def _kill(self) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self._pid, signal.SIGKILL)
        if not self._reaped:
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGKILL)

    def _reap(self, flags: int = 0) -> int | None:
        """The child's wait status once it has exited (``None`` with ``WNOHANG`` if not)."""
        pid, status = os.waitpid(self._pid, flags)
        if pid == 0:
            return None
        self._reaped = True
        return status

    def _watch(self, child: socket.socket) -> int:
        """Relay and watch until the child has exited; its wait status."""
        limit = self.plan.task.execution_timeout
        now = time.monotonic()
        kill_at = now + limit.total_seconds() + self.settings.kill_grace if limit else None
        beat_at = now + self.settings.heartbeat_interval
        child_reader = FrameReader(child)
        pidfd = _pidfd(self._pid)
        reading_executor = True
        with selectors.DefaultSelector() as sel:
            sel.register(child, selectors.EVENT_READ, "child")
            sel.register(self.executor, selectors.EVENT_READ, "executor")
            if pidfd is not None:
                sel.register(pidfd, selectors.EVENT_READ, "exit")
            try:
                for frame in self.reader.buffered():
                    self._from_executor(frame, child)
                while True:
                    if self._result is not None and reading_executor:
                        # Reported: frames from the executor now belong to the next try and
                        # are read after reaping. The child's os._exit is all that is left.
                        sel.unregister(self.executor)
                        reading_executor = False
                        kill_at = time.monotonic() + _EXIT_GRACE
                    now = time.monotonic()
                    wait = beat_at - now
                    if kill_at is not None:
                        wait = min(wait, kill_at - now)
                    if pidfd is None:  # no pidfd: poll for the child's exit
                        wait = min(wait, 0.05)
                    exited = False
                    for key, _ in sel.select(max(wait, 0.0)):
                        if key.data == "child":
                            if not self._from_child(child_reader):
                                sel.unregister(child)
                        elif key.data == "executor":
                            self._read_executor(child)
                        else:
                            exited = True
                    status = self._reap(0 if exited else os.WNOHANG)
                    if status is not None:
                        self._drain(child_reader)
                        return status
                    now = time.monotonic()
                    if kill_at is not None and now >= kill_at:
                        if self._result is None and self._kill_reason is None:
                            self._kill_reason = (
                                f"killed after execution_timeout ({limit}) plus "
                                f"{self.settings.kill_grace:g}s grace: it did not stop on its own"
                            )
                        self._kill()
                        kill_at = None
                    if now >= beat_at:
                        if reading_executor:
                            heartbeat = WorkerHeartbeat(ti_id=self.plan.workload.ti_id)
                            send_frame(self.executor, heartbeat)
                        beat_at = now + self.settings.heartbeat_interval
            finally:
                if pidfd is not None:
                    os.close(pidfd)

    def _read_executor(self, child: socket.socket) -> None:
        try:
            frames = self.reader.read_available()
        except (EOFError, OSError) as err:
            self._kill_reason = "the executor went away"
            raise ExecutorGone(str(err)) from None
        for frame in frames:
            self._from_executor(frame, child)

    def _from_child(self, reader: FrameReader) -> bool:
        """Handle what the child sent; ``False`` once it closed its end."""
        try:
            frames = reader.read_available()
        except (EOFError, OSError):
            return False
        for frame in frames:
            if isinstance(frame, ServiceRequest):
                send_frame(self.executor, frame)
            elif isinstance(frame, TaskOutcomeEvent) and self._result is None:
                self._result = frame
                try:
                    send_frame(self.executor, frame)
                except OSError as err:
                    raise ExecutorGone(str(err)) from None
        return True

    def _drain(self, reader: FrameReader) -> None:
        reader.sock.setblocking(False)
        try:
            while self._from_child(reader):
                pass
        except BlockingIOError:
            pass

    def _from_executor(self, frame: object, child: socket.socket) -> None:
        if isinstance(frame, ServiceResponse):
            with contextlib.suppress(OSError):  # a child that is gone is handled on its exit
                send_frame(child, frame)
        elif isinstance(frame, Cancel) and frame.ti_id == self.plan.workload.ti_id:
            if self._kill_reason is None:
                self._kill_reason = "cancelled"
            self._kill()
        elif isinstance(frame, Shutdown):
            self.shutdown_requested = True
