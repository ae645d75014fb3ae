"""Which setups hold a task back, and which tasks a teardown waits for."""

from __future__ import annotations

from tradewind.scheduler.setup_teardown import indirect_setups, teardown_scopes


def test_a_setup_reached_through_other_tasks_is_an_indirect_setup() -> None:
    down = {"s": ["w1", "td"], "w1": ["w2"], "w2": ["td"], "td": []}
    assert indirect_setups(down, {"s"}, {"td"}) == {"w2": frozenset({"s"})}


def test_a_direct_setup_is_left_to_the_trigger_rule() -> None:
    down = {"s": ["w", "td"], "w": ["td"], "td": []}
    assert indirect_setups(down, {"s"}, {"td"}) == {}


def test_a_setup_whose_teardown_is_not_below_the_task_is_not_relevant() -> None:
    """``outside`` hangs off the work but its setup's teardown is not downstream of it."""
    down = {"s": ["w", "td"], "w": ["td", "outside"], "outside": [], "td": []}
    assert indirect_setups(down, {"s"}, {"td"}) == {}


def test_a_setup_without_teardown_is_relevant_everywhere_below() -> None:
    down = {"s": ["w"], "w": ["w2"], "w2": []}
    assert indirect_setups(down, {"s"}, set()) == {"w2": frozenset({"s"})}


def test_teardowns_have_no_indirect_setups() -> None:
    down = {"s": ["w"], "w": ["td"], "td": []}
    assert indirect_setups(down, {"s"}, {"td"}) == {}


def test_a_teardown_scope_is_what_lies_between_its_setups_and_itself() -> None:
    down = {
        "before": ["s"],
        "s": ["w1", "w2", "td"],
        "w1": ["w3"],
        "w2": ["w3", "side"],
        "w3": ["td"],
        "side": [],
        "td": [],
    }
    assert teardown_scopes(down, {"s"}, {"td"}) == {"td": frozenset({"w1", "w2"})}


def test_a_teardown_right_after_its_setup_has_no_scope() -> None:
    assert teardown_scopes({"s": ["td"], "td": []}, {"s"}, {"td"}) == {}
