"""``BaseSensorOperator``: poke until a condition holds, a timeout passes, or give up softly.

Subclasses implement ``poke(context)`` returning ``bool`` or :class:`PokeReturnValue`.
``timeout`` counts from the first poke; when it passes the sensor fails without retry, or
is skipped with ``soft_fail=True``. ``exponential_backoff`` grows the wait between pokes up
to ``max_wait``. In ``reschedule`` mode the task gives its worker slot back between pokes;
where there is no scheduler (``dags test``) it waits in process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tradewind.exceptions import (
    DagDefinitionError,
    TradewindSensorTimeout,
    TradewindSkipException,
)
from tradewind.sdk.baseoperator import BaseOperator

VALID_MODES = ("poke", "reschedule")


@dataclass
class PokeReturnValue:
    """What ``poke`` may return: whether the wait is over and a value to push as XCom.

    >>> PokeReturnValue(is_done=True, xcom_value={"rows": 3})
    PokeReturnValue(is_done=True, xcom_value={'rows': 3})
    """

    is_done: bool
    xcom_value: Any = None

    def __bool__(self) -> bool:
        return bool(self.is_done)


def _seconds(value: Any, name: str, task_id: str) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    raise DagDefinitionError(
        f"task {task_id!r}: {name} must be a non-negative number of seconds or a timedelta"
    )


class BaseSensorOperator(BaseOperator):
    """Base for sensors. See the module docstring.

    >>> class Always(BaseSensorOperator):
    ...     def poke(self, context):
    ...         return True
    """

    ui_color = "#e6f1f2"

    def __init__(
        self,
        *,
        poke_interval: float | timedelta = 60,
        timeout: float | timedelta = 60 * 60 * 24 * 7,
        soft_fail: bool = False,
        mode: str = "poke",
        exponential_backoff: bool = False,
        max_wait: float | timedelta | None = None,
        silent_fail: bool = False,
        never_fail: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.poke_interval = _seconds(poke_interval, "poke_interval", self.task_id)
        self.timeout = _seconds(timeout, "timeout", self.task_id)
        self.soft_fail = soft_fail
        if mode not in VALID_MODES:
            raise DagDefinitionError(
                f"task {self.task_id!r}: mode must be one of {VALID_MODES}, got {mode!r}"
            )
        self.mode = mode
        self.exponential_backoff = exponential_backoff
        self.max_wait = None if max_wait is None else _seconds(max_wait, "max_wait", self.task_id)
        self.silent_fail = silent_fail
        self.never_fail = never_fail

    def poke(self, context: Any) -> bool | PokeReturnValue:
        """Check the condition once."""
        raise NotImplementedError(f"{type(self).__name__} must implement poke()")

    def next_poke_interval(self, pokes: int) -> float:
        """Seconds to wait after poke number ``pokes`` (1-based)."""
        if not self.exponential_backoff:
            return self.poke_interval
        delay = self.poke_interval * (2 ** (pokes - 1))
        if self.max_wait is not None:
            delay = min(delay, self.max_wait)
        return delay

    def execute(self, context: Any) -> Any:
        started = time.monotonic()
        pokes = 0
        while True:
            pokes += 1
            try:
                result = self.poke(context)
            except (TradewindSensorTimeout, TradewindSkipException):
                raise
            except Exception as err:
                if self.silent_fail:
                    self.log.warning("Poke raised %s; silent_fail is set, poking again", err)
                    result = False
                elif self.never_fail:
                    raise TradewindSkipException(f"Sensor poke failed: {err}") from err
                else:
                    raise
            if result:
                self.log.info("Success criteria met. Exiting.")
                return result.xcom_value if isinstance(result, PokeReturnValue) else None
            elapsed = time.monotonic() - started
            if elapsed >= self.timeout:
                message = f"Sensor has timed out; run duration of {elapsed:.1f} seconds is more "
                message += f"than the specified timeout of {self.timeout:g}."
                if self.soft_fail or self.never_fail:
                    raise TradewindSkipException(message)
                raise TradewindSensorTimeout(message)
            wait = min(self.next_poke_interval(pokes), max(0.0, self.timeout - elapsed))
            self.log.info("Condition not met; poking again in %.1f s", wait)
            time.sleep(wait)
