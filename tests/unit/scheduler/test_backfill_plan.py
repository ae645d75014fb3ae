"""Backfill planning follows Airflow 3.3.2: new runs for free dates, finished runs re-run as
the reprocess behaviour says, queued and running runs never touched."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tradewind.exceptions import ParamValidationError
from tradewind.operators import EmptyOperator
from tradewind.scheduler.backfill import (
    ALREADY_EXISTS,
    IN_FLIGHT,
    BackfillAction,
    ExistingRun,
    ReprocessBehavior,
    check_backfill_request,
    plan_backfill,
    skip_reason,
    summarize,
)
from tradewind.sdk import DAG, Param
from tradewind.timetables import (
    BackfillError,
    CronDataIntervalTimetable,
    CronTriggerTimetable,
    iter_backfill_runs,
)

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def day(n: int) -> datetime:
    return datetime(2024, 1, n, tzinfo=UTC)


def daily(first: int = 1, last: int = 4, *, reverse: bool = False) -> list:
    return iter_backfill_runs(
        CronDataIntervalTimetable("@daily", timezone="UTC"),
        day(first),
        day(last),
        reverse=reverse,
        now=NOW,
    )


def test_every_free_date_gets_a_backfill_run_named_after_its_run_after() -> None:
    plan = plan_backfill(daily(), {}, "none")
    assert [p.action for p in plan] == [BackfillAction.CREATE] * 4
    assert [p.sort_ordinal for p in plan] == [1, 2, 3, 4]
    assert [p.logical_date for p in plan] == [day(1), day(2), day(3), day(4)]
    # Airflow 3 names a run after run_after: the end of a data interval.
    assert plan[0].run_id == "backfill__2024-01-02T00:00:00+00:00"
    assert plan[0].data_interval == (day(1), day(2))
    assert all(p.existing is None and p.reason is None for p in plan)


def test_run_backwards_numbers_the_newest_date_first() -> None:
    plan = plan_backfill(daily(reverse=True), {}, "none")
    assert [(p.sort_ordinal, p.logical_date.day) for p in plan] == [(1, 4), (2, 3), (3, 2), (4, 1)]


def test_a_trigger_timetable_backfills_its_schedule_times() -> None:
    runs = iter_backfill_runs(
        CronTriggerTimetable("0 6 * * *", timezone="UTC"), day(1), day(3), now=NOW
    )
    plan = plan_backfill(runs, {}, "none")
    assert [p.run_id for p in plan] == [
        "backfill__2024-01-01T06:00:00+00:00",
        "backfill__2024-01-02T06:00:00+00:00",
    ]


STATES = ["queued", "running", "success", "failed"]


@pytest.mark.parametrize(
    ("behavior", "expected"),
    [
        ("none", ["skip", "skip", "skip", "skip"]),
        ("failed", ["skip", "skip", "skip", "clear"]),
        ("completed", ["skip", "skip", "clear", "clear"]),
    ],
)
def test_existing_runs_follow_the_reprocess_behavior(behavior: str, expected: list[str]) -> None:
    existing = {
        day(i + 1): ExistingRun(i + 1, f"scheduled__{i}", state) for i, state in enumerate(STATES)
    }
    plan = plan_backfill(daily(1, 5), existing, behavior)
    assert [str(p.action) for p in plan] == [*expected, "create"]
    # Re-run and skipped dates keep the existing run and its id.
    assert [p.run_id for p in plan[:4]] == [f"scheduled__{i}" for i in range(4)]
    assert [p.existing.id for p in plan[:4]] == [1, 2, 3, 4]  # type: ignore[union-attr]


def test_skip_reasons_are_airflows_words() -> None:
    assert skip_reason("queued", ReprocessBehavior.COMPLETED) == IN_FLIGHT
    assert skip_reason("running", ReprocessBehavior.FAILED) == IN_FLIGHT
    assert skip_reason("success", ReprocessBehavior.NONE) == ALREADY_EXISTS
    assert skip_reason("failed", ReprocessBehavior.NONE) == ALREADY_EXISTS
    assert skip_reason("success", ReprocessBehavior.FAILED) == ALREADY_EXISTS
    assert skip_reason("failed", ReprocessBehavior.FAILED) is None
    assert skip_reason("success", ReprocessBehavior.COMPLETED) is None
    with pytest.raises(ValueError):
        skip_reason("failed", "sometimes")  # type: ignore[arg-type]


def test_summarize_counts_each_action() -> None:
    existing = {day(1): ExistingRun(1, "r1", "failed"), day(2): ExistingRun(2, "r2", "running")}
    counts = summarize(plan_backfill(daily(), existing, "failed"))
    assert counts == {BackfillAction.CREATE: 2, BackfillAction.CLEAR: 1, BackfillAction.SKIP: 1}


def make_dag(*, depends_on_past: bool = False) -> DAG:
    with DAG(
        "plan_dag",
        schedule="@daily",
        params={"n": Param(1, type="integer", minimum=1)},
    ) as dag:
        EmptyOperator(task_id="a", depends_on_past=depends_on_past) >> EmptyOperator(task_id="b")
    return dag


def test_depends_on_past_cannot_run_backwards_or_leave_holes() -> None:
    dag = make_dag(depends_on_past=True)
    with pytest.raises(BackfillError, match="cannot be run in reverse"):
        check_backfill_request(dag, reverse=True, reprocess_behavior="completed")
    for behavior in (None, "none"):
        with pytest.raises(BackfillError, match="must set reprocess behavior"):
            check_backfill_request(dag, reverse=False, reprocess_behavior=behavior)
    for behavior in ("failed", "completed"):
        check_backfill_request(dag, reverse=False, reprocess_behavior=behavior)


def test_without_depends_on_past_any_direction_and_behavior_is_fine() -> None:
    dag = make_dag()
    for reverse in (False, True):
        for behavior in (None, "none", "failed", "completed"):
            check_backfill_request(dag, reverse=reverse, reprocess_behavior=behavior)


def test_the_conf_is_checked_against_the_dags_params() -> None:
    dag = make_dag()
    check_backfill_request(dag, reverse=False, reprocess_behavior=None, dag_run_conf={"n": 3})
    check_backfill_request(dag, reverse=False, reprocess_behavior=None, dag_run_conf={"x": 1})
    with pytest.raises(ParamValidationError, match="Invalid input for param n"):
        check_backfill_request(dag, reverse=False, reprocess_behavior=None, dag_run_conf={"n": 0})
