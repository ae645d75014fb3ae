"""Trigger rules and weight rules, with Airflow's names and values."""

from __future__ import annotations

from enum import StrEnum

from tradewind.exceptions import DagDefinitionError


class TriggerRule(StrEnum):
    """When a task runs, judged from the states of its direct upstream tasks.

    >>> TriggerRule("one_failed") is TriggerRule.ONE_FAILED
    True
    """

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_DONE_MIN_ONE_SUCCESS = "all_done_min_one_success"
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    ALL_SKIPPED = "all_skipped"

    def __str__(self) -> str:
        return self.value


class WeightRule(StrEnum):
    """How a task's effective priority is computed from ``priority_weight``."""

    DOWNSTREAM = "downstream"
    UPSTREAM = "upstream"
    ABSOLUTE = "absolute"

    def __str__(self) -> str:
        return self.value


def coerce_trigger_rule(value: object, task_id: str) -> TriggerRule:
    """Return ``value`` as a :class:`TriggerRule` or raise naming the task and valid rules."""
    if isinstance(value, str) and value in TriggerRule._value2member_map_:
        return TriggerRule(value)
    valid = ", ".join(r.value for r in TriggerRule)
    raise DagDefinitionError(
        f"task {task_id!r}: unknown trigger_rule {value!r}; valid rules are: {valid}"
    )


def coerce_weight_rule(value: object, task_id: str) -> WeightRule:
    """Return ``value`` as a :class:`WeightRule` or raise naming the task and valid rules."""
    if isinstance(value, str) and value in WeightRule._value2member_map_:
        return WeightRule(value)
    valid = ", ".join(r.value for r in WeightRule)
    raise DagDefinitionError(
        f"task {task_id!r}: unknown weight_rule {value!r}; valid rules are: {valid}"
    )
