"""The context a running task sees: Airflow 3's keys and formats, and the ways to get it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tradewind.execution.runtime import RuntimeTaskInstance
from tradewind.operators import PythonOperator
from tradewind.sdk import DAG, Param, get_current_context, task
from tradewind.states import TaskInstanceState as TI

AIRFLOW3_KEYS = {
    "conn",
    "dag",
    "dag_run",
    "data_interval_end",
    "data_interval_start",
    "ds",
    "ds_nodash",
    "inlet_events",
    "inlets",
    "logical_date",
    "macros",
    "map_index_template",
    "outlet_events",
    "outlets",
    "params",
    "partition_date",
    "partition_key",
    "prev_data_interval_end_success",
    "prev_data_interval_start_success",
    "prev_end_date_success",
    "prev_start_date_success",
    "run_id",
    "task",
    "task_instance",
    "task_instance_key_str",
    "task_reschedule_count",
    "ti",
    "triggering_asset_events",
    "ts",
    "ts_nodash",
    "ts_nodash_with_tz",
    "var",
}
DATE_KEYS = {
    "logical_date",
    "ds",
    "ds_nodash",
    "ts",
    "ts_nodash",
    "ts_nodash_with_tz",
    "data_interval_start",
    "data_interval_end",
    "prev_data_interval_start_success",
    "prev_data_interval_end_success",
}


def _capture(harness: Any, **run_kwargs: Any) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    with DAG("ctx_dag", params={"n": Param(3, type="integer")}) as dag:

        @task
        def grab(**context: Any) -> None:
            seen.update(context)

        grab()
    outcome = harness.run(dag.get_task("grab"), **run_kwargs)
    assert outcome.state is TI.SUCCESS, outcome.error
    return seen


def test_every_airflow3_key_is_present_for_a_run_with_a_logical_date(harness: Any) -> None:
    context = _capture(harness)
    assert set(context) >= AIRFLOW3_KEYS


@pytest.mark.parametrize("absent", ["try_number", "execution_date", "next_ds", "conf"])
def test_keys_removed_in_airflow3_are_absent(harness: Any, absent: str) -> None:
    assert absent not in _capture(harness)


def test_date_keys_use_airflows_formats(harness: Any) -> None:
    context = _capture(harness, logical_date=datetime(2024, 3, 5, 6, 7, 8, tzinfo=UTC))
    assert context["ds"] == "2024-03-05"
    assert context["ds_nodash"] == "20240305"
    assert context["ts"] == "2024-03-05T06:07:08+00:00"
    assert context["ts_nodash"] == "20240305T060708"
    assert context["ts_nodash_with_tz"] == "20240305T060708+0000"
    assert context["logical_date"] == datetime(2024, 3, 5, 6, 7, 8, tzinfo=UTC)
    assert context["task_instance_key_str"] == "ctx_dag__grab__20240305"


def test_ts_nodash_with_tz_keeps_microseconds(harness: Any) -> None:
    context = _capture(harness, logical_date=datetime(2024, 3, 5, 0, 0, 0, 123456, tzinfo=UTC))
    assert context["ts"] == "2024-03-05T00:00:00.123456+00:00"
    assert context["ts_nodash_with_tz"] == "20240305T000000.123456+0000"


def test_a_logical_date_in_another_timezone_is_seen_in_utc(harness: Any) -> None:
    plus_two = timezone(timedelta(hours=2))
    context = _capture(harness, logical_date=datetime(2024, 3, 5, 1, 0, tzinfo=plus_two))
    assert context["ds"] == "2024-03-04"
    assert context["ts"] == "2024-03-04T23:00:00+00:00"
    assert context["data_interval_start"].utcoffset() == timedelta(0)


def test_run_without_logical_date_has_no_date_keys(harness: Any) -> None:
    context = _capture(harness, logical_date=None)
    assert not DATE_KEYS & set(context)
    assert context["task_instance_key_str"] == f"ctx_dag__grab__{context['run_id']}"
    # Keys that do not depend on the logical date stay.
    assert {"prev_start_date_success", "prev_end_date_success", "ti", "params"} <= set(context)


def test_run_identity_keys(harness: Any) -> None:
    context = _capture(harness, conf={"extra": 1})
    assert context["run_id"] == harness.info("ctx_dag").run_id
    assert context["dag"].dag_id == "ctx_dag"
    assert context["task"].task_id == "grab"
    assert context["ti"] is context["task_instance"]
    assert isinstance(context["ti"], RuntimeTaskInstance)
    assert (context["ti"].try_number, context["ti"].map_index, context["ti"].max_tries) == (
        1,
        -1,
        0,
    )
    assert context["dag_run"].conf == {"extra": 1}
    assert context["dag_run"].dag_id == "ctx_dag"


def test_params_are_a_plain_dict_of_validated_values_with_conf_overrides(harness: Any) -> None:
    context = _capture(harness, conf={"n": 5, "unknown": "kept"})
    assert context["params"] == {"n": 5, "unknown": "kept"}
    assert type(context["params"]) is dict


def test_var_and_conn_read_variables_and_connections(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWIND_VAR_REGION", "eu")
    monkeypatch.setenv("TRADEWIND_VAR_CFG", '{"size": 3}')
    monkeypatch.setenv("TRADEWIND_CONN_WAREHOUSE", "postgres://u:p@db.local:5432/sales")
    context = _capture(harness)
    assert context["var"]["value"].region == "eu"
    assert context["var"]["json"].cfg == {"size": 3}
    assert context["var"]["value"].get("missing", "fallback") == "fallback"
    assert context["conn"].warehouse.host == "db.local"
    assert context["conn"].get("missing") is None


def test_macros_and_triggering_events_are_available(harness: Any) -> None:
    context = _capture(harness)
    assert context["macros"].ds_add("2024-01-30", 3) == "2024-02-02"
    assert context["triggering_asset_events"] == {}
    assert context["task_reschedule_count"] == 0
    context["outlet_events"]["some_asset"].extra["rows"] = 3
    assert context["outlet_events"]["some_asset"].extra == {"rows": 3}


def test_get_current_context_inside_a_task_is_the_tasks_context(harness: Any) -> None:
    seen: dict[str, Any] = {}
    with DAG("current_ctx") as dag:

        @task
        def inner() -> None:
            context = get_current_context()
            seen["ti"] = context["ti"]
            seen["ds"] = context["ds"]

        inner()
    assert harness.run(dag.get_task("inner")).state is TI.SUCCESS
    assert seen["ti"].task_id == "inner"
    assert seen["ds"] == "2024-03-05"


def test_get_current_context_outside_a_task_raises() -> None:
    with pytest.raises(RuntimeError, match="only inside a running task"):
        get_current_context()


def test_taskflow_function_gets_context_entries_by_parameter_name(harness: Any) -> None:
    with DAG("named_ctx", params={"who": "world"}) as dag:

        @task
        def named(x: int, ti: Any, params: dict[str, Any], ds: str, dag_run: Any = None) -> Any:
            return [x, ti.task_id, params["who"], ds, dag_run.run_id]

        named(1)
    assert harness.run(dag.get_task("named")).state is TI.SUCCESS
    assert harness.xcom("named") == [1, "named", "world", "2024-03-05", harness.info("x").run_id]


def test_python_operator_callable_gets_context_via_kwargs_and_names(harness: Any) -> None:
    def with_kwargs(a: int, **context: Any) -> Any:
        return [a, context["ds_nodash"], context["ti"].task_id, context["templates_dict"]]

    def with_names(ti: Any, logical_date: datetime) -> Any:
        return [ti.task_id, logical_date.isoformat()]

    with DAG("op_ctx") as dag:
        PythonOperator(task_id="kw", python_callable=with_kwargs, op_args=[7])
        PythonOperator(task_id="names", python_callable=with_names)
    assert harness.run(dag.get_task("kw")).state is TI.SUCCESS
    assert harness.xcom("kw") == [7, "20240305", "kw", None]
    assert harness.run(dag.get_task("names")).state is TI.SUCCESS
    assert harness.xcom("names") == ["names", "2024-03-05T00:00:00+00:00"]


def test_op_kwargs_are_merged_into_the_callables_context(harness: Any) -> None:
    with DAG("op_kwargs_ctx") as dag:
        PythonOperator(
            task_id="t", python_callable=lambda **kw: kw["greeting"], op_kwargs={"greeting": "hi"}
        )
    assert harness.run(dag.get_task("t")).state is TI.SUCCESS
    assert harness.xcom("t") == "hi"
