""":class:`CallableTrigger`: a trigger that polls a user callable asynchronously.

It is the deferrable form of "call this function until it says yes" (what a
``PythonSensor`` does in a worker slot), run in the triggerer instead: the function is
named by its import path, ``package.module.function``, because a trigger is stored as
text and rebuilt in another process, where a function object could not travel.

Every ``poke_interval`` seconds the function is called with ``kwargs``:

* a plain ``def`` runs in the triggerer's thread pool (``asyncio.to_thread``), so it may
  block (a database query, an HTTP request) without stalling the other triggers;
* an ``async def`` is awaited on the event loop, so it must not block.

A truthy result fires the event, with the result as its payload (so it must be a value the
XCom codec stores: JSON types, datetimes, dataclasses, ...); a falsy result (``None``,
``False``, ``0``, ``[]``, ...) means "not yet". An exception from the function fails the
trigger, and so the deferred task, with its traceback. ``timeout`` (seconds) fails it too
when no truthy result came in time; it is counted from when the triggerer started running
the trigger (the task's own deferral ``timeout`` counts from when it deferred).

The function must be importable where the triggerer runs; it is imported when the trigger
is built, so a wrong path fails the task as it defers, not later.

>>> import asyncio
>>> async def first_event(trigger):
...     async for event in trigger.run():
...         return event
>>> trigger = CallableTrigger("os.path.exists", {"path": "/"}, poke_interval=0.1)
>>> asyncio.run(first_event(trigger))
TriggerEvent(True)
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from tradewind.exceptions import TaskDeferralError
from tradewind.serialization import codec
from tradewind.triggers.base import BaseTrigger, TriggerEvent
from tradewind.triggers.serialization import import_object


def _seconds(value: Any, what: str, *, allow_none: bool = False) -> None:
    # >= 0, as the sensors accept (and Airflow): 0 polls back to back, still off the loop.
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(
            f"CallableTrigger's {what} must be a number of seconds >= 0, not {value!r}"
        )


class CallableTrigger(BaseTrigger):
    """Calls the function at ``callable_path`` with ``kwargs`` every ``poke_interval``
    seconds until it returns something truthy, which becomes the event's payload.

    >>> CallableTrigger("shutil.disk_usage", {"path": "/"}).serialize()[1]
    {'callable_path': 'shutil.disk_usage', 'kwargs': {'path': '/'}, 'poke_interval': 5.0, 'timeout': None}
    """  # noqa: E501 -- a doctest output line cannot be wrapped

    def __init__(
        self,
        callable_path: str,
        kwargs: dict[str, Any] | None = None,
        poke_interval: float = 5.0,
        timeout: float | None = None,
    ) -> None:
        if kwargs is not None and not (
            isinstance(kwargs, dict) and all(isinstance(key, str) for key in kwargs)
        ):
            raise TypeError(
                f"CallableTrigger's kwargs must be a dict with string keys, not {kwargs!r}"
            )
        _seconds(poke_interval, "poke_interval")
        _seconds(timeout, "timeout", allow_none=True)
        function = import_object(callable_path)
        if not callable(function):
            raise TypeError(
                f"CallableTrigger's callable_path {callable_path!r} is "
                f"{type(function).__name__} {function!r}, which cannot be called"
            )
        self.callable_path = callable_path
        self.kwargs = dict(kwargs or {})
        self.poke_interval = poke_interval
        self.timeout = timeout
        self._function: Callable[..., Any] = function

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The path, keyword arguments, interval and timeout, under this module's path."""
        return (
            "tradewind.triggers.callable.CallableTrigger",
            {
                "callable_path": self.callable_path,
                "kwargs": self.kwargs,
                "poke_interval": self.poke_interval,
                "timeout": self.timeout,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the function returns something truthy; yield it."""
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            result = await self._call()
            if result:
                yield TriggerEvent(self._storable(result))
                return
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{self.callable_path} returned no truthy result within "
                        f"{self.timeout} s (last result: {result!r})"
                    )
                await asyncio.sleep(min(self.poke_interval, left))
            else:
                await asyncio.sleep(self.poke_interval)

    async def _call(self) -> Any:
        function = self._function
        if inspect.iscoroutinefunction(function):
            return await function(**self.kwargs)
        result = await asyncio.to_thread(function, **self.kwargs)
        if inspect.isawaitable(result):  # e.g. a functools.partial of an async function
            result = await result
        return result

    def _storable(self, result: Any) -> Any:
        # The payload is stored with the XCom codec before the task resumes; failing here
        # names the function, where failing in the service would only name the trigger.
        try:
            codec.encode(result)
        except codec.UnsupportedValueError as exc:
            raise TaskDeferralError(
                f"{self.callable_path} returned a value the event cannot carry: {exc}"
            ) from exc
        return result
