"""Effective priority of each task under its ``weight_rule`` (Airflow's meaning), pure.

``absolute`` is the task's own ``priority_weight``; ``downstream`` (the default) adds the
weights of every task downstream of it, at any depth; ``upstream`` adds those of every task
upstream. Results are clamped to a 32-bit signed integer, as Airflow stores them.

>>> from tradewind.sdk.trigger_rule import WeightRule as W
>>> priority_weights({"a": ["b"], "b": []}, {"a": 1, "b": 2}, {"a": W.DOWNSTREAM, "b": W.UPSTREAM})
{'a': 3, 'b': 3}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tradewind.sdk.trigger_rule import WeightRule

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def _closure(edges: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """Every node reachable from each node along ``edges`` (a DAG).

    Iterative (post-order with an explicit stack), so a chain of any length works.
    """
    out: dict[str, set[str]] = {}
    for start in edges:
        if start in out:
            continue
        stack: list[tuple[str, bool]] = [(start, False)]
        while stack:
            node, children_done = stack.pop()
            if node in out:
                continue
            if children_done:
                reach: set[str] = set()
                for nxt in edges.get(node, ()):
                    reach.add(nxt)
                    reach |= out[nxt]
                out[node] = reach
                continue
            stack.append((node, True))
            stack.extend((nxt, False) for nxt in edges.get(node, ()) if nxt not in out)
    return out


def priority_weights(
    downstream: Mapping[str, Iterable[str]],
    weight: Mapping[str, int],
    rule: Mapping[str, WeightRule],
) -> dict[str, int]:
    """``downstream`` maps each task id to its direct downstream ids."""
    upstream: dict[str, set[str]] = {tid: set() for tid in downstream}
    for tid, downs in downstream.items():
        for d in downs:
            upstream[d].add(tid)
    below = _closure(downstream)
    above = _closure(upstream)
    out: dict[str, int] = {}
    for tid in downstream:
        if rule[tid] is WeightRule.ABSOLUTE:
            total = weight[tid]
        elif rule[tid] is WeightRule.UPSTREAM:
            total = weight[tid] + sum(weight[u] for u in above[tid])
        else:
            total = weight[tid] + sum(weight[d] for d in below[tid])
        out[tid] = max(INT32_MIN, min(INT32_MAX, total))
    return out
