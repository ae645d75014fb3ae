"""Trigger rules and expansion for tasks inside mapped task groups (part of the run machine).

A task in a mapped task group gets one task instance per copy of the group. Each copy is
judged on its own, over the upstream task instances *relevant* to it (Airflow 3.3's
``TriggerRuleDep`` with ``_get_relevant_upstream_map_indexes``):

* an upstream outside every mapped group around the task: all its task instances;
* an upstream in a common mapped group: the unexpanded instance while there is one, and the
  copy (or copies) of the same group index (:func:`~tradewind.sdk.map_indexes.
  relevant_map_indexes`).

The task's unexpanded instance (map index ``-1``) is judged first, with the same rule once
the group's size is known: only the upstream's own unexpanded instance is then relevant, so
after the upstream expanded nothing is, and the rule is applied to zero counts (which passes
for most rules and upstream-fails ``all_done_min_one_success``). The exceptions are rules
that a subset of upstreams can satisfy (``one_success``, ``one_failed``, ``one_done``,
``none_failed_min_one_success``): for upstreams that do not size the expansion they count
every instance, so they do not skip the whole task before it expands. Once the rule lets the
unexpanded instance through, it becomes one instance per copy (none, and it is skipped, for
an empty input), and each copy is judged by its own index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from tradewind.scheduler.readiness import STATE_FOR, Decision, UpstreamCounts, decide_task
from tradewind.sdk.map_indexes import expansion_count, relevant_map_indexes
from tradewind.sdk.trigger_rule import TriggerRule
from tradewind.states import FINISHED_STATES
from tradewind.states import TaskInstanceState as TI

if TYPE_CHECKING:
    from tradewind.scheduler.run_machine import TaskInstanceRecord

#: Rules a subset of upstream task instances can satisfy (Airflow's "fast triggered").
_FAST = frozenset(
    {
        TriggerRule.ONE_SUCCESS,
        TriggerRule.ONE_FAILED,
        TriggerRule.ONE_DONE,
        TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
    }
)

Relevance = Callable[[str], "int | range | None"]


def _relevant(recs: list[TaskInstanceRecord], rel: int | range | None) -> list[TaskInstanceRecord]:
    """The records of one upstream task that a copy relates to."""
    if rel is None or not recs or recs[0].map_index < 0:
        # Every copy, or the upstream is not expanded yet (its one instance always counts).
        return recs
    if isinstance(rel, int):
        if 0 <= rel < len(recs) and recs[rel].map_index == rel:
            return [recs[rel]]
        return [r for r in recs if r.map_index == rel]
    return [r for r in recs if r.map_index in rel]


class MappedGroupRules:
    """The run machine's handling of tasks in mapped groups (mixed into ``RunMachine``)."""

    dag: Any
    records: dict[str, list[TaskInstanceRecord]]
    setup_gate: dict[str, frozenset[str]]
    scope: dict[str, frozenset[str]]
    wakes: dict[str, frozenset[str]]
    dirty: set[str]
    touched: list[TaskInstanceRecord]

    # Provided by RunMachine.
    def _set(self, rec: TaskInstanceRecord, state: TI) -> None:
        raise NotImplementedError

    def _length(self, task_id: str, key: str) -> int | None:
        raise NotImplementedError

    def _feeding_state(self, task: Any) -> TI | None:
        raise NotImplementedError

    def _past_allows(self, task: Any) -> bool:
        raise NotImplementedError

    def _copy_count(self, task: Any) -> int | None:
        """How many copies the task makes, or ``None`` while an input is not known."""
        try:
            return expansion_count(task, self._length)
        except Exception:
            return None

    def _relevance(self, task: Any, map_index: int) -> Relevance:
        """Which map indexes of each upstream this copy of ``task`` relates to."""
        from tradewind.sdk.map_indexes import expansion_dependencies

        counted: list[int | None] = []
        found: dict[str, int | range | None] = {}
        fast = task.trigger_rule in _FAST and map_index < 0

        def count() -> int | None:
            if not counted:
                counted.append(self._copy_count(task))
            return counted[0]

        def relevant(upstream_id: str) -> int | range | None:
            if upstream_id in found:
                return found[upstream_id]
            rel: int | range | None = None
            if not (fast and upstream_id not in expansion_dependencies(task)) and count():
                upstream = self.dag.task_dict[upstream_id]
                rel = relevant_map_indexes(task, map_index, upstream, self._length, ti_count=count)
            found[upstream_id] = rel
            return rel

        return relevant

    def _relevant_counts(self, ids: Iterable[str], relevant: Relevance) -> UpstreamCounts:
        return UpstreamCounts.from_states(
            (rec.state, self.dag.task_dict[up].is_setup)
            for up in ids
            for rec in _relevant(self.records[up], relevant(up))
        )

    def _decide_copy(self, task: Any, map_index: int) -> Decision:
        relevant = self._relevance(task, map_index)
        gate = self.setup_gate.get(task.task_id)
        scope = self.scope.get(task.task_id, ())
        unfinished = sum(
            1
            for tid in scope
            for rec in _relevant(self.records[tid], relevant(tid))
            if rec.state not in FINISHED_STATES
        )
        return decide_task(
            task.trigger_rule,
            self._relevant_counts(task.upstream_task_ids, relevant),
            indirect_setups=self._relevant_counts(gate, relevant) if gate else None,
            scope_unfinished=unfinished,
            map_index=map_index,
            has_upstream=bool(task.upstream_task_ids),
        )

    def _evaluate_grouped(self, task: Any) -> list[TaskInstanceRecord]:
        """Judge a task of a mapped group: its unexpanded instance, then each copy."""
        from tradewind.scheduler.run_machine import TaskInstanceRecord

        tid = task.task_id
        pending = [r for r in self.records[tid] if r.state is None]
        if not pending:
            return []
        if pending[0].map_index < 0:
            placeholder = pending[0]
            feeding = self._feeding_state(task)
            if feeding is not None:
                self._set(placeholder, feeding)
                return []
            decision = self._decide_copy(task, -1)
            if decision is Decision.WAIT:
                return []
            if decision is not Decision.RUN:
                self._set(placeholder, STATE_FOR[decision])
                return []
            if not self._past_allows(task):
                return []
            count = self._copy_count(task)
            if not count:
                if count is None:
                    placeholder.error = "the length of a mapped input is not known"
                self._set(placeholder, TI.SKIPPED if count == 0 else TI.UPSTREAM_FAILED)
                return []
            pending = [TaskInstanceRecord(tid, i) for i in range(count)]
            self.records[tid] = pending
            # New rows to write, and downstream copies may now judge their own index.
            self.touched.extend(pending)
            self.dirty |= self.wakes[tid]
        out: list[TaskInstanceRecord] = []
        past_ok: bool | None = None
        for rec in pending:
            decision = self._decide_copy(task, rec.map_index)
            if decision is Decision.WAIT:
                continue
            if decision is not Decision.RUN:
                self._set(rec, STATE_FOR[decision])
                continue
            if past_ok is None:
                past_ok = self._past_allows(task)
            if past_ok:
                rec.state = TI.SCHEDULED
                out.append(rec)
        return out
