"""Time triggers, with Airflow's names and payload: :class:`DateTimeTrigger` fires at a
moment, :class:`TimeDeltaTrigger` after a delay.

As in Airflow, the moment must be timezone-aware (a naive datetime is ambiguous: which
zone's 09:00?) and is kept in UTC; the event's payload is that UTC moment. A
``TimeDeltaTrigger`` is a ``DateTimeTrigger`` at "now + delta" and is stored as one, so a
triggerer that rebuilds it, or restarts, waits for the original moment rather than
starting the delay again.

Waiting costs one timer at a time: ``asyncio.sleep`` to the moment, in chunks of at most
:data:`MAX_SLEEP` seconds, because the loop's timers run on the monotonic clock while the
moment is wall-clock time; re-reading the wall clock after each chunk notices when it was
changed (NTP steps, a suspended machine).

>>> import asyncio
>>> from datetime import datetime, timezone
>>> trigger = DateTimeTrigger(datetime(2020, 1, 1, tzinfo=timezone.utc))
>>> async def first_event(trigger):
...     async for event in trigger.run():
...         return event
>>> asyncio.run(first_event(trigger))
TriggerEvent(datetime.datetime(2020, 1, 1, 0, 0, tzinfo=datetime.timezone.utc))
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from tradewind.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent

MAX_SLEEP = 60.0
"""The longest single sleep, in seconds: how late a wall-clock jump forward can be noticed."""


class DateTimeTrigger(BaseTrigger):
    """Fires once the wall clock reaches ``moment`` (an aware datetime); the event's payload
    is ``moment`` in UTC. With ``end_from_trigger`` the task ends there as successful
    (:class:`~tradewind.triggers.base.TaskSuccessEvent`), as in Airflow: no worker resumes it.

    >>> from datetime import datetime, timedelta, timezone
    >>> DateTimeTrigger(datetime(2030, 1, 1, 9, tzinfo=timezone(timedelta(hours=2)))).moment
    datetime.datetime(2030, 1, 1, 7, 0, tzinfo=datetime.timezone.utc)
    """

    def __init__(self, moment: datetime, *, end_from_trigger: bool = False) -> None:
        if not isinstance(moment, datetime):
            raise TypeError(
                f"DateTimeTrigger needs a datetime.datetime moment, not {type(moment).__name__}"
            )
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(
                f"DateTimeTrigger needs a timezone-aware moment, got the naive {moment!r}: "
                "pass tzinfo (e.g. datetime(..., tzinfo=timezone.utc))"
            )
        self.moment = moment.astimezone(UTC)
        self.end_from_trigger = bool(end_from_trigger)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The moment (UTC) and ``end_from_trigger``, under this module's class path."""
        return (
            "tradewind.triggers.temporal.DateTimeTrigger",
            {"moment": self.moment, "end_from_trigger": self.end_from_trigger},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Sleep until the moment, then yield it."""
        while (left := (self.moment - datetime.now(UTC)).total_seconds()) > 0:
            await asyncio.sleep(min(left, MAX_SLEEP))
        yield TaskSuccessEvent() if self.end_from_trigger else TriggerEvent(self.moment)


class TimeDeltaTrigger(DateTimeTrigger):
    """A :class:`DateTimeTrigger` at now + ``delta``; stored as that ``DateTimeTrigger``.

    >>> from datetime import timedelta
    >>> from tradewind.triggers.serialization import serialize_trigger
    >>> serialize_trigger(TimeDeltaTrigger(timedelta(minutes=5)))[0]
    'tradewind.triggers.temporal.DateTimeTrigger'
    """

    def __init__(self, delta: timedelta, *, end_from_trigger: bool = False) -> None:
        if not isinstance(delta, timedelta):
            raise TypeError(
                f"TimeDeltaTrigger needs a datetime.timedelta delta, not {type(delta).__name__}"
            )
        super().__init__(datetime.now(UTC) + delta, end_from_trigger=end_from_trigger)
