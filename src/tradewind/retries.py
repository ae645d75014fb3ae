"""When the next try of a failed task may start (Airflow's formula), for runner and scheduler.

Without exponential backoff the wait is ``retry_delay``. With it, try ``n`` waits at least
``retry_delay * 2**(n-1)`` seconds plus a deterministic jitter (from a hash of the task
instance, so every process computes the same time) of less than that again, capped by
``max_retry_delay`` and by one day.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

MAX_RETRY_DELAY = timedelta(days=1)


def retry_delay_for(
    *,
    retry_delay: timedelta,
    exponential_backoff: bool | float,
    max_retry_delay: timedelta | None,
    try_number: int,
    dag_id: str,
    task_id: str,
    logical_date: datetime | None,
) -> timedelta:
    """The wait after failed try ``try_number`` (1-based).

    >>> retry_delay_for(retry_delay=timedelta(seconds=10), exponential_backoff=False,
    ...     max_retry_delay=None, try_number=3, dag_id="d", task_id="t", logical_date=None)
    datetime.timedelta(seconds=10)
    """
    multiplier = 2.0 if exponential_backoff is True else float(exponential_backoff or 0)
    if multiplier in (0.0, 1.0) or multiplier < 0:
        return retry_delay
    try:
        minimum = math.ceil(retry_delay.total_seconds() * multiplier ** (try_number - 1))
    except OverflowError:
        minimum = int(MAX_RETRY_DELAY.total_seconds())
    minimum = max(1, minimum)
    seed = f"{dag_id}#{task_id}#{logical_date}#{try_number}".encode()
    jitter = int(hashlib.sha1(seed, usedforsecurity=False).hexdigest(), 16) % minimum
    delay = timedelta(seconds=min(minimum + jitter, MAX_RETRY_DELAY.total_seconds()))
    if max_retry_delay is not None:
        delay = min(delay, max_retry_delay)
    return delay
