"""``BaseSensorOperator``: poke until a condition holds, a timeout passes, or give up softly.

Subclasses implement ``poke(context)`` returning ``bool`` or :class:`PokeReturnValue`.
``timeout`` counts from the first poke; when it passes the sensor fails without retry, or
is skipped with ``soft_fail=True``. ``exponential_backoff`` grows the wait between pokes
with Airflow's formula (see :meth:`BaseSensorOperator.next_poke_interval`), capped by
``max_wait``. In ``reschedule`` mode the task gives its worker slot back between pokes
(state ``up_for_reschedule``) and pokes again in a new run of the same try; ``dags test``
waits in process between them.

A poke that raises fails the task, as in Airflow, except: ``silent_fail`` logs the error and
pokes again (not for failing, timing out or skipping on purpose); ``never_fail`` skips
instead; ``soft_fail`` skips when the poke fails on purpose or times out.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tradewind.exceptions import (
    DagDefinitionError,
    TradewindFailException,
    TradewindRescheduleException,
    TradewindSensorTimeout,
    TradewindSkipException,
    TradewindTaskTimeout,
)
from tradewind.sdk.baseoperator import BaseOperator

#: Waits are slept in slices this long, so a task timeout delivered to a thread is not
#: held back until a long sleep ends.
_SLEEP_SLICE = 0.05

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
        if soft_fail and never_fail:
            raise DagDefinitionError(
                f"task {self.task_id!r}: soft_fail and never_fail are mutually exclusive"
            )
        self.never_fail = never_fail

    def poke(self, context: Any) -> bool | PokeReturnValue:
        """Check the condition once."""
        raise NotImplementedError(f"{type(self).__name__} must implement poke()")

    def next_poke_interval(self, pokes: int, elapsed: float = 0.0, started: object = 0) -> float:
        """Seconds to wait after poke number ``pokes`` (1-based), ``elapsed`` seconds in.

        Without ``exponential_backoff`` it is ``poke_interval``. With it, Airflow's formula:
        at least ``int(poke_interval * 2 ** (pokes - 2))`` (and at least 1) seconds, plus a
        deterministic jitter below that again (from a hash of the task, ``started`` and
        ``pokes``), never past the timeout, then capped by ``max_wait``.
        """
        if not self.exponential_backoff:
            return self.poke_interval
        minimum = max(int(self.poke_interval * 2 ** (pokes - 2)), 1)
        dag_id = self.dag.dag_id if self.dag is not None else None
        seed = f"{dag_id}#{self.task_id}#{started}#{pokes}".encode()
        jitter = int(hashlib.sha1(seed, usedforsecurity=False).hexdigest(), 16) % minimum
        delay = min(float(minimum + jitter), self.timeout - int(elapsed))
        if self.max_wait is not None:
            delay = min(delay, self.max_wait)
        return max(0.0, delay)

    def _poke_once(self, context: Any) -> Any:
        try:
            return self.poke(context)
        except (TradewindSensorTimeout, TradewindTaskTimeout, TradewindFailException) as err:
            if self.soft_fail or self.never_fail:
                reason = "soft_fail" if self.soft_fail else "never_fail"
                raise TradewindSkipException(f"Skipping due to {reason} being set: {err}") from err
            raise
        except TradewindSkipException:
            raise
        except Exception as err:
            if self.silent_fail:
                self.log.warning("Poke raised %r; silent_fail is set, poking again", err)
                return False
            if self.never_fail:
                raise TradewindSkipException(
                    f"Skipping due to never_fail being set: {err}"
                ) from err
            raise

    def execute(self, context: Any) -> Any:
        if self.mode == "reschedule":
            return self._poke_and_reschedule(context)
        started = time.monotonic()
        pokes = 0
        while True:
            pokes += 1
            result = self._poke_once(context)
            if result:
                self.log.info("Success criteria met. Exiting.")
                return result.xcom_value if isinstance(result, PokeReturnValue) else None
            wait = self._next_wait(pokes, time.monotonic() - started, started)
            self.log.info("Condition not met; poking again in %.3g s", wait)
            _sleep(wait)

    def _next_wait(self, pokes: int, elapsed: float, started: object) -> float:
        """Seconds until the next poke, never past the timeout; a timeout that has passed
        fails the task (or skips it, with ``soft_fail``)."""
        if elapsed > self.timeout:
            message = f"Sensor has timed out; run duration of {elapsed:.3f} seconds exceeds "
            message += f"the specified timeout of {self.timeout:g}."
            if self.soft_fail:
                raise TradewindSkipException(message)
            raise TradewindSensorTimeout(message)
        return min(
            self.next_poke_interval(pokes, elapsed, started), max(0.0, self.timeout - elapsed)
        )

    def _poke_and_reschedule(self, context: Any) -> Any:
        """One poke; if the condition does not hold yet, give the worker slot back until
        the next poke (:class:`TradewindRescheduleException`). The timeout counts from the
        first poke of this try, whose time the orchestrator keeps."""
        ti = context.get("ti")
        first = ti.get_first_reschedule_date(context) if ti is not None else None
        started = first or datetime.now(UTC)
        pokes = int(context.get("task_reschedule_count", 0)) + 1
        result = self._poke_once(context)
        if result:
            self.log.info("Success criteria met. Exiting.")
            return result.xcom_value if isinstance(result, PokeReturnValue) else None
        elapsed = (datetime.now(UTC) - started).total_seconds()
        wait = self._next_wait(pokes, elapsed, started.isoformat())
        self.log.info("Condition not met; rescheduling for %.3g s from now", wait)
        raise TradewindRescheduleException(datetime.now(UTC) + timedelta(seconds=wait))


def _sleep(seconds: float) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, _SLEEP_SLICE))
