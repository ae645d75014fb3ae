"""XCom values as tasks push and pull them: typed values between tasks, errors naming the
task, the pickle setting, and classes defined in the DAG file itself."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tradewind.dag_processing.loader import load_dag_file
from tradewind.exceptions import XComError
from tradewind.execution.client import ServicesClient
from tradewind.execution.runner import TryOutcome, run_task_try
from tradewind.execution.runtime import DagRunInfo
from tradewind.executors.memory_services import MemoryWorkerServices
from tradewind.operators import PythonOperator
from tradewind.sdk import DAG
from tradewind.states import TaskInstanceState as TI
from tradewind.xcom.base import XComKey

WHEN = datetime(2024, 3, 5, tzinfo=UTC)


def _optional(module: str) -> Any:
    """The module, or skip; under CI (which installs the dev extra) a missing one fails."""
    if os.environ.get("CI", "").lower() == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module)


RUN_ID = "manual__2024-03-05"


class Run:
    """Tries of one DAG's tasks in one run, through the client the inline executor uses
    (values are encoded on push and decoded on pull, as in a worker)."""

    def __init__(self) -> None:
        self.services = MemoryWorkerServices()
        self.client = ServicesClient(self.services)

    def run(self, task: Any) -> TryOutcome:
        info = DagRunInfo(
            dag_id=task.dag.dag_id,
            run_id=RUN_ID,
            logical_date=WHEN,
            data_interval_start=WHEN,
            data_interval_end=WHEN,
            run_after=WHEN,
            start_date=WHEN,
            conf={},
        )
        return run_task_try(task, info, client=self.client)

    def pulled(self, dag_id: str, task_id: str, key: str = "return_value") -> Any:
        return self.client.xcom_get(XComKey(dag_id, RUN_ID, task_id, -1, key))


class Opaque:
    pass


def _task(dag_id: str, fn: Any) -> PythonOperator:
    with DAG(dag_id):
        return PythonOperator(task_id="produce", python_callable=fn, retries=0)


def test_an_unsupported_return_value_fails_the_task_naming_type_and_task() -> None:
    outcome = Run().run(_task("bad_return", lambda: {"rows": [Opaque()]}))
    assert outcome.state is TI.FAILED
    assert outcome.error is not None
    assert "task 'produce' cannot push XCom 'return_value'" in outcome.error
    assert f"value['rows'][0] of type {__name__}.Opaque" in outcome.error


def test_an_unsupported_explicit_push_fails_naming_the_key_and_task() -> None:
    outcome = Run().run(_task("bad_push", lambda ti: ti.xcom_push("model", Opaque())))
    assert outcome.state is TI.FAILED
    assert outcome.error is not None
    assert "task 'produce' cannot push XCom 'model'" in outcome.error
    assert f"{__name__}.Opaque" in outcome.error


def test_with_pickle_allowed_the_same_task_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND__XCOM__ALLOW_PICKLE", "true")
    run = Run()
    outcome = run.run(_task("pickled", lambda: {"thing": Opaque()}))
    assert outcome.state is TI.SUCCESS
    assert type(run.pulled("pickled", "produce")["thing"]) is Opaque


DAG_FILE = """
import dataclasses
import enum

from tradewind.sdk import DAG, task


class Status(enum.Enum):
    OPEN = "open"
    PAID = "paid"


@dataclasses.dataclass(frozen=True)
class Order:
    id: int
    lines: tuple[str, ...]
    status: Status


with DAG("orders"):
    @task
    def make():
        return [Order(1, ("apple", "pear"), Status.PAID), Order(2, (), Status.OPEN)]

    @task
    def check(orders):
        assert all(isinstance(o, Order) for o in orders), [type(o) for o in orders]
        return {o.id: o.status for o in orders if o.status is Status.PAID}

    check(make())
"""


def test_a_dataclass_defined_in_the_dag_file_passes_between_its_tasks(tmp_path: Path) -> None:
    path = tmp_path / "orders_dag.py"
    path.write_text(textwrap.dedent(DAG_FILE))
    (dag,) = load_dag_file(path)
    run = Run()
    try:
        assert run.run(dag.get_task("make")).state is TI.SUCCESS
        outcome = run.run(dag.get_task("check"))
        assert outcome.state is TI.SUCCESS, outcome.error
        (paid,) = run.pulled("orders", "check").values()
        assert type(paid).__name__ == "Status" and paid.value == "paid"

        # A reader that has not loaded this DAG file cannot import the class, and says so.
        order_module = type(paid).__module__
        saved = sys.modules.pop(order_module)
        try:
            with pytest.raises(XComError) as err:
                run.pulled("orders", "make")
            assert f"{order_module}:Order" in str(err.value)
            assert "cannot be imported where the value is pulled" in str(err.value)
        finally:
            sys.modules[order_module] = saved
    finally:
        for name in [n for n in sys.modules if n.startswith("tradewind_dag_")]:
            if getattr(sys.modules[name], "__file__", None) == str(path.resolve()):
                del sys.modules[name]


def test_a_dataframe_and_numpy_values_pass_between_tasks() -> None:
    np, pd = _optional("numpy"), _optional("pandas")
    frame = pd.DataFrame({"n": np.arange(3), "s": ["a", "b", "c"]})
    run = Run()
    outcome = run.run(_task("frames", lambda: {"frame": frame, "total": frame["n"].sum()}))
    assert outcome.state is TI.SUCCESS, outcome.error
    pulled = run.pulled("frames", "produce")
    pd.testing.assert_frame_equal(pulled["frame"], frame)
    assert pulled["total"] == 3 and type(pulled["total"]) is np.int64
