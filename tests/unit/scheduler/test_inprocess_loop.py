"""The in-process run loop applies Airflow's scheduling rules: regression tests for each
difference the Airflow comparison (``tests/compat``) found, plus the orderings a whole-DAG
comparison cannot pin down (driven step by step, no threads)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tradewind.execution.client import InProcessClient
from tradewind.execution.runner import TryOutcome
from tradewind.inprocess import TaskInstanceRecord, run_dag
from tradewind.operators.empty import EmptyOperator
from tradewind.operators.python import BranchPythonOperator, PythonOperator, ShortCircuitOperator
from tradewind.scheduler.run_machine import RunMachine
from tradewind.sdk import DAG, task
from tradewind.states import DagRunState
from tradewind.states import TaskInstanceState as TI
from tradewind.xcom.memory import MemoryXComBackend

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def _fail() -> None:
    raise RuntimeError("fails on purpose")


class Stepper:
    """Drives a run by hand: ``start`` what is ready, ``finish`` task instances by key."""

    def __init__(self, dag: DAG) -> None:
        self.run = RunMachine(dag)

    def rec(self, key: str) -> TaskInstanceRecord:
        return next(r for recs in self.run.records.values() for r in recs if r.key == key)

    def start(self) -> set[str]:
        started = self.run.ready()
        for rec in started:
            rec.state = TI.RUNNING
        return {rec.key for rec in started}

    def finish(self, key: str, state: TI, skip: list[str] | None = None) -> None:
        outcome = TryOutcome(state=state, start_date=NOW, end_date=NOW)
        outcome.skip_downstream = list(skip or [])
        self.run.apply(self.rec(key), outcome)

    def state(self, key: str) -> str | None:
        rec = self.rec(key)
        return rec.state.value if rec.state is not None else None


# -- short-circuit ---------------------------------------------------------------------------
@pytest.mark.parametrize("ignore", [True, False])
def test_short_circuit_does_not_skip_teardowns(ignore: bool) -> None:
    with DAG("sc_teardowns") as dag:
        prepare = EmptyOperator(task_id="prepare")
        check = ShortCircuitOperator(
            task_id="check", python_callable=lambda: False, ignore_downstream_trigger_rules=ignore
        )
        work = EmptyOperator(task_id="work")
        below = EmptyOperator(task_id="below").as_teardown(setups=prepare)
        direct = EmptyOperator(task_id="direct").as_teardown(setups=prepare)
        prepare >> check >> work >> below
        check >> direct
    states = run_dag(dag).task_states()
    assert (states["work"], states["below"], states["direct"]) == ("skipped", "success", "success")


def test_short_circuit_skips_literal_copies_only_when_directly_downstream() -> None:
    with DAG("sc_literal_copies") as dag:

        @task
        def double(y: int) -> int:
            return 2 * y

        check = ShortCircuitOperator(task_id="check", python_callable=lambda: 0)
        d1 = EmptyOperator(task_id="d1")
        check >> [double.override(task_id="m1").expand(y=[1, 2]), d1]
        d1 >> double.override(task_id="m2", trigger_rule="all_done").expand(y=[3])
    states = run_dag(dag).task_states()
    assert (states["m1[0]"], states["m1[1]"], states["m2[0]"]) == ("skipped", "skipped", "success")


# -- branching -------------------------------------------------------------------------------
def test_branch_skips_every_copy_of_a_literal_mapped_child() -> None:
    with DAG("branch_literal_child") as dag:

        @task
        def double(y: int) -> int:
            return 2 * y

        chooser = BranchPythonOperator(task_id="branch", python_callable=lambda: "a")
        chooser >> [EmptyOperator(task_id="a"), double.override(task_id="m").expand(y=[1, 2])]
    states = run_dag(dag).task_states()
    assert (states["a"], states["m[0]"], states["m[1]"]) == ("success", "skipped", "skipped")


def test_a_mapped_branch_skips_nothing() -> None:
    """Airflow 3.3 records a mapped branch copy's choice but never acts on it."""
    with DAG("branch_mapped_copies") as dag:

        @task.branch
        def pick(x: int) -> str:
            return "a" if x else "b"

        pick.expand(x=[0, 1]) >> [EmptyOperator(task_id="a"), EmptyOperator(task_id="b")]
    states = run_dag(dag).task_states()
    assert (states["a"], states["b"]) == ("success", "success")


