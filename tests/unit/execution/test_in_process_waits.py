"""Reschedule-mode sensors and deferred tasks under ``dags test`` (no scheduler, no
triggerer): the wait happens in process and the try goes on, as the service would make it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from tradewind.inprocess import run_dag
from tradewind.sdk import DAG, BaseOperator
from tradewind.sensors.python import PythonSensor
from tradewind.triggers.base import BaseTrigger, TriggerEvent

POKES: list[int] = []


def _third_time(**context: Any) -> bool:
    POKES.append(context["task_reschedule_count"])
    return len(POKES) >= 3


def test_a_reschedule_mode_sensor_pokes_again_in_the_same_try() -> None:
    POKES.clear()
    with DAG("waits_reschedule", schedule=None) as dag:
        PythonSensor(
            task_id="wait", python_callable=_third_time, mode="reschedule", poke_interval=0.01
        )
    result = run_dag(dag)
    assert result.task_states() == {"wait": "success"}
    assert POKES == [0, 1, 2]  # one reschedule more each time
    assert result.get("wait").try_number == 1
    assert any("UP_FOR_RESCHEDULE" in line for line in result.get("wait").log)


def test_a_reschedule_mode_sensor_times_out_counting_from_its_first_poke() -> None:
    with DAG("waits_reschedule_timeout", schedule=None) as dag:
        PythonSensor(
            task_id="never",
            python_callable=lambda: False,
            mode="reschedule",
            poke_interval=0.02,
            timeout=0.15,
        )
        PythonSensor(
            task_id="soft",
            python_callable=lambda: False,
            mode="reschedule",
            poke_interval=0.02,
            timeout=0.15,
            soft_fail=True,
        )
    result = run_dag(dag)
    assert result.task_states() == {"never": "failed", "soft": "skipped"}
    assert "timed out" in "\n".join(result.get("never").log)


class SoonTrigger(BaseTrigger):
    """Fires after ``seconds`` with ``{"after": seconds}``; or raises, or never fires."""

    def __init__(self, seconds: float, behaviour: str = "fire") -> None:
        self.seconds = seconds
        self.behaviour = behaviour

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{__name__}.SoonTrigger", {"seconds": self.seconds, "behaviour": self.behaviour})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import asyncio

        await asyncio.sleep(self.seconds)
        if self.behaviour == "raise":
            raise RuntimeError("the external job vanished")
        if self.behaviour == "hang":
            await asyncio.sleep(3600)
        yield TriggerEvent({"after": self.seconds})


class Deferring(BaseOperator):
    def __init__(self, behaviour: str = "fire", timeout: float | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.behaviour = behaviour
        self.wait_timeout = timeout

    def execute(self, context: Any) -> Any:
        context["ti"].xcom_push("before", "pushed before deferring")
        self.defer(
            trigger=SoonTrigger(0.02, self.behaviour),
            method_name="execute_complete",
            kwargs={"started": datetime(2024, 1, 1, tzinfo=UTC)},
            timeout=None if self.wait_timeout is None else timedelta(seconds=self.wait_timeout),
        )

    def execute_complete(self, context: Any, event: Any, started: datetime) -> Any:
        assert started == datetime(2024, 1, 1, tzinfo=UTC)  # kwargs come back typed
        assert context["ti"].xcom_pull(task_ids=self.task_id, key="before") is not None
        return {"event": event}


def test_a_deferred_task_resumes_with_the_event_and_its_kwargs() -> None:
    with DAG("waits_defer", schedule=None) as dag:
        Deferring(task_id="defer")
    result = run_dag(dag)
    assert result.task_states() == {"defer": "success"}, "\n".join(result.get("defer").log)
    assert result.get("defer").try_number == 1
    log = "\n".join(result.get("defer").log)
    assert "DEFERRED" in log


def test_a_trigger_that_fails_or_times_out_fails_its_task_with_the_reason() -> None:
    with DAG("waits_defer_failures", schedule=None) as dag:
        Deferring(task_id="raises", behaviour="raise")
        Deferring(task_id="hangs", behaviour="hang", timeout=0.2)
    result = run_dag(dag)
    assert result.task_states() == {"raises": "failed", "hangs": "failed"}
    assert "the external job vanished" in "\n".join(result.get("raises").log)
    assert "timeout" in "\n".join(result.get("hangs").log).lower()


class Unstorable(BaseOperator):
    def execute(self, context: Any) -> Any:
        self.defer(
            trigger=SoonTrigger(0.01), method_name="execute_complete", kwargs={"x": object()}
        )


def test_a_deferral_that_cannot_be_stored_fails_the_task_saying_why() -> None:
    with DAG("waits_defer_unstorable", schedule=None) as dag:
        Unstorable(task_id="bad")
    result = run_dag(dag)
    assert result.task_states() == {"bad": "failed"}
    assert "execute_complete" in "\n".join(result.get("bad").log)


class EndingTrigger(BaseTrigger):
    def __init__(self, state: str) -> None:
        self.state = state

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{__name__}.EndingTrigger", {"state": self.state})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from tradewind.triggers.base import TaskSkippedEvent, TaskSuccessEvent

        if self.state == "success":
            yield TaskSuccessEvent(xcoms={"rows": 3})
        else:
            yield TaskSkippedEvent()


class EndedByTrigger(BaseOperator):
    def __init__(self, state: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = state

    def execute(self, context: Any) -> Any:
        self.defer(trigger=EndingTrigger(self.state), method_name="not_used")


def test_a_trigger_ending_its_task_ends_it_with_its_xcoms_under_dags_test() -> None:
    from tradewind.execution.client import InProcessClient
    from tradewind.xcom.base import XComKey
    from tradewind.xcom.memory import MemoryXComBackend

    with DAG("waits_end", schedule=None) as dag:
        EndedByTrigger(state="success", task_id="ok")
        EndedByTrigger(state="skipped", task_id="skip")
    xcom = MemoryXComBackend()
    result = run_dag(dag, client=InProcessClient(xcom))
    assert result.task_states() == {"ok": "success", "skip": "skipped"}
    assert xcom.get(XComKey("waits_end", result.run_id, "ok", -1, "rows")) == 3
