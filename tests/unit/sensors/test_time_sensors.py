"""DateTimeSensor, TimeDeltaSensor and TimeSensor: when each wait ends, time zones,
templating, deferral to a DateTimeTrigger, and bad arguments."""

from __future__ import annotations

import time as clock
import types
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tradewind.exceptions import DagDefinitionError, TaskDeferred
from tradewind.execution.client import InProcessClient
from tradewind.inprocess import run_dag
from tradewind.sdk import DAG
from tradewind.sensors import (
    DateTimeSensor,
    DateTimeSensorAsync,
    TimeDeltaSensor,
    TimeDeltaSensorAsync,
    TimeSensor,
    TimeSensorAsync,
)
from tradewind.sensors import time as time_sensors
from tradewind.xcom.base import XComKey
from tradewind.xcom.memory import MemoryXComBackend

FAST: dict[str, Any] = {"poke_interval": 0.01, "timeout": 5}
DATETIME_TRIGGER = "tradewind.triggers.temporal.DateTimeTrigger"
NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Ran:
    def __init__(self, dag: DAG, **kwargs: Any) -> None:
        self.backend = MemoryXComBackend()
        self.result = run_dag(dag, client=InProcessClient(self.backend), **kwargs)

    def state(self) -> str | None:
        return self.result.task_states()["wait"]

    def error(self) -> str:
        return self.result.get("wait").error or ""

    def log(self) -> str:
        return "\n".join(self.result.get("wait").log)


def _dag(cls: type, dag_id: str = "time_sensor", dag_kwargs: Any = None, **kwargs: Any) -> DAG:
    with DAG(dag_id, **(dag_kwargs or {})) as dag:
        cls(task_id="wait", **{**FAST, **kwargs})
    return dag


@pytest.fixture
def temporal() -> Any:
    return pytest.importorskip(
        "tradewind.triggers.temporal", reason="DateTimeTrigger not written yet"
    )


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Pin the sensors' clock; returns a setter."""
    now = [NOON]
    monkeypatch.setattr(time_sensors, "_utcnow", lambda: now[0])

    def set_now(value: datetime) -> None:
        now[0] = value

    return set_now


def _deferral(sensor: Any, context: dict[str, Any]) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    assert deferred.value.method_name == "execute_complete"
    return deferred.value


# --- DateTimeSensor -----------------------------------------------------------------------


def test_datetime_sensor_succeeds_once_the_moment_has_passed() -> None:
    started = clock.monotonic()
    soon = datetime.now(UTC) + timedelta(seconds=0.15)
    ran = Ran(_dag(DateTimeSensor, target_time=soon))
    assert ran.state() == "success"
    assert clock.monotonic() - started >= 0.1
    assert "Checking if the time" in ran.log()


def test_datetime_sensor_times_out_or_skips_with_soft_fail() -> None:
    later = "2999-01-01T00:00:00+00:00"
    failed = Ran(_dag(DateTimeSensor, "dt_fail", target_time=later, timeout=0.05))
    assert failed.state() == "failed"
    assert "Sensor has timed out" in failed.error()
    skipped = Ran(_dag(DateTimeSensor, "dt_skip", target_time=later, timeout=0.05, soft_fail=True))
    assert skipped.state() == "skipped"


def test_datetime_sensor_target_time_is_templated() -> None:
    ran = Ran(
        _dag(DateTimeSensor, target_time="{{ ds }}T06:00:00"),
        logical_date=datetime(2024, 5, 1, tzinfo=UTC),
    )
    assert ran.state() == "success"
    assert "Checking if the time (2024-05-01T06:00:00) has come" in ran.log()


def test_datetime_sensor_renders_data_interval_end() -> None:
    dag = _dag(DateTimeSensor, target_time="{{ data_interval_end }}")
    assert Ran(dag, logical_date=datetime(2024, 5, 1, tzinfo=UTC)).state() == "success"


def test_a_template_that_renders_to_nonsense_fails_the_task() -> None:
    ran = Ran(_dag(DateTimeSensor, target_time="{{ ds_nodash }}-ish"))
    assert ran.state() == "failed"
    assert "is not a date and time" in ran.error()


def test_a_datetime_target_is_kept_as_iso_text_as_in_airflow() -> None:
    with DAG("dt_text"):
        sensor = DateTimeSensor(task_id="wait", target_time=NOON)
    assert sensor.target_time == "2024-05-01T12:00:00+00:00"


