"""Trigger rules as Airflow 3's scheduler applies them (``TriggerRuleDep`` with
``flag_upstream_failed``), one table of upstream counts per rule.

Counts are of direct upstream *task instances*: ``n`` is how many there are (a mapped
upstream counts once per copy), the others how many ended success (``s``), skipped (``k``),
failed (``f``), upstream_failed (``uf``) or removed (``r``); unfinished ones are the rest.
"""

from __future__ import annotations

import itertools

import pytest

from tradewind.scheduler.readiness import (
    Decision,
    UpstreamCounts,
    decide,
    decide_setup_constraint,
    decide_task,
)
from tradewind.sdk.trigger_rule import TriggerRule as R
from tradewind.states import TaskInstanceState as TI

RUN, WAIT, SKIP, UF, REMOVED = (
    Decision.RUN,
    Decision.WAIT,
    Decision.SKIP,
    Decision.UPSTREAM_FAILED,
    Decision.REMOVED,
)


def C(n: int, s: int = 0, k: int = 0, f: int = 0, uf: int = 0, r: int = 0, **setup: int):
    return UpstreamCounts(
        upstream=n, success=s, skipped=k, failed=f, upstream_failed=uf, removed=r, **setup
    )


TABLE: list[tuple[R, UpstreamCounts, Decision]] = [
    # all_success: a failure upstream-fails at once, then a skip skips at once.
    (R.ALL_SUCCESS, C(3, s=3), RUN),
    (R.ALL_SUCCESS, C(3, s=2), WAIT),
    (R.ALL_SUCCESS, C(3, s=1, f=1), UF),
    (R.ALL_SUCCESS, C(3, uf=1), UF),
    (R.ALL_SUCCESS, C(3, s=1, k=1), SKIP),
    (R.ALL_SUCCESS, C(3, f=1, k=1), UF),
    (R.ALL_SUCCESS, C(1, k=1), SKIP),
    (R.ALL_SUCCESS, C(3, s=2, r=1), RUN),
    # all_failed: any success or skip skips at once.
    (R.ALL_FAILED, C(2, f=2), RUN),
    (R.ALL_FAILED, C(2, f=1, uf=1), RUN),
    (R.ALL_FAILED, C(2, f=1), WAIT),
    (R.ALL_FAILED, C(2, f=1, s=1), SKIP),
    (R.ALL_FAILED, C(2, k=1), SKIP),
    (R.ALL_FAILED, C(2, f=1, r=1), RUN),
    # all_done: whatever the outcomes, once every upstream finished.
    (R.ALL_DONE, C(2, s=1), WAIT),
    (R.ALL_DONE, C(2, s=1, f=1), RUN),
    (R.ALL_DONE, C(2, k=1, uf=1), RUN),
    (R.ALL_DONE, C(2, r=2), RUN),
    # all_done_min_one_success: a skip skips at once; no success among the done fails it.
    (R.ALL_DONE_MIN_ONE_SUCCESS, C(2, s=1, f=1), RUN),
    (R.ALL_DONE_MIN_ONE_SUCCESS, C(2, s=1, uf=1), RUN),
    (R.ALL_DONE_MIN_ONE_SUCCESS, C(2, f=2), UF),
    (R.ALL_DONE_MIN_ONE_SUCCESS, C(2, f=1, r=1), UF),
    (R.ALL_DONE_MIN_ONE_SUCCESS, C(2, s=1, r=1), RUN),
    (R.ALL_DONE_MIN_ONE_SUCCESS, C(2, s=1, k=1), SKIP),
    (R.ALL_DONE_MIN_ONE_SUCCESS, C(3, k=1), SKIP),
    (R.ALL_DONE_MIN_ONE_SUCCESS, C(2, s=1), WAIT),
    (R.ALL_DONE_MIN_ONE_SUCCESS, C(3, f=1, uf=1), WAIT),
    # all_done_setup_success: all_done, but at least one upstream setup must have succeeded.
    (R.ALL_DONE_SETUP_SUCCESS, C(2, s=1), WAIT),
    (R.ALL_DONE_SETUP_SUCCESS, C(2, f=2), RUN),
    (R.ALL_DONE_SETUP_SUCCESS, C(2, s=1, f=1, upstream_setup=1, success_setup=1), RUN),
    (R.ALL_DONE_SETUP_SUCCESS, C(2, f=2, upstream_setup=1), UF),
    (R.ALL_DONE_SETUP_SUCCESS, C(2, k=2, upstream_setup=2, skipped_setup=2), SKIP),
    (R.ALL_DONE_SETUP_SUCCESS, C(2, k=1, s=1, upstream_setup=1, skipped_setup=1), SKIP),
    (R.ALL_DONE_SETUP_SUCCESS, C(2, k=1, f=1, upstream_setup=2, skipped_setup=1), UF),
    (R.ALL_DONE_SETUP_SUCCESS, C(3, s=2, f=1, upstream_setup=2, success_setup=1), RUN),
    (R.ALL_DONE_SETUP_SUCCESS, C(3, s=1, upstream_setup=1, success_setup=1), WAIT),
    # one_success fires on the first success; decides otherwise once all are done.
    (R.ONE_SUCCESS, C(3, s=1), RUN),
    (R.ONE_SUCCESS, C(3, f=1), WAIT),
    (R.ONE_SUCCESS, C(3, f=3), UF),
    (R.ONE_SUCCESS, C(3, k=3), SKIP),
    (R.ONE_SUCCESS, C(3, k=2, f=1), UF),
    (R.ONE_SUCCESS, C(3, k=2, uf=1), UF),
    (R.ONE_SUCCESS, C(2, k=1, r=1), UF),
    # one_failed fires on the first failure (upstream_failed counts); skips otherwise.
    (R.ONE_FAILED, C(3, f=1), RUN),
    (R.ONE_FAILED, C(3, uf=1), RUN),
    (R.ONE_FAILED, C(3, s=1), WAIT),
    (R.ONE_FAILED, C(3, s=2, k=1), SKIP),
    # one_done fires on the first success or failure (not skip nor upstream_failed).
    (R.ONE_DONE, C(3, s=1), RUN),
    (R.ONE_DONE, C(3, f=1), RUN),
    (R.ONE_DONE, C(3, k=1), WAIT),
    (R.ONE_DONE, C(3, uf=1), WAIT),
    (R.ONE_DONE, C(2, k=1, uf=1), SKIP),
    # none_failed: successes and skips are fine; a failure upstream-fails at once.
    (R.NONE_FAILED, C(2, s=1, k=1), RUN),
    (R.NONE_FAILED, C(2, k=2), RUN),
    (R.NONE_FAILED, C(2, s=1), WAIT),
    (R.NONE_FAILED, C(2, f=1), UF),
    (R.NONE_FAILED, C(2, uf=1), UF),
    (R.NONE_FAILED, C(2, s=1, r=1), RUN),
    # none_failed_min_one_success: the join after a branch.
    (R.NONE_FAILED_MIN_ONE_SUCCESS, C(2, s=1, k=1), RUN),
    (R.NONE_FAILED_MIN_ONE_SUCCESS, C(2, k=2), SKIP),
    (R.NONE_FAILED_MIN_ONE_SUCCESS, C(2, k=1), WAIT),
    (R.NONE_FAILED_MIN_ONE_SUCCESS, C(2, s=1), WAIT),
    (R.NONE_FAILED_MIN_ONE_SUCCESS, C(2, f=1), UF),
    (R.NONE_FAILED_MIN_ONE_SUCCESS, C(2, k=1, uf=1), UF),
    (R.NONE_FAILED_MIN_ONE_SUCCESS, C(2, r=2), UF),
    (R.NONE_FAILED_MIN_ONE_SUCCESS, C(2, k=1, r=1), UF),
    # none_skipped: failures are fine; a skip skips at once.
    (R.NONE_SKIPPED, C(2, s=1, f=1), RUN),
    (R.NONE_SKIPPED, C(2, uf=2), RUN),
    (R.NONE_SKIPPED, C(2, k=1), SKIP),
    (R.NONE_SKIPPED, C(2, s=1), WAIT),
    # always: no counting at all.
    (R.ALWAYS, C(2), RUN),
    (R.ALWAYS, C(2, f=2), RUN),
    # all_skipped: anything but a skip skips at once; a removed upstream never passes.
    (R.ALL_SKIPPED, C(2, k=2), RUN),
    (R.ALL_SKIPPED, C(2, k=1), WAIT),
    (R.ALL_SKIPPED, C(2, s=1), SKIP),
    (R.ALL_SKIPPED, C(2, uf=1), SKIP),
    (R.ALL_SKIPPED, C(2, f=1, k=1), SKIP),
    (R.ALL_SKIPPED, C(2, k=1, r=1), WAIT),
]


