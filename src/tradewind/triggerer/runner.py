""":class:`TriggerRunner`: many triggers, one asyncio event loop, one thread.

The triggerer service owns the metadata DB side (which triggers are assigned to it, what
to do with an event); this module owns only running them. A trigger costs one asyncio task
and whatever its ``run`` holds, never a thread, so a single runner waits on thousands.

The loop runs in its own thread (uvloop's when installed), and the service talks to it
from its own thread through a few thread-safe calls: :meth:`~TriggerRunner.add` and
:meth:`~TriggerRunner.cancel` queue work for the loop; results are collected and handed
over by :meth:`~TriggerRunner.drain`; the ``wakeup`` hook tells the service there is
something to drain, so it need not poll.

A trigger that blocks the loop (``time.sleep``, a synchronous client) stalls every other
trigger. A watchdog task notices the loop falling behind and logs a warning on the
``tradewind.triggerer`` logger naming the trigger(s) whose steps took the time, found by
timing each step of each trigger's task (two clock reads per step).

>>> import threading
>>> from datetime import timedelta
>>> from tradewind.triggers.temporal import TimeDeltaTrigger
>>> ready = threading.Event()
>>> runner = TriggerRunner(wakeup=ready.set)
>>> runner.start()
>>> runner.add(1, TimeDeltaTrigger(timedelta(milliseconds=10)))
>>> ready.wait(5)
True
>>> [(result.trigger_id, result.error) for result in runner.drain()]
[(1, None)]
>>> runner.stop()
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable, Coroutine, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tradewind.triggers.base import BaseTrigger, TriggerEvent

log = logging.getLogger("tradewind.triggerer")

NO_EVENT = "trigger exited without an event"


@dataclass(frozen=True, slots=True)
class TriggerResult:
    """How a trigger ended: its first ``event``, or an ``error`` (a traceback, or why it
    ended without an event). Exactly one of the two is set."""

    trigger_id: int
    event: TriggerEvent | None
    error: str | None


class _Entry:
    """One trigger given to the runner, from :meth:`TriggerRunner.add` until it ends."""

    __slots__ = ("cleaning", "task", "trigger", "trigger_id")

    def __init__(self, trigger_id: int, trigger: BaseTrigger) -> None:
        self.trigger_id = trigger_id
        self.trigger = trigger
        self.task: asyncio.Task[None] | None = None
        self.cleaning = False  # past run(): stopping, only cleanup left; not cancelled

    def describe(self) -> str:
        try:
            text = repr(self.trigger)
        except Exception:  # a broken serialize() must not break the warning about it
            text = type(self.trigger).__qualname__
        return f"trigger {self.trigger_id} {text}"


class _Timed(Coroutine[Any, Any, None]):
    """Wraps a trigger's coroutine so each step (each resumption by the loop) is timed;
    asyncio drives any :class:`~collections.abc.Coroutine` through ``send``/``throw``."""

    __slots__ = ("_coro", "_entry", "_runner")

    def __init__(
        self, coro: Coroutine[Any, Any, None], entry: _Entry, runner: TriggerRunner
    ) -> None:
        self._coro = coro
        self._entry = entry
        self._runner = runner

    def send(self, value: Any) -> Any:
        start = time.perf_counter()
        try:
            return self._coro.send(value)
        finally:
            self._runner._timed_step(self._entry, time.perf_counter() - start)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        start = time.perf_counter()
        try:
            if val is None and tb is None:
                return self._coro.throw(typ)
            return self._coro.throw(typ, val, tb)
        finally:
            self._runner._timed_step(self._entry, time.perf_counter() - start)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, None]:
        return self._coro.__await__()


class TriggerRunner:
    """Runs triggers concurrently on one event loop in a thread of its own.

    ``wakeup`` is called, from the loop's thread, when results become available (when
    the undrained results go from none to some), so it must be quick and thread-safe:
    ``threading.Event.set``, a write to a pipe, ``loop.call_soon_threadsafe``. With an
    event, clear it *before* draining, or a result landing in between goes unannounced.
    ``block_threshold`` is how far (seconds) the loop may fall behind before the watchdog,
    which checks every ``watchdog_interval`` seconds, warns.

    A service keeps the runner in step with what it was assigned by adding
    ``wanted - running_ids()`` and cancelling ``running_ids() - wanted``; an id whose
    result is still waiting to be drained is ignored by :meth:`add`, so a trigger that
    fires during that step is not started again.

    >>> runner = TriggerRunner()
    >>> runner.running_ids()
    set()
    """

    def __init__(
        self,
        wakeup: Callable[[], None] | None = None,
        *,
        block_threshold: float = 0.2,
        watchdog_interval: float = 0.1,
    ) -> None:
        if not block_threshold > 0 or not watchdog_interval > 0:
            raise ValueError("block_threshold and watchdog_interval must be > 0 seconds")
        self._wakeup = wakeup
        self._block_threshold = block_threshold
        self._watchdog_interval = watchdog_interval
        # Steps shorter than this are not worth naming in a blocking warning.
        self._slow_step = block_threshold / 4
        self._lock = threading.Lock()
        self._entries: dict[int, _Entry] = {}
        self._results: dict[int, TriggerResult] = {}
        self._ops: list[tuple[bool, _Entry]] = []  # (is_add, entry), in call order
        self._flush_scheduled = False
        self._state = "new"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop_requested: asyncio.Event | None = None
        self._stop_timeout = 5.0
        # Loop thread only:
        self._live: dict[asyncio.Task[None], _Entry] = {}
        self._slow: dict[_Entry, float] = {}

    # -- the service's side (any thread) ---------------------------------------------------

    def start(self) -> None:
        """Start the loop thread; returns once it is ready to run triggers."""
        with self._lock:
            if self._state != "new":
                raise RuntimeError(f"this TriggerRunner is {self._state}; start it only once")
            self._state = "starting"
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._thread_main, args=(ready,), name="tradewind-triggerer", daemon=True
        )
        self._thread.start()
        ready.wait()

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel every trigger, let each run its ``cleanup()``, and end the loop thread,
        waiting at most ``timeout`` seconds. Results not drained yet stay drainable."""
        with self._lock:
            state, self._state = self._state, "stopped"
            self._entries.clear()
            self._ops.clear()
        if state != "running" or self._loop is None or self._stop_requested is None:
            return
        self._stop_timeout = timeout
        self._loop.call_soon_threadsafe(self._stop_requested.set)
        assert self._thread is not None
        self._thread.join(timeout + 1.0)
        if self._thread.is_alive():
            log.warning("the trigger runner's loop did not stop within %.1f s", timeout)

    def add(self, trigger_id: int, trigger: BaseTrigger) -> None:
        """Start running ``trigger`` as ``trigger_id``. A no-op when that id is running
        already, or has a result waiting in :meth:`drain`."""
        if isinstance(trigger_id, bool) or not isinstance(trigger_id, int):
            raise TypeError(f"trigger_id must be an int, not {trigger_id!r}")
        if not isinstance(trigger, BaseTrigger):
            raise TypeError(
                f"trigger {trigger_id} must be a tradewind.triggers.base.BaseTrigger, not "
                f"{type(trigger).__qualname__}"
            )
        with self._lock:
            if self._state == "stopped":
                raise RuntimeError("this TriggerRunner is stopped; it cannot run triggers")
            if trigger_id in self._entries or trigger_id in self._results:
                return
            entry = _Entry(trigger_id, trigger)
            self._entries[trigger_id] = entry
            self._queue(True, entry)

    def cancel(self, trigger_id: int) -> None:
        """Stop running ``trigger_id`` (its ``cleanup()`` still runs) and forget any result
        of it not drained yet. A no-op for an unknown id."""
        with self._lock:
            self._results.pop(trigger_id, None)
            entry = self._entries.pop(trigger_id, None)
            if entry is not None:
                self._queue(False, entry)

    def running_ids(self) -> set[int]:
        """The ids added and not yet ended (nor cancelled)."""
        with self._lock:
            return set(self._entries)

    def drain(self) -> list[TriggerResult]:
        """Hand over the results collected since the last call, in the order they came."""
        with self._lock:
            results = list(self._results.values())
            self._results.clear()
        return results

    def _queue(self, is_add: bool, entry: _Entry) -> None:
        # Called with the lock held. One wakeup of the loop per batch of calls, not per call.
        self._ops.append((is_add, entry))
        if self._loop is not None and self._state == "running" and not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon_threadsafe(self._flush)

    # -- the loop's side -------------------------------------------------------------------

    def _thread_main(self, ready: threading.Event) -> None:
        loop = _new_loop()
        asyncio.set_event_loop(loop)
        executor = ThreadPoolExecutor(
            max_workers=min(32, (os.cpu_count() or 1) + 4), thread_name_prefix="tradewind-trigger"
        )
        loop.set_default_executor(executor)
        try:
            loop.run_until_complete(self._main(ready))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            ready.set()  # never leave start() waiting, even if the loop failed to start
            executor.shutdown(wait=False, cancel_futures=True)
            asyncio.set_event_loop(None)
            loop.close()

    async def _main(self, ready: threading.Event) -> None:
        self._stop_requested = asyncio.Event()
        watchdog = asyncio.create_task(self._watchdog(), name="tradewind-triggerer-watchdog")
        with self._lock:
            self._loop = asyncio.get_running_loop()
            if self._state == "starting":
                self._state = "running"
            if self._ops:
                self._flush_scheduled = True
                self._loop.call_soon(self._flush)
        ready.set()
        await self._stop_requested.wait()
        watchdog.cancel()
        await self._shutdown()

    def _flush(self) -> None:
        with self._lock:
            ops, self._ops = self._ops, []
            self._flush_scheduled = False
        loop = asyncio.get_running_loop()
        for is_add, entry in ops:
            if is_add:
                task = loop.create_task(
                    _Timed(self._run(entry), entry, self), name=f"trigger-{entry.trigger_id}"
                )
                entry.task = task
                self._live[task] = entry
                task.add_done_callback(self._forget)
            elif entry.task is not None and not entry.cleaning:
                entry.task.cancel()

    async def _run(self, entry: _Entry) -> None:
        trigger = entry.trigger
        events: Any = None
        try:
            events = trigger.run()
            if not hasattr(events, "__anext__"):
                if asyncio.iscoroutine(events):
                    events.close()  # never awaited: close it, or Python warns
                self._finish(entry, None, _not_a_generator(trigger, events))
                return
            try:
                event = await events.__anext__()
            except StopAsyncIteration:
                self._finish(entry, None, NO_EVENT)
            else:
                if isinstance(event, TriggerEvent):
                    self._finish(entry, event, None)
                else:
                    self._finish(entry, None, f"trigger yielded {event!r}, not a TriggerEvent")
        except asyncio.CancelledError:
            raise
        except Exception:
            self._finish(entry, None, traceback.format_exc())
        finally:
            entry.cleaning = True
            await self._clean_up(entry, events)

    async def _clean_up(self, entry: _Entry, events: Any) -> None:
        # The generator is closed first so its own finally blocks run before cleanup().
        try:
            if hasattr(events, "aclose"):
                await events.aclose()
            await entry.trigger.cleanup()
        except Exception:
            log.exception("cleaning up %s failed", entry.describe())

    def _finish(self, entry: _Entry, event: TriggerEvent | None, error: str | None) -> None:
        with self._lock:
            if self._entries.get(entry.trigger_id) is not entry:
                return  # cancelled (or the runner stopped) meanwhile: nobody wants this result
            del self._entries[entry.trigger_id]
            first = not self._results
            self._results[entry.trigger_id] = TriggerResult(entry.trigger_id, event, error)
        if first and self._wakeup is not None:
            try:
                self._wakeup()
            except Exception:
                log.exception("the trigger runner's wakeup hook failed")

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._live.pop(task, None)

    async def _shutdown(self) -> None:
        for task, entry in self._live.items():
            if not entry.cleaning:  # cancelling a cleanup would leave it half done
                task.cancel()
        if self._live:
            _, late = await asyncio.wait(set(self._live), timeout=self._stop_timeout)
            if late:
                log.warning(
                    "%d trigger(s) did not finish cleaning up within %.1f s of stopping",
                    len(late),
                    self._stop_timeout,
                )

    def _timed_step(self, entry: _Entry, seconds: float) -> None:
        if seconds > self._slow_step:
            self._slow[entry] = self._slow.get(entry, 0.0) + seconds

    async def _watchdog(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self._watchdog_interval
        while True:
            before = loop.time()
            await asyncio.sleep(interval)
            lag = loop.time() - before - interval
            slow, self._slow = self._slow, {}
            # The lag misses the part of a block that fell within the sleep itself; the
            # longest timed step does not, so the larger of the two is reported.
            blocked = max(lag, max(slow.values(), default=0.0))
            if blocked > self._block_threshold:
                self._warn_blocked(blocked, slow)

    def _warn_blocked(self, lag: float, slow: dict[_Entry, float]) -> None:
        if slow:
            ranked = sorted(slow.items(), key=lambda item: item[1], reverse=True)
            culprits = "; ".join(f"{entry.describe()} for {s:.2f} s" for entry, s in ranked)
        else:
            culprits = "no single trigger ran long (many short steps, or code outside triggers)"
        log.warning(
            "the triggerer's event loop was blocked for %.2f s, delaying every trigger; "
            "running then: %s. Triggers must not block: use await asyncio.sleep, async "
            "clients, or asyncio.to_thread for blocking calls",
            lag,
            culprits,
        )


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def _not_a_generator(trigger: BaseTrigger, returned: object) -> str:
    return (
        f"{type(trigger).__qualname__}.run() returned {type(returned).__name__}, not an "
        "async generator: write it as 'async def run(self)' that yields TriggerEvent(...)"
    )