def test_a_branch_leaves_running_instances_alone() -> None:
    with DAG("branch_running") as dag:
        chooser = EmptyOperator(task_id="branch")
        x = EmptyOperator(task_id="x")
        d = EmptyOperator(task_id="d", trigger_rule="one_success")
        [chooser, x] >> d
    step = Stepper(dag)
    assert step.start() == {"branch", "x"}
    step.finish("x", TI.SUCCESS)
    assert step.start() == {"d"}
    step.finish("branch", TI.SUCCESS, skip=["d"])
    assert step.state("d") == "running"


def test_a_branch_skip_overrides_upstream_failed() -> None:
    """Airflow's skip only spares running, succeeded and failed task instances."""
    with DAG("branch_over_uf") as dag:
        chooser = EmptyOperator(task_id="branch")
        bad = EmptyOperator(task_id="bad")
        d = EmptyOperator(task_id="d")
        [chooser, bad] >> d
    step = Stepper(dag)
    step.start()
    step.finish("bad", TI.FAILED)
    step.start()
    assert step.state("d") == "upstream_failed"
    step.finish("branch", TI.SUCCESS, skip=["d"])
    assert step.state("d") == "skipped"


# -- mapping ---------------------------------------------------------------------------------
def test_a_failed_copy_of_a_mapped_feeder_does_not_fail_the_expansion() -> None:
    """Only an *unexpanded* feeder that failed upstream-fails a mapped task; here the
    trigger rule (all_done) decides and the task expands over the values that exist."""
    with DAG("mapped_over_partial") as dag:

        @task
        def item(x: int) -> int:
            if x == 1:
                raise RuntimeError("fails on purpose")
            return x

        @task
        def double(y: int) -> int:
            return 2 * y

        first = item.expand(x=[0, 1, 2])
        double.override(task_id="lenient", trigger_rule="all_done").expand(y=first)
    states = run_dag(dag).task_states()
    assert {k: v for k, v in states.items() if k.startswith("lenient")} == {
        "lenient[0]": "success",
        "lenient[1]": "success",
    }


def test_a_literal_mapped_task_is_expanded_when_the_run_starts() -> None:
    with DAG("mapped_literal_start") as dag:

        @task
        def double(y: int) -> int:
            return 2 * y

        PythonOperator(task_id="bad", python_callable=_fail) >> double.expand(y=[1, 2])
    step = Stepper(dag)
    assert [r.key for r in step.run.records["double"]] == ["double[0]", "double[1]"]
    states = run_dag(dag).task_states()
    assert (states["double[0]"], states["double[1]"]) == ("upstream_failed", "upstream_failed")


def test_an_empty_literal_expansion_is_skipped() -> None:
    with DAG("mapped_literal_empty_unit") as dag:

        @task
        def double(y: int) -> int:
            return 2 * y

        double.expand(y=[]) >> EmptyOperator(task_id="after", trigger_rule="all_done")
    assert run_dag(dag).task_states() == {"double": "skipped", "after": "success"}


# -- setups and teardowns --------------------------------------------------------------------
@pytest.mark.parametrize(("setup_fn", "expected"), [(_fail, "upstream_failed"), (None, "skipped")])
def test_an_indirect_setup_decides_over_an_all_done_rule(setup_fn: object, expected: str) -> None:
    from tradewind.sdk import TradewindSkipException

    def _skip() -> None:
        raise TradewindSkipException("skips on purpose")

    with DAG("setup_constraint") as dag:
        prepare = PythonOperator(task_id="prepare", python_callable=setup_fn or _skip)
        w1 = EmptyOperator(task_id="w1")
        w2 = EmptyOperator(task_id="w2", trigger_rule="all_done")
        always = EmptyOperator(task_id="always", trigger_rule="always")
        cleanup = EmptyOperator(task_id="cleanup").as_teardown(setups=prepare)
        prepare >> w1 >> [w2, always] >> cleanup
    states = run_dag(dag).task_states()
    assert (states["w2"], states["always"]) == (expected, "success")


