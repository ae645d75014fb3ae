"""Stopping a task that runs past its ``execution_timeout``.

In a process's main thread (workers run each try in one) a ``SIGALRM`` timer raises
:class:`~tradewind.exceptions.TradewindTaskTimeout` inside the task at once, even in a
blocking call, and the operator's ``on_kill`` runs once it has (as Airflow does). In any
other thread (``dags test`` runs independent tasks in threads) the exception is delivered
asynchronously into the task's thread and ``on_kill`` runs at once, so it can stop
subprocesses; pure-Python code stops at once, a blocking C call when it returns.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from tradewind.exceptions import TradewindTaskTimeout


@contextlib.contextmanager
def execution_timeout(
    seconds: float | None, on_kill: Callable[[], None] | None = None
) -> Iterator[None]:
    """Raise :class:`TradewindTaskTimeout` in this block after ``seconds``."""
    if not seconds or seconds <= 0:
        yield
        return
    message = f"Timeout, task ran longer than {seconds:g} seconds"
    if threading.current_thread() is threading.main_thread():

        def on_alarm(signum: int, frame: Any) -> None:
            raise TradewindTaskTimeout(message)

        previous = signal.signal(signal.SIGALRM, on_alarm)
        outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
        started = time.monotonic()
        try:
            yield
        except TradewindTaskTimeout:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if on_kill is not None:
                with contextlib.suppress(Exception):
                    on_kill()
            raise
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            if outer_delay > 0:
                # An enclosing alarm (a test runner's, a caller's) keeps its deadline.
                left = max(outer_delay - (time.monotonic() - started), 0.001)
                signal.setitimer(signal.ITIMER_REAL, left, outer_interval)
        return

    target = threading.get_ident()
    done = threading.Event()
    # Held while injecting, and while marking the block finished, so the exception can
    # never land in code after the block.
    guard = threading.Lock()

    def fire() -> None:
        with guard:
            if done.is_set():
                return
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(target), ctypes.py_object(TradewindTaskTimeout)
            )
        if on_kill is not None:
            with contextlib.suppress(Exception):
                on_kill()

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    except TradewindTaskTimeout:
        raise TradewindTaskTimeout(message) from None
    finally:
        timer.cancel()
        with guard:
            done.set()
