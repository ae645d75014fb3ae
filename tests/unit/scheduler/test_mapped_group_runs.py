"""Runs of mapped task groups: each copy runs its own chain with its own values, copies are
judged by their own index, and tasks after the group read every copy (as Airflow 3.3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tradewind.db.queries.dagruns import initial_task_instances
from tradewind.execution.client import InProcessClient
from tradewind.execution.runner import TryOutcome
from tradewind.inprocess import DagRunResult, run_dag
from tradewind.operators.empty import EmptyOperator
from tradewind.scheduler.readiness import Decision, UpstreamCounts, decide
from tradewind.scheduler.run_machine import RunMachine
from tradewind.sdk import DAG, task, task_group
from tradewind.sdk.trigger_rule import TriggerRule
from tradewind.states import TaskInstanceState as TI
from tradewind.xcom.base import XComKey
from tradewind.xcom.memory import MemoryXComBackend

NOW = datetime(2024, 1, 1, tzinfo=UTC)


@task
def double(x: int) -> int:
    return 2 * x


@task
def add_one(x: int) -> int:
    return x + 1


@task
def seen(values: Any) -> str:
    return repr(values)


class Ran:
    def __init__(self, dag: DAG) -> None:
        self.backend = MemoryXComBackend()
        self.result: DagRunResult = run_dag(dag, client=InProcessClient(self.backend))

    @property
    def states(self) -> dict[str, str | None]:
        return self.result.task_states()

    def value(self, task_id: str, map_index: int = -1) -> Any:
        r = self.result
        return self.backend.get(XComKey(r.dag_id, r.run_id, task_id, map_index, "return_value"))

    def values(self, task_id: str) -> list[Any]:
        r = self.result
        return [v for _, v in self.backend.get_all(r.dag_id, r.run_id, task_id, "return_value")]


def test_each_copy_runs_its_own_chain_and_downstream_gets_every_last_value() -> None:
    with DAG("mgr_chain") as dag:

        @task
        def make() -> list[int]:
            return [1, 2, 3]

        @task
        def where(ti: Any = None) -> int:
            return int(ti.map_index)

        @task_group
        def process(x: int) -> Any:
            where()  # does not use ``x``: still one copy per element
            return add_one(double(x))

        seen(process.expand(x=make()))
    ran = Ran(dag)
    assert ran.result.state.value == "success"
    assert ran.values("process.double") == [2, 4, 6]
    assert ran.values("process.add_one") == [3, 5, 7]
    assert ran.values("process.where") == [0, 1, 2]
    assert ran.value("seen") == "[3, 5, 7]"


def test_partial_fixes_an_argument_for_every_copy() -> None:
    with DAG("mgr_partial") as dag:

        @task
        def scale(x: int, factor: int) -> int:
            return x * factor

        @task_group
        def grp(x: int, factor: int) -> Any:
            return scale(x, factor)

        seen(grp.partial(factor=10).expand(x=[1, 2]))
    assert Ran(dag).value("seen") == "[10, 20]"


def test_expand_kwargs_gives_each_copy_its_dict_and_a_missing_argument_fails_it() -> None:
    with DAG("mgr_kwargs") as dag:

        @task
        def rows() -> list[dict[str, int]]:
            return [{"x": 1, "y": 2}, {"x": 3}]

        @task
        def add(x: int, y: int = 0) -> int:
            return x + y

        @task_group
        def grp(x: int, y: int = 0) -> Any:
            return add(x, y)

        grp.expand_kwargs(rows())
    ran = Ran(dag)
    # As Airflow: every argument of the function is a stand-in, so copy 1 (no "y") fails.
    assert ran.states["grp.add[0]"] == "success" and ran.value("grp.add", 0) == 3
    assert ran.states["grp.add[1]"] == "failed"
    assert "have no 'y'" in (ran.result.get("grp.add[1]").error or "")


def test_after_the_group_one_value_comes_as_itself_and_none_as_none() -> None:
    with DAG("mgr_one") as dag:

        @task_group
        def grp(x: int) -> Any:
            return double(x)

        @task
        def nothing() -> list[int]:
            return []

        seen.override(task_id="one")(grp.expand(x=[5]))
        empty = grp.expand(x=nothing())
        seen.override(task_id="none", trigger_rule="all_done")(empty)
    ran = Ran(dag)
    # Airflow's xcom_pull over copies: one value as itself, none as None.
    assert ran.value("one") == "10"
    assert ran.states["grp__1.double"] == "skipped"
    assert ran.value("none") == "None"


def test_a_group_feeder_must_push_a_list() -> None:
    with DAG("mgr_feeder") as dag:

        @task
        def scalar() -> int:
            return 3

        @task_group
        def grp(x: int) -> Any:
            return double(x)

        grp.expand(x=scalar())
    ran = Ran(dag)
    assert ran.states["scalar"] == "failed"
    assert "unmappable type 'int'" in (ran.result.get("scalar").error or "")
    assert ran.states["grp.double"] == "upstream_failed"


def test_nested_mapped_groups_give_each_pair_of_indexes_its_values() -> None:
    with DAG("mgr_nested") as dag:

        @task
        def combine(base: int, y: int) -> int:
            return base + y

        @task_group
        def outer(x: int) -> None:
            base = double.override(task_id="base")(x)

            @task_group
            def inner(y: int) -> Any:
                return combine(base, y)

            inner.expand(y=[1, 2])

        outer.expand(x=[10, 20])
    ran = Ran(dag)
    assert ran.result.state.value == "success"
    # Copy i * 2 + j: outer element i, inner element j; ``base`` is outer copy i's.
    assert ran.values("outer.inner.combine") == [21, 22, 41, 42]


class Stepper:
    def __init__(self, dag: DAG) -> None:
        self.run = RunMachine(dag)

    def start(self) -> set[str]:
        started = self.run.ready()
        for rec in started:
            rec.state = TI.RUNNING
        return {rec.key for rec in started}

    def finish(self, key: str, state: TI) -> None:
        rec = next(r for recs in self.run.records.values() for r in recs if r.key == key)
        self.run.apply(rec, TryOutcome(state=state, start_date=NOW, end_date=NOW))

    def state(self, key: str) -> str | None:
        rec = next(r for recs in self.run.records.values() for r in recs if r.key == key)
        return rec.state.value if rec.state is not None else None


def _two_step() -> DAG:
    with DAG("mgr_steps") as dag:

        @task_group
        def grp(x: int) -> Any:
            return add_one(double(x))

        grp.expand(x=[1, 2]) >> EmptyOperator(task_id="after", trigger_rule="all_done")
    return dag


def test_a_copy_waits_for_its_own_index_only() -> None:
    s = Stepper(_two_step())
    assert s.start() == {"grp.double[0]", "grp.double[1]"}
    s.finish("grp.double[0]", TI.SUCCESS)
    # Copy 0 goes on while copy 1 of the first task still runs.
    assert s.start() == {"grp.add_one[0]"}
    s.finish("grp.double[1]", TI.FAILED)
    assert s.start() == set()
    assert s.state("grp.add_one[1]") == "upstream_failed"
    s.finish("grp.add_one[0]", TI.SUCCESS)
    assert s.start() == {"after"}  # after the group: every copy counts


def test_a_new_run_starts_with_one_row_per_copy_of_a_literal_group() -> None:
    rows = initial_task_instances(_two_step(), "manual__x", None)
    assert sorted((r.task_id, r.map_index) for r in rows) == [
        ("after", -1),
        ("grp.add_one", 0),
        ("grp.add_one", 1),
        ("grp.double", 0),
        ("grp.double", 1),
    ]


def test_a_task_whose_upstreams_have_no_relevant_instance_applies_its_rule_to_zero() -> None:
    # The unexpanded copy of a grouped task once its upstream in the group expanded.
    none = UpstreamCounts(upstream=0)
    assert decide(TriggerRule.ALL_SUCCESS, none, has_upstream=True) is Decision.RUN
    assert decide(TriggerRule.ALL_DONE_MIN_ONE_SUCCESS, none, has_upstream=True) is (
        Decision.UPSTREAM_FAILED
    )
    assert decide(TriggerRule.ALL_DONE_MIN_ONE_SUCCESS, none) is Decision.RUN  # no upstream
