"""Runs one try in a process forked from the warm worker, and watches it.

Why fork: the worker has already imported Tradewind and the DAG file, so a forked child
starts the task in about a millisecond, and whatever the task does to its process (globals,
threads, leaked memory, a crash) dies with it. The child runs the task runner in its main
thread, so ``execution_timeout`` interrupts even a blocking call with ``SIGALRM``.

The child talks to the executor on the try's own channel (a socket the executor passed
along with the workload): that it started, its service requests, and its outcome. The
supervisor (the worker's only thread) relays nothing; it heartbeats while the try runs and,
once the child has ended, says how (:class:`~tradewind.execution.comms.TryEnded`). The child
writes its exit code to a pipe just before it exits, so the worker takes its next try while
the kernel still tears the old process down (it reaps it after that try); a child
that dies without writing it is watched until it has exited:

- it exited normally, having sent its outcome: nothing more to say;
- it died first (killed, out of memory, crashed): a ``crashed`` failure saying so, also
  written to the try's log;
- it ran past ``execution_timeout`` plus a grace period (blocked where ``SIGALRM`` cannot
  reach it): its process group is killed, and the error says so;
- the executor cancels the try or goes away: the same, and the worker exits with it.

Doing nothing while the child runs is the point: every page the worker touched during a
try would be copied once more, as the child still shares it.

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
    Frame,
    FrameReader,
    Shutdown,
    TryEnded,
    WorkerHeartbeat,
    send_frame,
)
from tradewind.execution.task_log import format_line
from tradewind.execution.task_process import TryPlan, child_main


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


def _exited_cleanly(status: int) -> bool:
    """The child exits with 0 only once it has sent its outcome (see ``child_main``)."""
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


class TrySupervisor:
    """Forks the child for one try and watches it until it ends (see the module docstring).

    ``executor`` is the worker's connection to its executor and ``reader`` its frame reader
    (shared with the worker loop, which may have buffered frames already); ``channel`` is
    the try's own socket to the executor, handed to the child (the supervisor closes its
    copy once it has forked).
    """

    def __init__(
        self,
        plan: TryPlan,
        executor: socket.socket,
        reader: FrameReader,
        settings: SupervisorSettings,
        channel: socket.socket,
    ) -> None:
        self.plan = plan
        self.executor = executor
        self.reader = reader
        self.settings = settings
        self.channel = channel
        #: Set when the executor asked the worker to exit after this try.
        self.shutdown_requested = False
        self._kill_reason: str | None = None
        self._pid = 0
        self._reaped = False

    def run(self) -> None:
        """Run the try to its end and report how its process ended to the executor (the
        outcome itself goes from the child to the executor on ``channel``). Raises
        :class:`ExecutorGone` if the executor went away."""
        w = self.plan.workload
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        done_r, done_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns (coverage cannot see it)
            os.close(done_r)
            child_main(self.plan, self.channel, self.executor.fileno(), parent, done_w)
        os.close(done_w)
        self.channel.close()
        self._pid = pid
        with contextlib.suppress(OSError):  # the child does it too: the first one wins
            os.setpgid(pid, pid)
        try:
            status = self._watch(done_r)
        except BaseException:
            self._kill()
            if not self._reaped:
                self._reap()
            raise
        finally:
            os.close(done_r)
        self._kill()  # anything the try left behind in its process group
        error = None
        if self._kill_reason is not None or not _exited_cleanly(status):
            error = f"Try ended without an outcome: {self._kill_reason or _describe_exit(status)}"
            self.plan.log.write_line(format_line("ERROR", error))
        ended = TryEnded(
            ti_id=w.ti_id, try_number=w.try_number, error=error, pid=pid, end_date=_now()
        )
        try:
            send_frame(self.executor, ended)
        except OSError as err:
            raise ExecutorGone(str(err)) from None

    def _kill(self) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self._pid, signal.SIGKILL)
        if not self._reaped:
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGKILL)

    @property
    def exiting_pid(self) -> int | None:
        """The child, if it reported its exit code and is still being torn down: the
        worker reaps it after its next try."""
        return None if self._reaped or not self._pid else self._pid

    def _reap(self, flags: int = 0) -> int | None:
        """The child's wait status once it has exited (``None`` with ``WNOHANG`` if not)."""
        pid, status = os.waitpid(self._pid, flags)
        if pid == 0:
            return None
        self._reaped = True
        return status

    def _watch(self, done: int) -> int:
        """Watch until the child has exited, or said with which code it exits (on
        ``done``); its wait status."""
        limit = self.plan.task.execution_timeout
        now = time.monotonic()
        kill_at = now + limit.total_seconds() + self.settings.kill_grace if limit else None
        beat_at = now + self.settings.heartbeat_interval
        pidfd = _pidfd(self._pid)
        #: Frames for what comes after this try (the next workload): kept for the worker.
        later: list[Frame] = []
        with selectors.DefaultSelector() as sel:
            sel.register(self.executor, selectors.EVENT_READ, "executor")
            if pidfd is not None:
                sel.register(pidfd, selectors.EVENT_READ, "exit")
            sel.register(done, selectors.EVENT_READ, "done")
            try:
                for frame in self.reader.buffered():
                    self._from_executor(frame, later)
                while True:
                    now = time.monotonic()
                    wait = beat_at - now
                    if kill_at is not None:
                        wait = min(wait, kill_at - now)
                    if pidfd is None:  # no pidfd: poll for the child's exit
                        wait = min(wait, 0.05)
                    exited = False
                    for key, _ in sel.select(max(wait, 0.0)):
                        if key.data == "executor":
                            self._read_executor(later)
                        elif key.data == "done":
                            code = os.read(done, 1)
                            if code and self._kill_reason is None:
                                return code[0] << 8  # as waitpid reports an exit code
                            sel.unregister(done)  # died without a word: wait for the exit
                        else:
                            exited = True
                    status = self._reap(0 if exited else os.WNOHANG)
                    if status is not None:
                        return status
                    now = time.monotonic()
                    if kill_at is not None and now >= kill_at:
                        if self._kill_reason is None:
                            self._kill_reason = (
                                f"killed after execution_timeout ({limit}) plus "
                                f"{self.settings.kill_grace:g}s grace: it did not stop on its own"
                            )
                        self._kill()
                        kill_at = None
                    if now >= beat_at:
                        heartbeat = WorkerHeartbeat(ti_id=self.plan.workload.ti_id)
                        send_frame(self.executor, heartbeat)
                        beat_at = now + self.settings.heartbeat_interval
            finally:
                if pidfd is not None:
                    os.close(pidfd)
                self.reader.push_back(later)

    def _read_executor(self, later: list[Frame]) -> None:
        try:
            frames = self.reader.read_available()
        except (EOFError, OSError) as err:
            self._kill_reason = "the executor went away"
            raise ExecutorGone(str(err)) from None
        for frame in frames:
            self._from_executor(frame, later)

    def _from_executor(self, frame: Frame, later: list[Frame]) -> None:
        if isinstance(frame, Cancel) and frame.ti_id == self.plan.workload.ti_id:
            if self._kill_reason is None:
                self._kill_reason = "cancelled"
            self._kill()
        elif isinstance(frame, Shutdown):
            self.shutdown_requested = True
        else:  # the next workload (sent once the outcome arrived), or a cancel of it
            later.append(frame)
