"""Task callbacks: called with the context at the right moment; a failing one changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tradewind.exceptions import TradewindSkipException
from tradewind.operators import PythonOperator
from tradewind.sdk import DAG, Param, Variable, get_current_context
from tradewind.states import TaskInstanceState as TI


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, kind: str) -> Any:
        def callback(context: Any) -> None:
            self.calls.append((kind, dict(context)))

        return callback

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]


def _op(fn: Any, rec: Recorder, **kwargs: Any) -> PythonOperator:
    with DAG("callbacks"):
        return PythonOperator(
            task_id="t",
            python_callable=fn,
            on_execute_callback=rec("execute"),
            on_success_callback=rec("success"),
            on_failure_callback=rec("failure"),
            on_retry_callback=rec("retry"),
            on_skipped_callback=rec("skipped"),
            **kwargs,
        )


def test_success_calls_execute_then_success_with_the_context(harness: Any) -> None:
    rec = Recorder()
    assert harness.run(_op(lambda: 1, rec)).state is TI.SUCCESS
    assert rec.kinds == ["execute", "success"]
    context = rec.calls[1][1]
    assert context["ti"].task_id == "t"
    assert context["ds"] == "2024-03-05"
    assert "exception" not in context


def test_on_execute_runs_after_rendering_and_before_execute(harness: Any) -> None:
    order: list[Any] = []
    with DAG("cb_order"):
        op = PythonOperator(
            task_id="t",
            python_callable=lambda x: order.append(("execute", x)),
            op_args=["{{ ds }}"],
            on_execute_callback=lambda ctx: order.append(("on_execute", ctx["task"].op_args)),
        )
    harness.run(op)
    assert order == [("on_execute", ["2024-03-05"]), ("execute", "2024-03-05")]


def test_failure_callback_gets_the_exception(harness: Any) -> None:
    rec = Recorder()
    outcome = harness.run(_op(lambda: 1 / 0, rec))
    assert outcome.state is TI.FAILED
    assert rec.kinds == ["execute", "failure"]
    assert isinstance(rec.calls[1][1]["exception"], ZeroDivisionError)


def test_retry_callback_gets_the_exception_when_retries_are_left(harness: Any) -> None:
    rec = Recorder()
    outcome = harness.run(_op(lambda: 1 / 0, rec, retries=1, retry_delay=timedelta(0)))
    assert outcome.state is TI.UP_FOR_RETRY
    assert rec.kinds == ["execute", "retry"]
    assert isinstance(rec.calls[1][1]["exception"], ZeroDivisionError)


def test_skipped_callback_on_skip(harness: Any) -> None:
    def skip() -> None:
        raise TradewindSkipException("not today")

    rec = Recorder()
    assert harness.run(_op(skip, rec)).state is TI.SKIPPED
    assert rec.kinds == ["execute", "skipped"]


def test_a_list_of_callbacks_is_called_in_order(harness: Any) -> None:
    seen: list[str] = []
    with DAG("cb_list"):
        op = PythonOperator(
            task_id="t",
            python_callable=lambda: None,
            on_success_callback=[lambda c: seen.append("first"), lambda c: seen.append("second")],
        )
    harness.run(op)
    assert seen == ["first", "second"]


@pytest.mark.parametrize(
    ("fn", "hook", "state"),
    [
        (lambda: 1, "on_success_callback", TI.SUCCESS),
        (lambda: 1, "on_execute_callback", TI.SUCCESS),
        (lambda: 1 / 0, "on_failure_callback", TI.FAILED),
        (lambda: 1 / 0, "on_retry_callback", TI.UP_FOR_RETRY),
    ],
)
def test_a_raising_callback_does_not_change_the_state(
    harness: Any, fn: Any, hook: str, state: TI
) -> None:
    after: list[str] = []

    def boom(context: Any) -> None:
        raise RuntimeError("callback broke")

    with DAG("cb_raise"):
        op = PythonOperator(
            task_id="t",
            python_callable=fn,
            retries=1 if state is TI.UP_FOR_RETRY else 0,
            **{hook: [boom, lambda c: after.append("next callback still runs")]},
        )
    outcome = harness.run(op)
    assert outcome.state is state
    assert after == ["next callback still runs"]
    assert "callback broke" in harness.log


def test_failure_callback_runs_when_params_are_invalid(harness: Any) -> None:
    rec = Recorder()
    with DAG("cb_params", params={"n": Param(1, type="integer")}):
        op = PythonOperator(task_id="t", python_callable=lambda: 1, on_failure_callback=rec("f"))
    outcome = harness.run(op, conf={"n": "x"})
    assert outcome.state is TI.FAILED
    assert rec.kinds == ["f"]
    assert rec.calls[0][1]["ti"].task_id == "t"


def test_failure_callback_sees_the_current_context_and_run_variables(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWIND_VAR_ALERT_CHANNEL", "#ops")
    seen: dict[str, Any] = {}

    def on_failure(context: Any) -> None:
        seen["current"] = get_current_context()["ti"].task_id
        seen["var"] = Variable.get("alert_channel")

    with DAG("cb_current"):
        op = PythonOperator(
            task_id="t", python_callable=lambda: 1 / 0, on_failure_callback=on_failure
        )
    harness.run(op)
    assert seen == {"current": "t", "var": "#ops"}


def test_callback_output_goes_to_the_try_log(harness: Any) -> None:
    with DAG("cb_log"):
        op = PythonOperator(
            task_id="t",
            python_callable=lambda: None,
            on_success_callback=lambda c: print("callback says hello"),
        )
    harness.run(op)
    assert "callback says hello" in harness.log
