"""Trigger and weight rules carry Airflow's names and values."""

from __future__ import annotations

import pytest

from tradewind.exceptions import DagDefinitionError
from tradewind.operators import EmptyOperator
from tradewind.sdk import TriggerRule, WeightRule
from tradewind.sdk.trigger_rule import coerce_trigger_rule


def test_there_are_exactly_airflows_thirteen_trigger_rules() -> None:
    assert {r.value for r in TriggerRule} == {
        "all_success",
        "all_failed",
        "all_done",
        "all_done_min_one_success",
        "all_done_setup_success",
        "one_success",
        "one_failed",
        "one_done",
        "none_failed",
        "none_skipped",
        "always",
        "none_failed_min_one_success",
        "all_skipped",
    }


def test_weight_rules_are_airflows() -> None:
    assert [r.value for r in WeightRule] == ["downstream", "upstream", "absolute"]


def test_rules_are_strings() -> None:
    assert TriggerRule.ONE_FAILED == "one_failed"
    assert str(TriggerRule.ALL_DONE) == "all_done"
    assert f"{WeightRule.ABSOLUTE}" == "absolute"


def test_a_task_accepts_a_rule_as_enum_or_string_and_stores_the_enum() -> None:
    by_enum = EmptyOperator(task_id="a", trigger_rule=TriggerRule.ONE_FAILED)
    by_str = EmptyOperator(task_id="b", trigger_rule="one_failed", weight_rule="absolute")
    assert by_enum.trigger_rule is TriggerRule.ONE_FAILED
    assert by_str.trigger_rule is TriggerRule.ONE_FAILED
    assert by_str.weight_rule is WeightRule.ABSOLUTE


def test_the_default_rules_are_all_success_and_downstream() -> None:
    t = EmptyOperator(task_id="t")
    assert t.trigger_rule is TriggerRule.ALL_SUCCESS
    assert t.weight_rule is WeightRule.DOWNSTREAM


@pytest.mark.parametrize("value", ["ALL_SUCCESS", "dummy", "", None, 1])
def test_anything_else_is_rejected_naming_the_task(value: object) -> None:
    with pytest.raises(DagDefinitionError, match=f"task 'x': unknown trigger_rule {value!r}"):
        coerce_trigger_rule(value, "x")
