"""CallableTrigger: polls a function named by import path (sync ones in a worker thread,
async ones awaited) until it returns something truthy, which becomes the payload."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import pytest

from tradewind.exceptions import TaskDeferralError
from tradewind.triggers.base import BaseTrigger, TriggerEvent
from tradewind.triggers.callable import CallableTrigger

CALLS: Counter[str] = Counter()
THREADS: dict[str, str] = {}
NOT_CALLABLE = 42


def ready_on_third_call(key: str) -> dict[str, Any] | None:
    """Falsy twice (None, then {}), then a truthy dict."""
    CALLS[key] += 1
    THREADS[key] = threading.current_thread().name
    if CALLS[key] == 1:
        return None
    if CALLS[key] == 2:
        return {}
    return {"rows": 3, "key": key}


async def async_ready_on_second_call(key: str) -> list[int]:
    CALLS[key] += 1
    await asyncio.sleep(0)
    return [] if CALLS[key] == 1 else [1, 2]


def never_ready() -> bool:
    return False


def broken() -> bool:
    raise RuntimeError("the source is down")


def returns_a_lock() -> object:
    return threading.Lock()


def path(name: str) -> str:
    return f"{__name__}.{name}"


async def first_event(trigger: BaseTrigger, timeout: float = 2.0) -> TriggerEvent:
    events: Any = trigger.run()
    try:
        return await asyncio.wait_for(anext(events), timeout)
    finally:
        await events.aclose()


def test_a_sync_callable_is_polled_in_a_worker_thread_until_truthy() -> None:
    trigger = CallableTrigger(path("ready_on_third_call"), {"key": "sync"}, poke_interval=0.01)
    event = asyncio.run(first_event(trigger))
    assert event == TriggerEvent({"rows": 3, "key": "sync"})
    assert CALLS["sync"] == 3
    assert THREADS["sync"] != threading.current_thread().name  # not on the event loop


def test_an_async_callable_is_awaited_until_truthy() -> None:
    trigger = CallableTrigger(
        path("async_ready_on_second_call"), {"key": "async"}, poke_interval=0.01
    )
    assert asyncio.run(first_event(trigger)) == TriggerEvent([1, 2])
    assert CALLS["async"] == 2


def test_an_exception_from_the_callable_fails_the_trigger() -> None:
    trigger = CallableTrigger(path("broken"), poke_interval=0.01)
    with pytest.raises(RuntimeError, match="the source is down"):
        asyncio.run(first_event(trigger))


def test_timeout_fails_the_trigger_when_nothing_truthy_came() -> None:
    trigger = CallableTrigger(path("never_ready"), poke_interval=0.01, timeout=0.05)
    with pytest.raises(TimeoutError, match=r"never_ready returned no truthy result within 0.05 s"):
        asyncio.run(first_event(trigger))


def test_a_result_the_event_cannot_carry_is_a_clear_error() -> None:
    trigger = CallableTrigger(path("returns_a_lock"), poke_interval=0.01)
    with pytest.raises(TaskDeferralError, match="returns_a_lock returned a value the event"):
        asyncio.run(first_event(trigger))


def test_serializes_its_arguments() -> None:
    trigger = CallableTrigger(path("never_ready"), {"a": 1}, poke_interval=3, timeout=60)
    assert trigger.serialize() == (
        "tradewind.triggers.callable.CallableTrigger",
        {"callable_path": path("never_ready"), "kwargs": {"a": 1}, "poke_interval": 3,
         "timeout": 60},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("callable_path", "message"),
    [
        ("no_such_package_xyz.check", "no module named 'no_such_package_xyz'"),
        (f"{__name__}.missing", f"{__name__!r} has no attribute 'missing'"),
        ("check", "not a dotted import path"),
        ("os.path.", "not a dotted import path"),
    ],
)
def test_a_path_that_does_not_import_is_refused(callable_path: str, message: str) -> None:
    with pytest.raises(ImportError, match=message):
        CallableTrigger(callable_path)


def test_a_path_to_something_not_callable_is_refused() -> None:
    with pytest.raises(TypeError, match="NOT_CALLABLE' is int 42, which cannot be called"):
        CallableTrigger(path("NOT_CALLABLE"))


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"kwargs": [1]}, TypeError, "kwargs must be a dict with string keys"),
        ({"kwargs": {1: 2}}, TypeError, "kwargs must be a dict with string keys"),
        ({"poke_interval": -1}, ValueError, "poke_interval must be a number of seconds >= 0"),
        ({"timeout": "60"}, ValueError, "timeout must be a number of seconds >= 0"),
    ],
)
def test_bad_arguments_are_refused(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        CallableTrigger(path("never_ready"), **arguments)