def test_naive_target_times_are_read_in_the_default_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert time_sensors.parse_moment("2024-05-01T06:00:00", "t") == datetime(
        2024, 5, 1, 6, tzinfo=UTC
    )
    monkeypatch.setenv("TRADEWIND__CORE__DEFAULT_TIMEZONE", "Europe/Berlin")
    assert time_sensors.parse_moment("2024-05-01 06:00", "t") == datetime(2024, 5, 1, 4, tzinfo=UTC)
    assert time_sensors.parse_moment("2024-05-01T06:00:00Z", "t") == datetime(
        2024, 5, 1, 6, tzinfo=UTC
    )


def test_datetime_sensor_async_defers_to_a_datetime_trigger(temporal: Any) -> None:
    with DAG("dt_async"):
        sensor = DateTimeSensorAsync(task_id="wait", target_time="2030-01-01T01:00:00+01:00")
    deferred = _deferral(sensor, {})
    path, kwargs = deferred.trigger.serialize()
    assert path == DATETIME_TRIGGER
    assert kwargs["moment"] == datetime(2030, 1, 1, tzinfo=UTC)
    assert kwargs["end_from_trigger"] is False
    sensor.execute_complete({}, event=kwargs["moment"])  # resumes without error


def test_datetime_sensor_async_run_end_to_end_resumes_after_the_moment(temporal: Any) -> None:
    started = clock.monotonic()
    soon = datetime.now(UTC) + timedelta(seconds=0.15)
    ran = Ran(_dag(DateTimeSensorAsync, target_time=soon))
    assert ran.state() == "success"
    assert clock.monotonic() - started >= 0.1


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (42, "target_time must be a datetime or a non-empty string"),
        ("", "target_time must be a datetime or a non-empty string"),
        ("next tuesday", "target_time 'next tuesday' is not a date and time"),
    ],
)
def test_bad_datetime_targets_are_refused(target: Any, message: str) -> None:
    with pytest.raises(DagDefinitionError, match=f"task 'wait': {message}"), DAG("dt_bad"):
        DateTimeSensor(task_id="wait", target_time=target)


# --- TimeDeltaSensor ----------------------------------------------------------------------


def test_timedelta_sensor_counts_from_the_data_interval_end() -> None:
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    done = Ran(_dag(TimeDeltaSensor, "td_done", delta=timedelta(minutes=30)), logical_date=hour_ago)
    assert done.state() == "success"
    waiting = Ran(
        _dag(TimeDeltaSensor, "td_wait", delta=timedelta(hours=2), timeout=0.05),
        logical_date=hour_ago,
    )
    assert waiting.state() == "failed"
    assert "Sensor has timed out" in waiting.error()


def test_timedelta_sensor_waits_out_a_short_delta() -> None:
    started = clock.monotonic()
    assert Ran(_dag(TimeDeltaSensor, delta=timedelta(seconds=0.15))).state() == "success"
    assert clock.monotonic() - started >= 0.1


def test_without_a_data_interval_the_delta_counts_from_run_after(frozen_now: Any) -> None:
    with DAG("td_run_after"):
        sensor = TimeDeltaSensor(task_id="wait", delta=timedelta(hours=1))
    run = types.SimpleNamespace(run_after=NOON - timedelta(minutes=61))
    assert sensor.poke({"dag_run": run, "data_interval_end": None}) is True
    run.run_after = NOON - timedelta(minutes=60)
    assert sensor.poke({"dag_run": run}) is False  # strictly after the moment


def test_timedelta_sensor_deferrable_defers_until_end_plus_delta(
    temporal: Any, frozen_now: Any
) -> None:
    with DAG("td_defer"):
        sensor = TimeDeltaSensor(
            task_id="wait", delta=timedelta(minutes=10), deferrable=True, timeout=300
        )
    deferred = _deferral(sensor, {"data_interval_end": NOON})
    path, kwargs = deferred.trigger.serialize()
    assert path == DATETIME_TRIGGER
    assert kwargs["moment"] == NOON + timedelta(minutes=10)
    assert deferred.timeout == timedelta(seconds=300)
    sensor.execute_complete({}, event=None)  # resumes without error


