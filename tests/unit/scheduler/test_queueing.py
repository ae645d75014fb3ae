"""Queueing follows Airflow: priority order, pools, per-run and per-task limits, executor room."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tradewind.scheduler.queueing import (
    ActiveCounts,
    Candidate,
    PoolSlots,
    select_for_queueing,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def cand(ti_id: str, **kw: object) -> Candidate:
    base: dict[str, object] = {
        "dag_id": "d",
        "run_id": "r",
        "task_id": ti_id,
        "map_index": -1,
        "priority_weight": 1,
        "pool": "default_pool",
        "pool_slots": 1,
        "run_after": T0,
        "max_active_tasks": 16,
    }
    base.update(kw)
    return Candidate(ti_id=ti_id, **base)  # type: ignore[arg-type]


def pools(slots: int = 128) -> dict[str, PoolSlots]:
    return {"default_pool": PoolSlots(slots, slots)}


def queued_ids(*args: object, **kw: object) -> list[str]:
    return [c.ti_id for c in select_for_queueing(*args, **kw).queued]  # type: ignore[arg-type]


def test_higher_priority_first_then_older_runs_then_map_index() -> None:
    cs = [
        cand("late", run_after=T0 + timedelta(days=1), priority_weight=5),
        cand("m1", map_index=1, priority_weight=5),
        cand("m0", map_index=0, priority_weight=5),
        cand("low", priority_weight=1),
        cand("high", priority_weight=9),
    ]
    assert queued_ids(cs, pools(), ActiveCounts(), 10) == ["high", "m0", "m1", "late", "low"]


def test_pool_slots_limit_and_a_big_task_does_not_block_smaller_ones() -> None:
    cs = [cand("big", pool_slots=3, priority_weight=9), cand("a"), cand("b"), cand("c")]
    decision = select_for_queueing(cs, pools(2), ActiveCounts(), 10)
    assert [c.ti_id for c in decision.queued] == ["a", "b"]
    assert decision.held["big"] == "needs 3 slots but pool 'default_pool' has only 2"
    assert decision.held["c"] == "pool 'default_pool' has 0 of 2 slots open"


def test_unlimited_pool_and_missing_pool() -> None:
    cs = [cand("x", pool="nowhere"), cand("y", pool="free", pool_slots=50)]
    decision = select_for_queueing(cs, {"free": PoolSlots(-1, -1)}, ActiveCounts(), 10)
    assert [c.ti_id for c in decision.queued] == ["y"]
    assert decision.held == {"x": "pool 'nowhere' does not exist"}


def test_max_active_tasks_counts_per_dag_run_including_already_active() -> None:
    active = ActiveCounts()
    active.add("d", "r1", "running_task")
    cs = [
        cand("a", run_id="r1", max_active_tasks=2),
        cand("b", run_id="r1", max_active_tasks=2),
        cand("c", run_id="r2", max_active_tasks=2),
    ]
    decision = select_for_queueing(cs, pools(), active, 10)
    assert [c.ti_id for c in decision.queued] == ["a", "c"]
    assert "max_active_tasks=2" in decision.held["b"]


def test_task_limits_across_runs_and_within_a_run() -> None:
    cs = [
        cand("r1", task_id="t", run_id="r1", max_active_tis_per_dag=1),
        cand("r2", task_id="t", run_id="r2", max_active_tis_per_dag=1),
        cand("m0", task_id="m", map_index=0, max_active_tis_per_dagrun=1),
        cand("m1", task_id="m", map_index=1, max_active_tis_per_dagrun=1),
    ]
    decision = select_for_queueing(cs, pools(), ActiveCounts(), 10)
    assert sorted(c.ti_id for c in decision.queued) == ["m0", "r1"]
    assert "max_active_tis_per_dag=1" in decision.held["r2"]
    assert "max_active_tis_per_dagrun=1" in decision.held["m1"]


def test_executor_slots_cap_how_many_are_queued() -> None:
    decision = select_for_queueing([cand(str(i)) for i in range(5)], pools(), ActiveCounts(), 2)
    assert len(decision.queued) == 2
    assert set(decision.held.values()) == {"the executor has no free slots (parallelism)"}
