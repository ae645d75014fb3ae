"""Effective priority weights (Airflow's weight rules)."""

from __future__ import annotations

from tradewind.scheduler.priority import INT32_MAX, priority_weights
from tradewind.sdk.trigger_rule import WeightRule as W

DOWN = {"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}
WEIGHT = {"a": 1, "b": 2, "c": 3, "d": 4}


def test_downstream_adds_every_task_below_once() -> None:
    weights = priority_weights(DOWN, WEIGHT, dict.fromkeys(DOWN, W.DOWNSTREAM))
    assert weights == {"a": 10, "b": 6, "c": 7, "d": 4}


def test_upstream_adds_every_task_above_once() -> None:
    weights = priority_weights(DOWN, WEIGHT, dict.fromkeys(DOWN, W.UPSTREAM))
    assert weights == {"a": 1, "b": 3, "c": 4, "d": 10}


def test_absolute_is_the_own_weight() -> None:
    assert priority_weights(DOWN, WEIGHT, dict.fromkeys(DOWN, W.ABSOLUTE)) == WEIGHT


def test_weights_are_clamped_to_int32() -> None:
    weights = priority_weights(
        {"a": ["b"], "b": []},
        {"a": INT32_MAX, "b": 5},
        {
            "a": W.DOWNSTREAM,
            "b": W.DOWNSTREAM,
        },
    )
    assert weights["a"] == INT32_MAX


def test_a_very_long_chain_does_not_overflow_the_stack() -> None:
    from tradewind.scheduler.priority import priority_weights
    from tradewind.sdk.trigger_rule import WeightRule

    n = 2000
    downstream = {f"t{i}": [f"t{i + 1}"] if i + 1 < n else [] for i in range(n)}
    weights = priority_weights(
        downstream, dict.fromkeys(downstream, 1), dict.fromkeys(downstream, WeightRule.DOWNSTREAM)
    )
    assert weights["t0"] == n
    assert weights[f"t{n - 1}"] == 1
