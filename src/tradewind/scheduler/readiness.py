"""Trigger rules: from the states of a task's upstream task instances, decide whether it runs
now, waits, or ends without running (skipped, upstream-failed, removed).

Pure: the caller counts states (:class:`UpstreamCounts`) and applies the :class:`Decision`.
Semantics follow Airflow's trigger-rule dependency with ``flag_upstream_failed`` (as its
scheduler runs it): a mapped upstream counts once per expanded task instance, and rules like
``one_success`` fire before every upstream is done.

Three checks make up a task's decision (:func:`decide_task`):

* the **trigger rule** over the *direct* upstream task instances (:func:`decide`);
* for a task that is not a teardown, the **setup constraint** (:func:`decide_setup_constraint`):
  setups it depends on only indirectly must all have succeeded; a failed one makes the task
  upstream-failed and a skipped one skips it, whatever its trigger rule;
* for a teardown, the **teardown scope**: every task between its setups and itself must be
  finished before it runs, even when its direct upstreams already are.

A task with the ``always`` rule, or with no upstream at all, runs at once: none of the three
applies (as in Airflow).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from tradewind.sdk.trigger_rule import TriggerRule
from tradewind.states import TaskInstanceState as TI


class Decision(StrEnum):
    RUN = "run"
    WAIT = "wait"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"
    #: A mapped copy beyond what its upstreams now produce (only with removed upstreams).
    REMOVED = "removed"


#: Decisions that finish the task instance without running it.
TERMINAL = frozenset({Decision.SKIP, Decision.UPSTREAM_FAILED, Decision.REMOVED})

#: The task-instance state each terminal decision puts the task instance in.
STATE_FOR = {
    Decision.SKIP: TI.SKIPPED,
    Decision.UPSTREAM_FAILED: TI.UPSTREAM_FAILED,
    Decision.REMOVED: TI.REMOVED,
}


@dataclass(frozen=True)
class UpstreamCounts:
    """Finished states among the upstream task instances, and how many there are."""

    upstream: int
    success: int = 0
    skipped: int = 0
    failed: int = 0
    upstream_failed: int = 0
    removed: int = 0
    upstream_setup: int = 0
    success_setup: int = 0
    skipped_setup: int = 0

    @property
    def done(self) -> int:
        return self.success + self.skipped + self.failed + self.upstream_failed + self.removed

    @classmethod
    def from_states(cls, states: Iterable[tuple[TI | None, bool]]) -> UpstreamCounts:
        """Count ``(state, is_setup)`` pairs, one per upstream task instance.

        >>> UpstreamCounts.from_states([(TI.SUCCESS, False), (None, False)]).success
        1
        """
        c = {"success": 0, "skipped": 0, "failed": 0, "upstream_failed": 0, "removed": 0}
        total = setups = success_setup = skipped_setup = 0
        for state, is_setup in states:
            total += 1
            setups += is_setup
            if state is not None and state.value in c:
                c[state.value] += 1
                if is_setup and state is TI.SUCCESS:
                    success_setup += 1
                if is_setup and state is TI.SKIPPED:
                    skipped_setup += 1
        return cls(
            upstream=total,
            upstream_setup=setups,
            success_setup=success_setup,
            skipped_setup=skipped_setup,
            **c,
        )


def decide(
    rule: TriggerRule,
    c: UpstreamCounts,
    *,
    map_index: int = -1,
    has_upstream: bool | None = None,
) -> Decision:
    """Apply ``rule`` to the counts of the direct upstream task instances.

    ``map_index`` is the task instance's own (``-1`` unless it is an expanded copy); it only
    matters for ``all_success`` with removed upstreams. ``has_upstream`` says whether the
    task has upstream tasks at all (default: whether ``c`` counts any): a task in a mapped
    task group may count none of its upstream's task instances as relevant and still has
    upstream tasks, and then the rule is applied to zero counts (as in Airflow).

    >>> decide(TriggerRule.ALL_SUCCESS, UpstreamCounts(upstream=2, success=1, failed=1))
    <Decision.UPSTREAM_FAILED: 'upstream_failed'>
    >>> decide(TriggerRule.ONE_SUCCESS, UpstreamCounts(upstream=3, success=1))
    <Decision.RUN: 'run'>
    """
    if has_upstream is None:
        has_upstream = c.upstream > 0
    if not has_upstream or rule is TriggerRule.ALWAYS:
        return Decision.RUN
    all_done = c.done >= c.upstream
    failures = c.failed + c.upstream_failed
    R = TriggerRule
    if rule is R.ALL_SUCCESS:
        if failures:
            return Decision.UPSTREAM_FAILED
        if c.skipped:
            return Decision.SKIP
        if c.removed and c.success and map_index >= c.success:
            return Decision.REMOVED
        return Decision.RUN if c.upstream - c.success - c.removed <= 0 else Decision.WAIT
    if rule is R.ALL_FAILED:
        if c.success or c.skipped:
            return Decision.SKIP
        return Decision.RUN if c.upstream - failures - c.removed <= 0 else Decision.WAIT
    if rule is R.ALL_DONE:
        return Decision.RUN if all_done else Decision.WAIT
    if rule is R.ALL_DONE_MIN_ONE_SUCCESS:
        # Skipped upstreams are not "done" for this rule: any skip skips the task.
        if c.skipped:
            return Decision.SKIP
        finished = c.success + failures
        if finished + c.removed >= c.upstream and c.success == 0:
            return Decision.UPSTREAM_FAILED
        if finished >= c.upstream - c.removed and c.success > 0:
            return Decision.RUN
        return Decision.WAIT
    if rule is R.ALL_DONE_SETUP_SUCCESS:
        if not all_done:
            return Decision.WAIT
        if c.upstream_setup and c.skipped_setup >= c.upstream_setup:
            return Decision.SKIP
        if c.upstream_setup and c.success_setup == 0:
            return Decision.UPSTREAM_FAILED
        return Decision.RUN
    if rule is R.ONE_SUCCESS:
        if c.success > 0:
            return Decision.RUN
        if all_done:
            return Decision.SKIP if c.done == c.skipped else Decision.UPSTREAM_FAILED
        return Decision.WAIT
    if rule is R.ONE_FAILED:
        if failures > 0:
            return Decision.RUN
        return Decision.SKIP if all_done else Decision.WAIT
    if rule is R.ONE_DONE:
        if c.success + c.failed > 0:
            return Decision.RUN
        return Decision.SKIP if all_done else Decision.WAIT
    if rule is R.NONE_FAILED:
        if failures:
            return Decision.UPSTREAM_FAILED
        ok = c.upstream - c.success - c.skipped - c.removed <= 0
        return Decision.RUN if ok else Decision.WAIT
    if rule is R.NONE_FAILED_MIN_ONE_SUCCESS:
        if failures:
            return Decision.UPSTREAM_FAILED
        if c.skipped == c.upstream:
            return Decision.SKIP
        if all_done and c.success == 0:
            return Decision.UPSTREAM_FAILED
        ok = c.upstream - c.success - c.skipped - c.removed <= 0 and c.success > 0
        return Decision.RUN if ok else Decision.WAIT
    if rule is R.NONE_SKIPPED:
        if c.skipped:
            return Decision.SKIP
        return Decision.RUN if all_done else Decision.WAIT
    if rule is R.ALL_SKIPPED:
        if c.success or failures:
            return Decision.SKIP
        # A removed upstream never counts as skipped: the task waits (and the run deadlocks).
        return Decision.RUN if c.upstream - c.skipped <= 0 else Decision.WAIT
    raise ValueError(f"unknown trigger rule {rule!r}")


def decide_setup_constraint(c: UpstreamCounts, *, map_index: int = -1) -> Decision:
    """Check the setups a task depends on only indirectly; ``RUN`` means "no objection".

    ``c`` counts those setups' task instances. A failure upstream-fails the task and a skip
    skips it at once; otherwise the task waits until every one of them has succeeded.

    >>> decide_setup_constraint(UpstreamCounts(upstream=1, failed=1))
    <Decision.UPSTREAM_FAILED: 'upstream_failed'>
    >>> decide_setup_constraint(UpstreamCounts(upstream=2, success=1))
    <Decision.WAIT: 'wait'>
    """
    if c.failed or c.upstream_failed:
        return Decision.UPSTREAM_FAILED
    if c.skipped:
        return Decision.SKIP
    if c.removed and c.success and map_index >= c.success:
        return Decision.REMOVED
    missing = c.upstream - c.success - (c.removed if map_index > -1 else 0)
    return Decision.WAIT if missing > 0 else Decision.RUN


def decide_task(
    rule: TriggerRule,
    direct: UpstreamCounts,
    *,
    indirect_setups: UpstreamCounts | None = None,
    scope_unfinished: int = 0,
    map_index: int = -1,
    has_upstream: bool | None = None,
) -> Decision:
    """The whole decision for one task instance (see the module docstring).

    ``indirect_setups`` counts the relevant setups that are not direct upstreams (``None``
    for a teardown, or when there are none); ``scope_unfinished`` is, for a teardown, how
    many task instances between its setups and itself are not finished yet; ``has_upstream``
    is as for :func:`decide`.

    >>> decide_task(
    ...     TriggerRule.ALL_DONE,
    ...     UpstreamCounts(upstream=1, upstream_failed=1),
    ...     indirect_setups=UpstreamCounts(upstream=1, failed=1),
    ... )
    <Decision.UPSTREAM_FAILED: 'upstream_failed'>
    """
    if has_upstream is None:
        has_upstream = direct.upstream > 0
    if not has_upstream or rule is TriggerRule.ALWAYS:
        return Decision.RUN
    gate = Decision.RUN
    if indirect_setups is not None and indirect_setups.upstream:
        gate = decide_setup_constraint(indirect_setups, map_index=map_index)
        if gate in TERMINAL:
            return gate
    decision = decide(rule, direct, map_index=map_index, has_upstream=True)
    if decision is not Decision.RUN:
        return decision
    if gate is Decision.WAIT or scope_unfinished > 0:
        return Decision.WAIT
    return Decision.RUN
