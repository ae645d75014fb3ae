"""``depends_on_past`` / ``wait_for_downstream`` decide as Airflow 3.3's ``PrevDagrunDep``,
and the run machine holds a task instance back (never fails it) while the past says wait."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from tradewind.execution.runner import TryOutcome
from tradewind.inprocess import run_dag
from tradewind.operators.empty import EmptyOperator
from tradewind.scheduler.past_deps import (
    PastRuns,
    PreviousRun,
    depends_on_past,
    needed_task_ids,
    past_blocker,
)
from tradewind.scheduler.run_machine import RunMachine
from tradewind.sdk import DAG, task
from tradewind.states import TaskInstanceState as TI

JAN1 = datetime(2024, 1, 1, tzinfo=UTC)
JAN2 = datetime(2024, 1, 2, tzinfo=UTC)


def make_task(**overrides: Any) -> SimpleNamespace:
    fields: dict[str, Any] = {
        "task_id": "load",
        "depends_on_past": True,
        "wait_for_downstream": False,
        "ignore_first_depends_on_past": True,
        "downstream_task_ids": frozenset(),
        "start_date": None,
    }
    fields.update(overrides)
    return SimpleNamespace(**fields)


def previous(**states: tuple[TI | None, ...]) -> PastRuns:
    return PastRuns(previous=PreviousRun(JAN1, states))


# -- the rule ------------------------------------------------------------------------------
def test_a_task_without_depends_on_past_never_waits() -> None:
    assert past_blocker(make_task(depends_on_past=False), previous(load=(TI.FAILED,))) is None


def test_the_first_run_has_no_past_to_wait_for() -> None:
    assert past_blocker(make_task(), PastRuns()) is None


@pytest.mark.parametrize("state", [TI.SUCCESS, TI.SKIPPED])
def test_a_previous_success_or_skip_lets_the_task_run(state: TI) -> None:
    assert past_blocker(make_task(), previous(load=(state,))) is None


@pytest.mark.parametrize(
    "state",
    [None, TI.SCHEDULED, TI.QUEUED, TI.RUNNING, TI.UP_FOR_RETRY, TI.FAILED, TI.UPSTREAM_FAILED],
)
def test_any_other_previous_state_holds_the_task_back(state: TI | None) -> None:
    reason = past_blocker(make_task(), previous(load=(state,)))
    assert reason is not None and "1 previous task instance(s)" in reason


def test_a_removed_previous_instance_holds_the_task_back_as_in_airflow() -> None:
    assert past_blocker(make_task(), previous(load=(TI.REMOVED,))) is not None


def test_every_map_index_of_the_previous_run_must_be_done() -> None:
    # Airflow counts all of the task's instances in the previous run, whatever the map index.
    mixed = previous(load=(TI.SUCCESS, TI.FAILED, TI.SUCCESS))
    reason = past_blocker(make_task(), mixed)
    assert reason is not None and "1 previous task instance(s)" in reason
    assert past_blocker(make_task(), previous(load=(TI.SUCCESS, TI.SKIPPED))) is None


def test_a_task_new_since_the_previous_run_runs_once_with_ignore_first() -> None:
    other = previous(extract=(TI.SUCCESS,))
    assert past_blocker(make_task(), other) is None
    ran_before = PastRuns(previous=other.previous, ran_before=frozenset({"load"}))
    assert "has not run yet" in (past_blocker(make_task(), ran_before) or "")
    strict = make_task(ignore_first_depends_on_past=False)
    assert "has not run yet" in (past_blocker(strict, other) or "")


def test_wait_for_downstream_needs_the_previous_direct_downstream_done() -> None:
    t = make_task(wait_for_downstream=True, downstream_task_ids=frozenset({"report"}))
    busy = previous(load=(TI.SUCCESS,), report=(TI.RUNNING,))
    assert "wait_for_downstream" in (past_blocker(t, busy) or "")
    done = previous(load=(TI.SUCCESS,), report=(TI.SKIPPED,))
    assert past_blocker(t, done) is None
    # A downstream task the previous run did not have does not hold anything back.
    assert past_blocker(t, previous(load=(TI.SUCCESS,))) is None


def test_wait_for_downstream_implies_depends_on_past() -> None:
    t = make_task(depends_on_past=False, wait_for_downstream=True)
    assert depends_on_past(t)
    assert past_blocker(t, previous(load=(TI.FAILED,))) is not None


def test_the_first_run_of_a_backfill_does_not_wait() -> None:
    past = PastRuns(previous=PreviousRun(JAN1, {"load": (TI.FAILED,)}), first_in_backfill=True)
    assert past_blocker(make_task(), past) is None


def test_with_catchup_a_task_that_started_after_the_previous_run_does_not_wait() -> None:
    failed = previous(load=(TI.FAILED,))
    late = make_task(start_date=JAN2)
    assert past_blocker(late, failed, catchup=True) is None
    assert past_blocker(late, failed, catchup=False) is not None
    # The task's start date defaults to the DAG's, and is the later of both.
    assert past_blocker(make_task(), failed, catchup=True, dag_start_date=JAN2) is None
    early = make_task(start_date=datetime(2023, 1, 1))  # naive: taken as UTC
    assert past_blocker(early, failed, catchup=True, dag_start_date=JAN1) is not None


def test_needed_task_ids_are_the_tasks_and_their_downstream_for_wait_for_downstream() -> None:
    tasks = [
        make_task(task_id="a", wait_for_downstream=True, downstream_task_ids=frozenset({"b"})),
        make_task(task_id="c"),
        make_task(task_id="d", depends_on_past=False, downstream_task_ids=frozenset({"e"})),
    ]
    assert needed_task_ids(tasks) == {"a", "b", "c"}


# -- in the run machine ------------------------------------------------------------------------
def _dag() -> DAG:
    with DAG("past_machine") as dag:
        first = EmptyOperator(task_id="first", depends_on_past=True)
        then = EmptyOperator(task_id="then")
        gate = EmptyOperator(task_id="gate", depends_on_past=True)
        first >> then >> gate

        @task(depends_on_past=True)
        def each(x: int) -> int:
            return x

        each.expand(x=[1, 2])
    return dag


def _finish(machine: RunMachine, task_id: str, state: TI) -> None:
    rec = machine.records[task_id][0]
    rec.state = TI.RUNNING
    machine.apply(rec, TryOutcome(state=state, start_date=JAN2, end_date=JAN2))


def test_the_machine_holds_back_only_the_tasks_the_past_blocks() -> None:
    past = previous(first=(TI.FAILED,), each=(TI.SUCCESS, TI.SUCCESS))
    machine = RunMachine(_dag(), past=past)
    ready = {rec.key for rec in machine.ready()}
    assert ready == {"each[0]", "each[1]"}
    assert machine.records["first"][0].state is None
    assert "not in a successful state" in machine.waiting_on_past["first"]


def test_a_held_back_task_still_becomes_upstream_failed_when_its_upstream_fails() -> None:
    past = previous(first=(TI.SUCCESS,), gate=(TI.FAILED,))
    machine = RunMachine(_dag(), past=past)
    assert "first" in {rec.key for rec in machine.ready()}
    _finish(machine, "first", TI.SUCCESS)
    assert {rec.key for rec in machine.ready()} == {"then"}
    _finish(machine, "then", TI.FAILED)
    machine.ready()
    assert machine.records["gate"][0].state is TI.UPSTREAM_FAILED


def test_mapped_copies_wait_for_every_copy_of_the_previous_run() -> None:
    machine = RunMachine(_dag(), past=previous(first=(TI.SUCCESS,), each=(TI.SUCCESS, None)))
    assert {rec.key for rec in machine.ready()} == {"first"}
    assert [r.state for r in machine.records["each"]] == [None, None]


def test_dags_test_keeps_no_history_so_depends_on_past_passes() -> None:
    result = run_dag(_dag())
    assert result.state.value == "success"
    assert set(result.task_states().values()) == {"success"}
