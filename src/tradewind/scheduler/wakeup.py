"""Waking a local scheduler at once when a run is created or tasks are cleared.

The scheduler sleeps until its executor reports or its next deadline; a run made by the CLI
or the API would otherwise wait up to a second. A scheduler on this machine listens on a
Unix datagram socket in ``$TRADEWIND_HOME``; :func:`notify` sends it one byte. It is a hint
only: if nobody listens, nothing happens, and the scheduler's next pass finds the run.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path


def socket_path() -> Path:
    from tradewind import config

    return config.home() / "scheduler.sock"


def notify() -> bool:
    """Nudge a local scheduler; ``True`` if one was listening."""
    path = socket_path()
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(b"!", str(path))
        except OSError:
            return False
    return True


class WakeupListener:
    """Calls ``on_wake`` whenever :func:`notify` is called on this machine."""

    def __init__(self, on_wake: Callable[[], None]) -> None:
        self.on_wake = on_wake
        self.path = socket_path()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(self.path))
        sock.settimeout(0.5)
        os.chmod(self.path, 0o600)
        self._sock = sock
        self._thread = threading.Thread(target=self._listen, name="scheduler-wakeup", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._stopping.is_set():
            try:
                sock.recv(16)
            except TimeoutError:
                continue
            except OSError:
                return
            self.on_wake()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
