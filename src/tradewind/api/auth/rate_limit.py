"""Failed-login limits: after ``limit`` failures within ``window`` seconds for one user name or
from one client address, further login attempts get 429 until the oldest failure ages out.

Counted per API server process; a deployment running several servers behind a balancer gets
a limit per server, which still turns a password-guessing run from millions of tries into a
handful per minute.

>>> limiter = FailedLogins(limit=2, window=60)
>>> limiter.retry_after(["user:ann"], now=0.0) is None
True
>>> limiter.record(["user:ann"], now=1.0); limiter.record(["user:ann"], now=2.0)
>>> limiter.retry_after(["user:ann"], now=3.0)
58
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterable


class FailedLogins:
    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, keys: Iterable[str], now: float | None = None) -> int | None:
        """Seconds until another try is allowed, or ``None`` when it is allowed now."""
        now = time.monotonic() if now is None else now
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if times is not None and len(times) >= self.limit:
                    wait = max(wait, times[-self.limit] + self.window - now)
        return math.ceil(wait) if wait > 0 else None

    def record(self, keys: Iterable[str], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._failures) > 100_000:  # a flood of names: keep memory bounded
                self._failures.clear()
            for key in keys:
                times = self._failures.setdefault(key, deque())
                times.append(now)
                while len(times) > self.limit:
                    times.popleft()