def _case_id(case: tuple[R, UpstreamCounts, Decision]) -> str:
    rule, c, expected = case
    parts = [f"{name}{getattr(c, attr)}" for name, attr in _FIELDS if getattr(c, attr)]
    return f"{rule.value}-{'-'.join(parts) or 'none'}-of{c.upstream}->{expected.value}"


_FIELDS = [
    ("s", "success"),
    ("k", "skipped"),
    ("f", "failed"),
    ("uf", "upstream_failed"),
    ("r", "removed"),
    ("setup", "upstream_setup"),
    ("ssetup", "success_setup"),
    ("ksetup", "skipped_setup"),
]


@pytest.mark.parametrize("case", TABLE, ids=_case_id)
def test_rule_decides_like_airflow(case: tuple[R, UpstreamCounts, Decision]) -> None:
    rule, counts, expected = case
    assert decide(rule, counts) is expected


def test_the_table_covers_every_trigger_rule() -> None:
    assert {rule for rule, _, _ in TABLE} == set(R)


@pytest.mark.parametrize("rule", list(R))
def test_a_task_without_upstream_runs_whatever_its_rule(rule: R) -> None:
    assert decide(rule, C(0)) is RUN
    assert decide_task(rule, C(0)) is RUN


def _every_finished_mix(n: int):
    for s, k, f, uf in itertools.product(range(n + 1), repeat=4):
        r = n - s - k - f - uf
        if r >= 0:
            yield C(n, s=s, k=k, f=f, uf=uf, r=r)


