"""How a try ends: its state, what it pushed to XCom, and when it may run again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tradewind.exceptions import TradewindFailException, TradewindSkipException
from tradewind.operators import EmptyOperator, PythonOperator
from tradewind.sdk import DAG, Param, get_current_context, task
from tradewind.states import TaskInstanceState as TI


def _op(dag_id: str, fn: Any, **kwargs: Any) -> PythonOperator:
    with DAG(dag_id):
        return PythonOperator(task_id="t", python_callable=fn, **kwargs)


def test_success_pushes_the_return_value(harness: Any) -> None:
    outcome = harness.run(_op("ok", lambda: {"rows": [1, 2]}))
    assert outcome.state is TI.SUCCESS
    assert outcome.error is None and outcome.next_retry_at is None
    assert harness.xcom("t") == {"rows": [1, 2]}
    assert outcome.pushed_keys == ["return_value"]
    assert outcome.xcom_lengths == {"return_value": 1}
    assert outcome.end_date >= outcome.start_date


def test_returning_none_pushes_nothing(harness: Any) -> None:
    outcome = harness.run(_op("none", lambda: None))
    assert outcome.state is TI.SUCCESS
    assert not harness.has_xcom("t")
    assert outcome.pushed_keys == []


def test_do_xcom_push_false_pushes_nothing(harness: Any) -> None:
    outcome = harness.run(_op("nopush", lambda: 42, do_xcom_push=False))
    assert outcome.state is TI.SUCCESS
    assert not harness.has_xcom("t")


def test_empty_operator_succeeds_and_pushes_nothing(harness: Any) -> None:
    with DAG("empty"):
        op = EmptyOperator(task_id="t")
    assert harness.run(op).state is TI.SUCCESS
    assert not harness.has_xcom("t")


def test_multiple_outputs_pushes_each_key_and_the_whole_dict(harness: Any) -> None:
    outcome = harness.run(_op("multi", lambda: {"a": 1, "b": [2, 3]}, multiple_outputs=True))
    assert outcome.state is TI.SUCCESS
    assert harness.xcom("t", "a") == 1
    assert harness.xcom("t", "b") == [2, 3]
    assert harness.xcom("t") == {"a": 1, "b": [2, 3]}
    assert sorted(outcome.pushed_keys) == ["a", "b", "return_value"]


def test_taskflow_dict_return_annotation_implies_multiple_outputs(harness: Any) -> None:
    with DAG("multi_inferred") as dag:

        @task
        def stats() -> dict[str, int]:
            return {"count": 3}

        stats()
    assert harness.run(dag.get_task("stats")).state is TI.SUCCESS
    assert harness.xcom("stats", "count") == 3


def test_multiple_outputs_with_a_non_dict_result_fails(harness: Any) -> None:
    outcome = harness.run(_op("multi_bad", lambda: [1], multiple_outputs=True))
    assert outcome.state is TI.FAILED
    assert "multiple_outputs=True and must return a dict with str keys, got list" in outcome.error


def test_explicit_xcom_push_from_the_task(harness: Any) -> None:
    def push(ti: Any) -> None:
        ti.xcom_push("manual", {"k": "v"})
        get_current_context()["ti"].xcom_push(key="other", value=[1])

    outcome = harness.run(_op("explicit", push))
    assert outcome.state is TI.SUCCESS
    assert harness.xcom("t", "manual") == {"k": "v"}
    assert harness.xcom("t", "other") == [1]
    assert outcome.pushed_keys == ["manual", "other"]
    assert not harness.has_xcom("t")


def test_xcom_push_with_an_empty_key_fails(harness: Any) -> None:
    outcome = harness.run(_op("empty_key", lambda ti: ti.xcom_push("", 1)))
    assert outcome.state is TI.FAILED
    assert "XCom key must be a non-empty string" in outcome.error


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(object(), "builtins.object"), ({"nested": [lambda: 1]}, "function")],
)
def test_unsupported_xcom_value_fails_naming_the_type_and_task(
    harness: Any, value: Any, type_name: str
) -> None:
    outcome = harness.run(_op("bad_value", lambda: value, retries=0))
    assert outcome.state is TI.FAILED
    assert "task 't' cannot push XCom 'return_value'" in outcome.error
    assert type_name in outcome.error


def test_rich_xcom_values_round_trip(harness: Any) -> None:
    from datetime import date, datetime
    from decimal import Decimal

    value = {"when": datetime(2024, 1, 2, 3, 4), "day": date(2024, 1, 2), "d": Decimal("1.5")}
    value["pair"] = (1, "a")
    assert harness.run(_op("rich", lambda: value)).state is TI.SUCCESS
    assert harness.xcom("t") == value


def test_a_new_try_clears_what_the_previous_try_pushed(harness: Any) -> None:
    calls: list[int] = []

    def flaky(ti: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            ti.xcom_push("partial", 1)
            raise RuntimeError("first try fails")

    op = _op("clear", flaky, retries=1)
    assert harness.run(op, try_number=1).state is TI.UP_FOR_RETRY
    assert harness.has_xcom("t", "partial")
    assert harness.run(op, try_number=2).state is TI.SUCCESS
    assert not harness.has_xcom("t", "partial")


def test_skip_exception_marks_the_try_skipped(harness: Any) -> None:
    def skip() -> None:
        raise TradewindSkipException("nothing to do today")

    outcome = harness.run(_op("skip", skip, retries=3))
    assert outcome.state is TI.SKIPPED
    assert outcome.next_retry_at is None
    assert "nothing to do today" in harness.log


def test_fail_exception_fails_without_retry_even_with_retries_left(harness: Any) -> None:
    def fail() -> None:
        raise TradewindFailException("bad input, retrying will not help")

    outcome = harness.run(_op("fail", fail, retries=5))
    assert outcome.state is TI.FAILED
    assert outcome.next_retry_at is None
    assert "bad input, retrying will not help" in outcome.error


def test_other_exception_with_retries_left_is_up_for_retry_after_retry_delay(harness: Any) -> None:
    op = _op("retry", lambda: 1 / 0, retries=2, retry_delay=timedelta(seconds=30))
    first = harness.run(op, try_number=1)
    assert first.state is TI.UP_FOR_RETRY
    assert first.next_retry_at == first.end_date + timedelta(seconds=30)
    assert "ZeroDivisionError" in first.error
    assert harness.run(op, try_number=2).state is TI.UP_FOR_RETRY
    last = harness.run(op, try_number=3)
    assert last.state is TI.FAILED
    assert last.next_retry_at is None


def test_exponential_backoff_uses_airflows_formula(harness: Any) -> None:
    # The example from Airflow: dag d, task t, logical date 2024-01-01 UTC, 300 s.
    with DAG("d"):
        op = PythonOperator(
            task_id="t",
            python_callable=lambda: 1 / 0,
            retries=5,
            retry_delay=300,
            retry_exponential_backoff=True,
        )
    waits = []
    for try_number in (1, 2, 3):
        outcome = harness.run(
            op, try_number=try_number, logical_date=datetime(2024, 1, 1, tzinfo=UTC)
        )
        waits.append((outcome.next_retry_at - outcome.end_date).total_seconds())
    assert waits == [521, 817, 1518]


def test_max_retry_delay_caps_the_backoff(harness: Any) -> None:
    op = _op(
        "capped",
        lambda: 1 / 0,
        retries=5,
        retry_delay=300,
        retry_exponential_backoff=True,
        max_retry_delay=timedelta(seconds=600),
    )
    outcome = harness.run(op, try_number=3)
    assert outcome.next_retry_at - outcome.end_date == timedelta(seconds=600)


def test_invalid_param_at_task_start_fails_without_retry(harness: Any) -> None:
    ran: list[int] = []
    with DAG("params_bad"):
        op = PythonOperator(
            task_id="t",
            python_callable=lambda: ran.append(1),
            params={"n": Param(5, type="integer", minimum=1)},
            retries=3,
        )
    outcome = harness.run(op, conf={"n": 0})
    assert outcome.state is TI.FAILED
    assert "Invalid input for param n: 0 is less than the minimum of 1" in outcome.error
    assert ran == []


def test_system_exit_in_a_task_fails_the_try_instead_of_escaping(harness: Any) -> None:
    def leave() -> None:
        raise SystemExit(3)

    outcome = harness.run(_op("exit", leave))
    assert outcome.state is TI.FAILED
    assert "SystemExit" in outcome.error


def test_the_dags_task_is_not_changed_by_a_try(harness: Any) -> None:
    op = _op("untouched", lambda x: x, op_args=["{{ ds }}"])
    assert harness.run(op).state is TI.SUCCESS
    assert op.op_args == ["{{ ds }}"]