def test_a_task_held_by_an_indirect_setup_runs_when_the_setup_finishes() -> None:
    """u ends early (a failure elsewhere), so only the setup finishing can wake t."""
    with DAG("setup_wakes") as dag:
        s = EmptyOperator(task_id="s")
        b = EmptyOperator(task_id="b")
        u = EmptyOperator(task_id="u")
        t = EmptyOperator(task_id="t", trigger_rule="all_done")
        td = EmptyOperator(task_id="td").as_teardown(setups=s)
        f = EmptyOperator(task_id="f")
        s >> b >> u >> t >> td
        f >> u
    step = Stepper(dag)
    assert step.start() == {"s", "f"}
    step.finish("f", TI.FAILED)
    assert step.start() == set()
    assert (step.state("u"), step.state("t")) == ("upstream_failed", None)
    step.finish("s", TI.SUCCESS)
    assert step.start() == {"b", "t"}


def test_a_teardown_waits_for_every_task_between_its_setup_and_itself() -> None:
    with DAG("teardown_scope") as dag:
        s = EmptyOperator(task_id="s")
        w1 = EmptyOperator(task_id="w1")
        w2 = EmptyOperator(task_id="w2")
        w3 = EmptyOperator(task_id="w3", trigger_rule="one_success")
        td = EmptyOperator(task_id="td").as_teardown(setups=s)
        s >> [w1, w2] >> w3 >> td
    step = Stepper(dag)
    assert step.start() == {"s"}
    step.finish("s", TI.SUCCESS)
    assert step.start() == {"w1", "w2"}
    step.finish("w1", TI.SUCCESS)
    assert step.start() == {"w3"}
    step.finish("w3", TI.SUCCESS)
    assert step.start() == set()  # w2 is still running
    step.finish("w2", TI.SUCCESS)
    assert step.start() == {"td"}


# -- fail_fast -------------------------------------------------------------------------------
def test_fail_fast_fails_running_tasks_and_skips_the_rest() -> None:
    with DAG("fail_fast_unit", fail_fast=True) as dag:

        @task
        def double(y: int) -> int:
            return 2 * y

        a = EmptyOperator(task_id="a")
        c = EmptyOperator(task_id="c")
        td = EmptyOperator(task_id="td").as_teardown()
        a >> c >> td
        double.expand(y=[1, 2])
    step = Stepper(dag)
    assert step.start() == {"a", "double[0]", "double[1]"}
    step.finish("double[0]", TI.FAILED)
    # a was running: failed; c had not started: skipped; the teardown and the other copy
    # of the failed task are left alone.
    assert [step.state(k) for k in ("a", "c", "td", "double[1]")] == [
        "failed",
        "skipped",
        None,
        "running",
    ]
    step.finish("a", TI.SUCCESS)  # its try ends later: too late to change anything
    assert step.state("a") == "failed"
    step.finish("double[1]", TI.SUCCESS)
    assert step.start() == {"td"}


def test_fail_fast_run_ends_as_its_leaves_say() -> None:
    """As in Airflow, the failed task is not a leaf and the leaves were skipped: success."""
    with DAG("fail_fast_run", fail_fast=True) as dag:
        PythonOperator(task_id="work", python_callable=_fail) >> EmptyOperator(task_id="after")
    result = run_dag(dag)
    assert result.task_states() == {"work": "failed", "after": "skipped"}
    assert result.state is DagRunState.SUCCESS


def test_mapped_branch_copies_push_their_choice_like_airflow() -> None:
    from tradewind.sdk import DAG, task

    xcom = MemoryXComBackend()
    with DAG("mapped_branch_pushes") as dag:

        @task.branch
        def pick(n: int) -> str:
            return "left" if n else "right"

        @task
        def left() -> None: ...

        @task
        def right() -> None: ...

        pick.expand(n=[0, 1]) >> [left(), right()]

    result = run_dag(dag, client=InProcessClient(xcom))
    assert result.get("pick[0]").state.value == "success"
    values = [
        v for _, v in xcom.get_all("mapped_branch_pushes", result.run_id, "pick", "return_value")
    ]
    assert values == ["right", "left"]