@pytest.mark.parametrize("rule", list(R))
def test_once_every_upstream_finished_the_rule_decides(rule: R) -> None:
    """No rule waits on finished upstreams, except all_skipped with a removed one (Airflow
    deadlocks there too)."""
    for counts in _every_finished_mix(3):
        stuck = (
            rule is R.ALL_SKIPPED
            and counts.removed > 0
            and counts.success + counts.failed + counts.upstream_failed == 0
        )
        assert (decide(rule, counts) is WAIT) == stuck, counts


@pytest.mark.parametrize("rule", [r for r in R if r is not R.ALWAYS])
def test_with_nothing_finished_every_rule_waits(rule: R) -> None:
    assert decide(rule, C(2)) is WAIT


@pytest.mark.parametrize(
    ("rule", "counts"),
    [
        (R.ONE_SUCCESS, C(5, s=1)),
        (R.ONE_FAILED, C(5, f=1)),
        (R.ONE_FAILED, C(5, uf=1)),
        (R.ONE_DONE, C(5, s=1)),
        (R.ONE_DONE, C(5, f=1)),
    ],
)
def test_fast_rules_fire_before_the_other_upstreams_finish(rule: R, counts: UpstreamCounts) -> None:
    assert decide(rule, counts) is RUN


@pytest.mark.parametrize(
    ("rule", "counts", "expected"),
    [
        (R.ALL_SUCCESS, C(4, f=1), UF),
        (R.ALL_SUCCESS, C(4, k=1), SKIP),
        (R.ALL_FAILED, C(4, s=1), SKIP),
        (R.NONE_FAILED, C(4, uf=1), UF),
        (R.NONE_FAILED_MIN_ONE_SUCCESS, C(4, f=1), UF),
        (R.NONE_SKIPPED, C(4, k=1), SKIP),
        (R.ALL_SKIPPED, C(4, s=1), SKIP),
        (R.ALL_DONE_MIN_ONE_SUCCESS, C(4, k=1), SKIP),
    ],
)
def test_rules_that_end_a_task_early(rule: R, counts: UpstreamCounts, expected: Decision) -> None:
    assert decide(rule, counts) is expected


class TestRemovedUpstreams:
    def test_a_mapped_copy_beyond_the_successes_is_removed(self) -> None:
        assert decide(R.ALL_SUCCESS, C(3, s=1, r=2), map_index=1) is REMOVED
        assert decide(R.ALL_SUCCESS, C(3, s=1, r=2), map_index=0) is RUN

    def test_an_unmapped_task_just_runs(self) -> None:
        assert decide(R.ALL_SUCCESS, C(3, s=1, r=2)) is RUN

    def test_removed_counts_as_done(self) -> None:
        assert decide(R.ALL_DONE, C(2, s=1, r=1)) is RUN
        assert decide(R.NONE_FAILED, C(2, k=1, r=1)) is RUN


