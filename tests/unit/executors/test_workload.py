"""Workloads and events are JSON with a type and a version, and round-trip exactly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tradewind.executors.workload import (
    ExecuteTask,
    ExecutorEvent,
    MessageError,
    RunData,
    TaskOutcomeEvent,
    TaskStartedEvent,
    decode_message,
    encode_message,
)
from tradewind.states import TaskInstanceState as TI

T = datetime(2024, 3, 5, 12, 30, tzinfo=UTC)


def workload(**overrides: object) -> ExecuteTask:
    fields: dict[str, object] = {
        "ti_id": "0190a1b2-0000-7000-8000-000000000001",
        "dag_id": "etl",
        "run_id": "scheduled__2024-03-05T00:00:00+00:00",
        "task_id": "load",
        "map_index": 3,
        "try_number": 2,
        "max_tries": 4,
        "dag_file": "/dags/etl.py",
        "dag_file_hash": "9f2c",
        "dags_folder": "/dags",
        "run": RunData(
            logical_date=T,
            data_interval_start=T - timedelta(days=1),
            data_interval_end=T,
            run_after=T,
            start_date=T,
            run_type="scheduled",
            conf={"day": "mon", "n": [1, 2]},
        ),
        "queue": "default",
        "pool": "db",
        "priority_weight": 7,
    }
    fields.update(overrides)
    return ExecuteTask.make(**fields)


def test_a_workload_round_trips_through_json() -> None:
    w = workload()
    text = encode_message(w)
    assert b'"type":"ExecuteTask"' in text and b'"version":1' in text
    assert decode_message(text, ExecuteTask) == w


def test_the_log_path_follows_airflow_layout_with_the_map_index() -> None:
    assert workload().log_path == (
        "dag_id=etl/run_id=scheduled__2024-03-05T00:00:00+00:00/task_id=load/"
        "map_index=3/attempt=2.log"
    )


def test_make_refuses_ids_that_would_escape_the_logs_folder() -> None:
    with pytest.raises(ValueError, match="cannot be used in a log path"):
        workload(run_id="../../etc")


def test_an_unknown_version_is_refused() -> None:
    data = json.loads(encode_message(workload()))
    data["version"] = 2
    with pytest.raises(MessageError, match="version"):
        decode_message(json.dumps(data), ExecuteTask)


def test_unknown_fields_are_refused_not_ignored() -> None:
    data = json.loads(encode_message(workload()))
    data["pickle"] = "gASV..."
    with pytest.raises(MessageError, match="pickle"):
        decode_message(json.dumps(data), ExecuteTask)


def test_run_dates_must_carry_a_time_zone() -> None:
    with pytest.raises(ValueError, match="logical_date must carry a time zone"):
        RunData(
            logical_date=datetime(2024, 1, 1),
            data_interval_start=None,
            data_interval_end=None,
            run_after=T,
        )


def test_events_are_told_apart_by_their_type() -> None:
    started = TaskStartedEvent(ti_id="a", try_number=1, start_date=T, pid=42, hostname="h")
    outcome = TaskOutcomeEvent(
        ti_id="a",
        try_number=1,
        dag_id="etl",
        run_id="r",
        task_id="load",
        state=TI.UP_FOR_RETRY,
        start_date=T,
        end_date=T,
        error="boom",
        next_retry_at=T + timedelta(minutes=5),
        skip_downstream=["x"],
        xcom_lengths={"return_value": 3},
        pushed_keys=["return_value"],
        pid=42,
        hostname="h",
    )
    for event in (started, outcome):
        assert decode_message(encode_message(event), ExecutorEvent) == event


def test_a_crash_outcome_is_failed_and_marked_crashed() -> None:
    event = TaskOutcomeEvent.crash(workload(), "worker died", T, T)
    assert (event.state, event.crashed, event.error) == (TI.FAILED, True, "worker died")
    assert (event.ti_id, event.try_number, event.map_index) == (workload().ti_id, 2, 3)


def test_a_decoded_date_without_a_time_zone_is_refused() -> None:
    data = json.loads(encode_message(workload()))
    data["run"]["run_after"] = "2024-03-05T12:30:00"
    with pytest.raises(MessageError, match="run_after"):
        decode_message(json.dumps(data), ExecuteTask)
