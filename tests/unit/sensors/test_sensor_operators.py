"""Sensors: poke until done, time out (fail without retry or skip), back off, stay quiet."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from tradewind.exceptions import (
    DagDefinitionError,
    TradewindFailException,
    TradewindTaskTimeout,
)
from tradewind.execution.client import InProcessClient
from tradewind.inprocess import run_dag
from tradewind.sdk import DAG, BaseSensorOperator, PokeReturnValue, task
from tradewind.sensors import PythonSensor
from tradewind.xcom.base import XComKey
from tradewind.xcom.memory import MemoryXComBackend

FAST = {"poke_interval": 0.01}


class Ran:
    def __init__(self, dag: DAG) -> None:
        self.backend = MemoryXComBackend()
        self.result = run_dag(dag, client=InProcessClient(self.backend))

    def state(self, task_id: str = "wait") -> str | None:
        return self.result.task_states()[task_id]

    def try_number(self, task_id: str = "wait") -> int:
        return self.result.get(task_id).try_number

    def xcom(self, task_id: str = "wait") -> Any:
        r = self.result
        return self.backend.get(XComKey(r.dag_id, r.run_id, task_id, -1, "return_value"))

    def has_xcom(self, task_id: str = "wait") -> bool:
        try:
            self.xcom(task_id)
        except KeyError:
            return False
        return True

    def error(self, task_id: str = "wait") -> str:
        return self.result.get(task_id).error or ""

    def log(self, task_id: str = "wait") -> str:
        return "\n".join(self.result.get(task_id).log)


def _counter(done_at: int, result: Any = True) -> Any:
    calls: list[int] = []

    def poke() -> Any:
        calls.append(1)
        return result if len(calls) >= done_at else False

    poke.calls = calls  # type: ignore[attr-defined]
    return poke


def _sensor(fn: Any, dag_id: str = "sensor", **kwargs: Any) -> DAG:
    with DAG(dag_id) as dag:
        PythonSensor(task_id="wait", python_callable=fn, **{**FAST, **kwargs})
    return dag


def test_python_sensor_pokes_until_true() -> None:
    poke = _counter(3)
    ran = Ran(_sensor(poke))
    assert ran.state() == "success"
    assert len(poke.calls) == 3
    assert not ran.has_xcom()  # a plain True pushes nothing
    assert "Success criteria met" in ran.log()


def test_task_sensor_with_bool() -> None:
    poke = _counter(2)
    with DAG("task_sensor_bool") as dag:

        @task.sensor(poke_interval=0.01, timeout=5)
        def wait() -> bool:
            return bool(poke())

        wait()
    assert Ran(dag).state() == "success"
    assert len(poke.calls) == 2


def test_task_sensor_poke_return_value_pushes_its_xcom_value() -> None:
    with DAG("task_sensor_prv") as dag:

        @task.sensor(poke_interval=0.01)
        def wait() -> PokeReturnValue:
            return PokeReturnValue(is_done=True, xcom_value={"path": "/data/file.csv"})

        @task
        def use(found: dict[str, str]) -> str:
            return found["path"]

        use(wait())
    ran = Ran(dag)
    assert ran.xcom() == {"path": "/data/file.csv"}
    assert ran.xcom("use") == "/data/file.csv"


def test_poke_return_value_not_done_keeps_poking() -> None:
    poke = _counter(2, PokeReturnValue(True, "v"))

    def wrapped() -> Any:
        out = poke()
        return out or PokeReturnValue(False, "ignored")

    ran = Ran(_sensor(wrapped))
    assert ran.xcom() == "v"


def test_sensor_context_arguments_are_filled() -> None:
    seen: dict[str, Any] = {}

    def poke(ti: Any, ds: str) -> bool:
        seen.update(task=ti.task_id, ds=ds)
        return True

    assert Ran(_sensor(poke)).state() == "success"
    assert seen["task"] == "wait" and len(seen["ds"]) == 10


def test_timeout_fails_without_retry() -> None:
    ran = Ran(_sensor(lambda: False, timeout=0.05, retries=3, retry_delay=0))
    assert ran.state() == "failed"
    assert ran.try_number() == 1
    assert "TradewindSensorTimeout: Sensor has timed out" in ran.error()
    assert "exceeds the specified timeout of 0.05" in ran.error()


def test_soft_fail_skips_on_timeout() -> None:
    ran = Ran(_sensor(lambda: False, timeout=0.05, soft_fail=True))
    assert ran.state() == "skipped"


def test_soft_fail_skips_when_the_poke_fails_on_purpose() -> None:
    def poke() -> bool:
        raise TradewindFailException("source is gone")

    assert Ran(_sensor(poke, soft_fail=True)).state() == "skipped"


def test_a_poke_that_raises_fails_the_sensor() -> None:
    ran = Ran(_sensor(lambda: 1 / 0, timeout=5))
    assert ran.state() == "failed"
    assert "ZeroDivisionError" in ran.error()


def test_silent_fail_keeps_poking_after_an_error() -> None:
    calls: list[int] = []

    def poke() -> bool:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("not reachable yet")
        return True

    ran = Ran(_sensor(poke, silent_fail=True, timeout=5))
    assert ran.state() == "success"
    assert len(calls) == 3
    assert "not reachable yet" in ran.log()


@pytest.mark.parametrize("error", [TradewindFailException("stop"), TradewindTaskTimeout("late")])
def test_silent_fail_does_not_swallow_failing_on_purpose_or_timing_out(error: Exception) -> None:
    def poke() -> bool:
        raise error

    ran = Ran(_sensor(poke, silent_fail=True, timeout=5))
    assert ran.state() == "failed"
    assert type(error).__name__ in ran.error()


def test_silent_fail_still_times_out() -> None:
    ran = Ran(_sensor(lambda: 1 / 0, silent_fail=True, timeout=0.05))
    assert ran.state() == "failed"
    assert "Sensor has timed out" in ran.error()


def test_never_fail_skips_when_the_poke_raises() -> None:
    assert Ran(_sensor(lambda: 1 / 0, never_fail=True)).state() == "skipped"


def test_soft_fail_and_never_fail_together_are_refused() -> None:
    with pytest.raises(DagDefinitionError, match="mutually exclusive"):
        _sensor(lambda: True, soft_fail=True, never_fail=True)


def test_execution_timeout_stops_a_sensor_waiting_in_a_worker_thread() -> None:
    started = time.monotonic()
    ran = Ran(
        _sensor(
            lambda: False, poke_interval=30, timeout=60, execution_timeout=timedelta(seconds=0.2)
        )
    )
    assert ran.state() == "failed"
    assert "TradewindTaskTimeout" in ran.error()
    assert time.monotonic() - started < 5


def test_exponential_backoff_intervals_follow_airflows_formula_capped_by_max_wait() -> None:
    with DAG("backoff"):
        sensor = PythonSensor(
            task_id="wait",
            python_callable=lambda: False,
            poke_interval=10,
            exponential_backoff=True,
            timeout=10_000,
        )
        capped = PythonSensor(
            task_id="capped",
            python_callable=lambda: False,
            poke_interval=10,
            exponential_backoff=True,
            max_wait=timedelta(seconds=25),
            timeout=10_000,
        )
    waits = [sensor.next_poke_interval(n, 0.0, 1.0) for n in range(1, 7)]
    for n, wait in enumerate(waits, start=1):
        minimum = max(int(10 * 2 ** (n - 2)), 1)
        assert minimum <= wait < 2 * minimum
    assert waits[-1] > waits[0]
    assert [capped.next_poke_interval(n, 0.0, 1.0) for n in range(1, 7)][-3:] == [25, 25, 25]
    # Never past the timeout, never negative.
    assert sensor.next_poke_interval(8, 9_990.0, 1.0) == 10
    assert sensor.next_poke_interval(8, 20_000.0, 1.0) == 0


def test_without_backoff_the_interval_is_constant() -> None:
    with DAG("no_backoff"):
        sensor = PythonSensor(task_id="wait", python_callable=lambda: True, poke_interval=3)
    assert [sensor.next_poke_interval(n) for n in (1, 2, 5)] == [3, 3, 3]


def test_a_backing_off_sensor_runs_with_tiny_max_wait() -> None:
    poke = _counter(4)
    ran = Ran(_sensor(poke, exponential_backoff=True, max_wait=0.01, timeout=5))
    assert ran.state() == "success"
    assert len(poke.calls) == 4


def test_reschedule_mode_waits_in_process_without_a_scheduler() -> None:
    poke = _counter(2)
    assert Ran(_sensor(poke, mode="reschedule")).state() == "success"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "sometimes"}, "mode must be one of"),
        ({"poke_interval": -1}, "poke_interval must be a non-negative number"),
        ({"timeout": "soon"}, "timeout must be a non-negative number"),
    ],
)
def test_bad_sensor_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DagDefinitionError, match=message):
        _sensor(lambda: True, **kwargs)


def test_custom_sensor_subclass_pokes() -> None:
    class CountDown(BaseSensorOperator):
        def __init__(self, *, n: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.n = n

        def poke(self, context: Any) -> bool:
            self.n -= 1
            return self.n <= 0

    with DAG("custom_sensor") as dag:
        CountDown(task_id="wait", n=3, poke_interval=0.01)
    assert Ran(dag).state() == "success"