class TestCounting:
    def test_counts_states_and_setups(self) -> None:
        c = UpstreamCounts.from_states(
            [
                (TI.SUCCESS, True),
                (TI.SKIPPED, True),
                (TI.FAILED, False),
                (TI.UPSTREAM_FAILED, False),
                (TI.REMOVED, False),
                (TI.RUNNING, False),
                (None, True),
            ]
        )
        assert c == UpstreamCounts(
            upstream=7,
            success=1,
            skipped=1,
            failed=1,
            upstream_failed=1,
            removed=1,
            upstream_setup=3,
            success_setup=1,
            skipped_setup=1,
        )
        assert c.done == 5

    def test_unfinished_states_count_only_in_the_total(self) -> None:
        c = UpstreamCounts.from_states(
            [(s, False) for s in (TI.SCHEDULED, TI.QUEUED, TI.UP_FOR_RETRY, TI.DEFERRED)]
        )
        assert (c.upstream, c.done) == (4, 0)


class TestSetupConstraint:
    """Setups a task reaches only indirectly (Airflow's ``_evaluate_setup_constraint``)."""

    @pytest.mark.parametrize(
        ("counts", "expected"),
        [
            (C(2, s=2), RUN),
            (C(2, s=1), WAIT),
            (C(2, s=1, f=1), UF),
            (C(2, uf=1), UF),
            (C(2, k=1), SKIP),
            (C(2, k=1, f=1), UF),
        ],
    )
    def test_constraint(self, counts: UpstreamCounts, expected: Decision) -> None:
        assert decide_setup_constraint(counts) is expected

    def test_a_mapped_copy_tolerates_removed_setups(self) -> None:
        assert decide_setup_constraint(C(3, s=2, r=1), map_index=0) is RUN
        assert decide_setup_constraint(C(3, s=2, r=1), map_index=2) is REMOVED
        assert decide_setup_constraint(C(3, s=2, r=1)) is WAIT

    def test_a_failed_indirect_setup_beats_an_all_done_rule(self) -> None:
        decision = decide_task(R.ALL_DONE, C(1, uf=1), indirect_setups=C(1, f=1))
        assert decision is UF

    def test_a_skipped_indirect_setup_skips(self) -> None:
        assert decide_task(R.ALL_DONE, C(1, k=1), indirect_setups=C(1, k=1)) is SKIP

    def test_a_running_setup_holds_a_task_whose_rule_would_run(self) -> None:
        assert decide_task(R.ONE_SUCCESS, C(2, s=1), indirect_setups=C(1)) is WAIT

    def test_while_it_waits_the_direct_rule_still_ends_the_task(self) -> None:
        assert decide_task(R.ALL_SUCCESS, C(2, f=1), indirect_setups=C(1)) is UF
        assert decide_task(R.ALL_SUCCESS, C(2, k=1), indirect_setups=C(1)) is SKIP

    def test_always_ignores_setups(self) -> None:
        assert decide_task(R.ALWAYS, C(1, uf=1), indirect_setups=C(1, f=1)) is RUN

    def test_succeeded_setups_leave_the_rule_in_charge(self) -> None:
        assert decide_task(R.ALL_SUCCESS, C(1), indirect_setups=C(1, s=1)) is WAIT
        assert decide_task(R.ALL_SUCCESS, C(1, s=1), indirect_setups=C(1, s=1)) is RUN


class TestTeardownScope:
    def test_a_teardown_waits_for_its_scope(self) -> None:
        counts = C(2, s=2, upstream_setup=1, success_setup=1)
        assert decide_task(R.ALL_DONE_SETUP_SUCCESS, counts, scope_unfinished=1) is WAIT
        assert decide_task(R.ALL_DONE_SETUP_SUCCESS, counts, scope_unfinished=0) is RUN

    def test_the_scope_does_not_delay_ending_it(self) -> None:
        counts = C(2, f=2, upstream_setup=1)
        assert decide_task(R.ALL_DONE_SETUP_SUCCESS, counts, scope_unfinished=3) is UF
