"""Reschedules and deferrals where there is no scheduler or triggerer (``dags test``,
``tasks test``): the wait happens here, in the calling thread, and the try goes on.

A sensor in ``reschedule`` mode sleeps until its reschedule date and pokes again (the same
try, one reschedule more, its timeout counted from the first poke). A deferred task's
trigger is rebuilt from what would be stored (so a trigger that could not be stored fails
here too), run on an asyncio loop until its first event or the deferral's timeout, and the
task resumes at its method with the event, as the triggerer would make it.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tradewind.execution.runner import END_METHOD, FAIL_METHOD, Resume, TryOutcome
from tradewind.executors.workload import DeferralInfo
from tradewind.states import TaskInstanceState
from tradewind.triggers.base import BaseTaskEndEvent

#: Runs one try with the given ``resume``, ``first_reschedule_date`` and
#: ``reschedule_count`` keyword arguments (everything else bound by the caller).
TryFunction = Callable[..., TryOutcome]


def run_waiting_in_process(run_try: TryFunction, task: Any = None) -> TryOutcome:
    """Run a try through its reschedules and deferrals; the outcome that ends it. A
    ``task`` with ``start_from_trigger`` waits for its start trigger first, as in the
    service, and its first run is at the trigger's ``next_method``."""
    resume: Resume | None = None
    start = start_deferral(task) if task is not None else None
    if start is not None:
        resume = wait_for_trigger(start)
    first_poke: datetime | None = None
    reschedules = 0
    while True:
        outcome = run_try(
            resume=resume, first_reschedule_date=first_poke, reschedule_count=reschedules
        )
        if outcome.state is TaskInstanceState.UP_FOR_RESCHEDULE:
            first_poke = first_poke or outcome.start_date
            reschedules += 1
            resume = None
            _sleep_until(outcome.reschedule_date)
            continue
        if outcome.state is TaskInstanceState.DEFERRED and outcome.deferral is not None:
            resume = wait_for_trigger(outcome.deferral)
            continue
        return outcome


def start_deferral(task: Any) -> DeferralInfo | None:
    """What a task with ``start_from_trigger`` waits for before its first run, else None."""
    from datetime import timedelta

    from tradewind.serialization.start_trigger import start_trigger_of

    start = start_trigger_of(task)
    if start is None:
        return None
    timeout = start["timeout"]
    return DeferralInfo(
        trigger_classpath=start["trigger_cls"],
        trigger_kwargs=start["trigger_kwargs"],
        next_method=start["next_method"],
        next_kwargs=start["next_kwargs"],
        timeout_at=None if timeout is None else datetime.now(UTC) + timedelta(seconds=timeout),
    )


def wait_for_trigger(deferral: DeferralInfo) -> Resume:
    """Run the deferral's trigger here until its first event; how the task resumes."""
    from tradewind.serialization import codec
    from tradewind.triggers.serialization import load_trigger

    next_kwargs = dict(codec.decode(deferral.next_kwargs) or {})
    try:
        trigger = load_trigger(deferral.trigger_classpath, deferral.trigger_kwargs)
        timeout = None
        if deferral.timeout_at is not None:
            timeout = max(0.0, (deferral.timeout_at - datetime.now(UTC)).total_seconds())
        event = asyncio.run(_first_event(trigger, timeout))
    except TimeoutError:
        return Resume(FAIL_METHOD, {"error": "Trigger/execution timeout", "timeout": True})
    except Exception as err:
        text = "".join(traceback.format_exception(err))
        return Resume(FAIL_METHOD, {"error": f"Trigger failure:\n{text}"})
    if isinstance(event, BaseTaskEndEvent):  # the trigger ends the task itself
        return Resume(END_METHOD, {"state": event.task_state, "xcoms": event.xcoms})
    return Resume(deferral.next_method, {**next_kwargs, "event": event.payload})


async def _first_event(trigger: Any, timeout: float | None) -> Any:
    async def first() -> Any:
        try:
            async for event in trigger.run():
                return event
        finally:
            await trigger.cleanup()
        raise RuntimeError("the trigger exited without an event")

    return await asyncio.wait_for(first(), timeout)


def _sleep_until(when: datetime | None) -> None:
    if when is None:
        return
    while (left := (when - datetime.now(UTC)).total_seconds()) > 0:
        time.sleep(min(left, 0.05))
