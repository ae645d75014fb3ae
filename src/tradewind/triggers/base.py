"""The trigger contract, with Airflow's names: a small, serializable object whose
``async def run()`` yields :class:`TriggerEvent` when what a deferred task waits for has
happened.

A trigger is stored as its class path and the keyword arguments :meth:`BaseTrigger.serialize`
returns (values in the typed XCom codec), and rebuilt in the triggerer with
``cls(**kwargs)``; so it must be importable there, and everything it needs must be in those
arguments. ``run`` must not block the event loop (use ``await asyncio.sleep``, async clients,
or ``asyncio.to_thread``); the triggerer reports a trigger that does. The first event a
trigger yields resumes its task, whose ``method_name`` receives the event's ``payload``;
a :class:`TaskSuccessEvent` (or ``TaskFailedEvent``, ``TaskSkippedEvent``) ends the task
there instead, without a worker.

>>> import asyncio
>>> class Ready(BaseTrigger):
...     def serialize(self):
...         return ("mymodule.Ready", {})
...     async def run(self):
...         yield TriggerEvent("ready")
>>> async def first(trigger):
...     async for event in trigger.run():
...         return event
>>> asyncio.run(first(Ready()))
TriggerEvent('ready')
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any


class TriggerEvent:
    """What a trigger yields: its ``payload`` (any value the XCom codec stores) reaches
    the resumed task as the ``event`` argument of its resume method."""

    __slots__ = ("payload",)

    def __init__(self, payload: Any) -> None:
        self.payload = payload

    def __repr__(self) -> str:
        return f"TriggerEvent({self.payload!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TriggerEvent) and other.payload == self.payload

    __hash__ = None  # type: ignore[assignment]


class BaseTaskEndEvent(TriggerEvent):
    """An event that ends the deferred task in the triggerer, in ``task_state``, without
    resuming it in a worker (Airflow's ``end_from_trigger``); ``xcoms`` are pushed for it.

    >>> TaskSuccessEvent(xcoms={"rows": 3}).task_state
    'success'
    """

    task_state = "success"

    def __init__(self, *, xcoms: dict[str, Any] | None = None) -> None:
        super().__init__({"task_state": self.task_state, "xcoms": xcoms or {}})
        self.xcoms = dict(xcoms or {})


class TaskSuccessEvent(BaseTaskEndEvent):
    """End the deferred task as ``success``."""

    task_state = "success"


class TaskFailedEvent(BaseTaskEndEvent):
    """End the deferred task as ``failed`` (its retries do not apply)."""

    task_state = "failed"


class TaskSkippedEvent(BaseTaskEndEvent):
    """End the deferred task as ``skipped``."""

    task_state = "skipped"


class BaseTrigger(abc.ABC):
    """Base class of triggers. Subclasses implement :meth:`serialize` and :meth:`run`."""

    @abc.abstractmethod
    def serialize(self) -> tuple[str, dict[str, Any]]:
        """``(class path, keyword arguments)`` that rebuild this trigger."""

    @abc.abstractmethod
    def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait (asynchronously) and yield events; the first one resumes the task."""

    async def cleanup(self) -> None:  # noqa: B027 -- optional hook, a no-op by default
        """Called when the trigger stops running (it fired, failed, timed out or was
        cancelled): release what ``run`` held."""

    def __repr__(self) -> str:
        path, kwargs = self.serialize()
        return f"<{path} {kwargs!r}>"


@dataclass
class StartTriggerArgs:
    """What an operator with ``start_from_trigger = True`` waits for before its first worker
    try (Airflow's names): the scheduler stores ``trigger_cls(**trigger_kwargs)`` for the
    triggerer at once, and the task runs in a worker only when it fires, at ``next_method``
    (or never, when the trigger ends the task). The arguments are fixed when the DAG file is
    parsed; they are not templates.

    Example::

        class WaitFiveSeconds(BaseOperator):
            start_from_trigger = True
            start_trigger_args = StartTriggerArgs(
                trigger_cls="tradewind.triggers.temporal.TimeDeltaTrigger",
                trigger_kwargs={"delta": timedelta(seconds=5)},
                next_method="execute_complete",
            )

            def execute_complete(self, context, event=None): ...
    """

    trigger_cls: str
    next_method: str
    trigger_kwargs: dict[str, Any] | None = None
    next_kwargs: dict[str, Any] | None = None
    timeout: timedelta | None = None