def test_timedelta_sensor_deferrable_run_end_to_end(temporal: Any) -> None:
    dag = _dag(TimeDeltaSensor, delta=timedelta(seconds=0.15), deferrable=True)
    assert Ran(dag).state() == "success"


def test_timedelta_sensor_deferrable_returns_at_once_when_already_past(frozen_now: Any) -> None:
    with DAG("td_past"):
        sensor = TimeDeltaSensor(task_id="wait", delta=timedelta(minutes=10), deferrable=True)
    assert sensor.execute({"data_interval_end": NOON - timedelta(hours=1)}) is True


def test_timedelta_sensor_async_is_deprecated_and_deferrable() -> None:
    warned = pytest.warns(DeprecationWarning, match="TimeDeltaSensor` with `deferrable=True")
    with warned, DAG("td_async", default_args={"deferrable": False}):
        sensor = TimeDeltaSensorAsync(task_id="wait", delta=timedelta(minutes=1))
    assert sensor.deferrable is True


def test_a_timedelta_sensor_without_run_information_fails_clearly() -> None:
    with DAG("td_no_run"):
        sensor = TimeDeltaSensor(task_id="wait", delta=timedelta(minutes=1))
    with pytest.raises(Exception, match="no dag_run in the task context"):
        sensor.poke({})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"delta": 60}, "delta must be a timedelta"),
        ({"delta": timedelta(1), "deferrable": "no"}, "deferrable must be True or False"),
    ],
)
def test_bad_timedelta_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DagDefinitionError, match=f"task 'wait': {message}"), DAG("td_bad"):
        TimeDeltaSensor(task_id="wait", **kwargs)


# --- TimeSensor ---------------------------------------------------------------------------


def test_time_sensor_succeeds_when_todays_time_has_passed(frozen_now: Any) -> None:
    assert Ran(_dag(TimeSensor, "t_done", target_time=time(11, 0))).state() == "success"
    waiting = Ran(_dag(TimeSensor, "t_wait", target_time=time(13, 0), timeout=0.05))
    assert waiting.state() == "failed"


def test_time_sensor_reads_the_time_in_the_dags_time_zone(frozen_now: Any) -> None:
    berlin = {"start_date": datetime(2024, 1, 1, tzinfo=ZoneInfo("Europe/Berlin"))}
    # 13:00 in Berlin (summer time) is 11:00 UTC: already past at 12:00 UTC.
    dag = _dag(TimeSensor, dag_kwargs=berlin, target_time=time(13, 0))
    assert dag.task_dict["wait"].target_datetime == datetime(2024, 5, 1, 11, tzinfo=UTC)  # type: ignore[attr-defined]
    assert Ran(dag).state() == "success"


def test_time_sensor_picks_the_day_when_it_runs_not_when_defined(
    temporal: Any, frozen_now: Any
) -> None:
    with DAG("t_day"):
        sensor = TimeSensor(task_id="wait", target_time=time(6, 30), deferrable=True)
    frozen_now(NOON + timedelta(days=2))
    path, kwargs = _deferral(sensor, {}).trigger.serialize()
    assert path == DATETIME_TRIGGER
    assert kwargs["moment"] == datetime(2024, 5, 3, 6, 30, tzinfo=UTC)


def test_time_sensor_async_is_deprecated_and_defers(temporal: Any, frozen_now: Any) -> None:
    with pytest.warns(DeprecationWarning, match="TimeSensor` with deferrable=True"), DAG("t_a"):
        sensor = TimeSensorAsync(task_id="wait", target_time=time(18, 0))
    _, kwargs = _deferral(sensor, {}).trigger.serialize()
    assert kwargs["moment"] == datetime(2024, 5, 1, 18, tzinfo=UTC)
    sensor.execute_complete({})  # resumes without error


def test_time_sensor_refuses_a_target_that_is_not_a_time() -> None:
    message = r"task 'wait': target_time must be a datetime\.time"
    with pytest.raises(DagDefinitionError, match=message), DAG("t_bad"):
        TimeSensor(task_id="wait", target_time="06:00")  # type: ignore[arg-type]


def test_sync_time_sensors_push_no_xcom() -> None:
    ran = Ran(_dag(DateTimeSensor, target_time="2000-01-01T00:00:00+00:00"))
    r = ran.result
    with pytest.raises(KeyError):
        ran.backend.get(XComKey(r.dag_id, r.run_id, "wait", -1, "return_value"))
