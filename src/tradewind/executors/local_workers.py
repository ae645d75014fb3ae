"""The executor's handle on one worker process of the local pool.

A worker is a fresh interpreter (``python -m tradewind.execution.worker FD``) started once,
with one end of a socket pair as its only channel: it inherits nothing of the scheduler's
state (DB connections, threads, locks), which a plain ``fork`` of the scheduler would.
Whatever it runs, it forks from itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tradewind.execution.comms import FrameReader, send_frame
from tradewind.executors.workload import ExecuteTask, Message

# Workers import this same Tradewind, however this process found it (without changing the
# PYTHONPATH their tasks' subprocesses would see).
_HERE = str(Path(__file__).resolve().parents[2])
_BOOT = (
    f"import sys; p = {_HERE!r}; sys.path.insert(0, p) if p not in sys.path else None; "
    "from tradewind.execution.worker import main; sys.exit(main())"
)


@dataclass
class TryChannel:
    """The executor's end of one try's socket to its task process (requests, outcome)."""

    key: tuple[str, int]
    sock: socket.socket
    reader: FrameReader

    @classmethod
    def open(cls, key: tuple[str, int]) -> tuple[TryChannel, socket.socket]:
        """A new channel, and the other end to hand to the worker (to close once sent)."""
        ours, theirs = socket.socketpair()
        return cls(key, ours, FrameReader(ours)), theirs

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


@dataclass
class WorkerHandle:
    proc: subprocess.Popen[bytes]
    sock: socket.socket
    reader: FrameReader
    #: Set once the worker said it is ready.
    ready: bool = False
    workload: ExecuteTask | None = None
    started: datetime | None = None
    #: The task process running ``workload`` (from its started event).
    task_pid: int | None = None
    #: The executor's end of the running try's own channel to its task process.
    channel: TryChannel | None = None
    last_seen: float = field(default_factory=time.monotonic)
    #: When it last finished a try (it may still be reaping that try's process for a moment).
    idle_since: float = 0.0
    spawned_at: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def idle(self) -> bool:
        return self.ready and self.workload is None

    @classmethod
    def spawn(cls, env: dict[str, str]) -> WorkerHandle:
        ours, theirs = socket.socketpair()
        try:
            fd = theirs.fileno()
            proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(fd)],
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return cls(proc=proc, sock=ours, reader=FrameReader(ours))

    def send(self, frame: Message, fds: tuple[int, ...] = ()) -> None:
        send_frame(self.sock, frame, fds)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.send_signal(signal.SIGKILL)

    def close(self, wait: float = 5.0) -> str:
        """Close the channel and reap the process (killing it after ``wait`` seconds).
        Returns how it ended, for messages."""
        with contextlib.suppress(OSError):
            self.sock.close()
        try:
            code = self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.wait()
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            return f"killed by {name}"
        return f"exit code {code}"


def worker_env(kill_grace: float, heartbeat_interval: float) -> dict[str, str]:
    """The environment workers start with: ours, plus the executor's settings."""
    env = dict(os.environ)
    env["TRADEWIND__LOCAL_EXECUTOR__KILL_GRACE"] = repr(kill_grace)
    env["TRADEWIND__LOCAL_EXECUTOR__HEARTBEAT_INTERVAL"] = repr(heartbeat_interval)
    return env
