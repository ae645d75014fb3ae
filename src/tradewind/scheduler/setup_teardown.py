"""Which tasks a setup or teardown ties together: pure graph questions over plain data.

Airflow's rules (and so Tradewind's):

* A task that is not a teardown depends on its **relevant setups**: every setup upstream of
  it (at any depth) that either has no teardown, or has a teardown downstream of the task.
  Those that are not direct upstreams are checked by the setup constraint
  (:func:`tradewind.scheduler.readiness.decide_setup_constraint`).
* A teardown's **scope** is every task that is an indirect upstream of the teardown and
  downstream of one of its direct setups; the teardown waits until all of them finish.

Both take the DAG as ``{task_id: direct downstream ids}`` plus the sets of setup and teardown
ids, so the scheduler can answer them from a serialized DAG without importing user code.

>>> down = {"s": {"w", "td"}, "w": {"w2"}, "w2": {"td"}, "td": set()}
>>> sorted(indirect_setups(down, {"s"}, {"td"})["w2"])
['s']
>>> sorted(teardown_scopes(down, {"s"}, {"td"})["td"])
['w']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def _invert(downstream: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    upstream: dict[str, set[str]] = {tid: set() for tid in downstream}
    for tid, downs in downstream.items():
        for d in downs:
            upstream.setdefault(d, set()).add(tid)
    return upstream


def _reach(edges: Mapping[str, Iterable[str]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = list(edges.get(start, ()))
    while stack:
        tid = stack.pop()
        if tid not in seen:
            seen.add(tid)
            stack.extend(edges.get(tid, ()))
    return seen


def indirect_setups(
    downstream: Mapping[str, Iterable[str]], setups: set[str], teardowns: set[str]
) -> dict[str, frozenset[str]]:
    """For each non-teardown task, its relevant setups that are not direct upstreams.

    Tasks without any are left out.
    """
    upstream = _invert(downstream)
    out: dict[str, frozenset[str]] = {}
    if not setups:
        return out
    for tid in downstream:
        if tid in teardowns:
            continue
        above = _reach(upstream, tid) & setups
        if not above:
            continue
        teardowns_below = _reach(downstream, tid) & teardowns
        relevant = {
            s
            for s in above
            if not (set(downstream.get(s, ())) & teardowns)
            or set(downstream.get(s, ())) & teardowns_below
        }
        indirect = relevant - upstream[tid]
        if indirect:
            out[tid] = frozenset(indirect)
    return out


def teardown_scopes(
    downstream: Mapping[str, Iterable[str]], setups: set[str], teardowns: set[str]
) -> dict[str, frozenset[str]]:
    """For each teardown, the tasks between its direct setups and itself.

    Teardowns with an empty scope are left out.
    """
    upstream = _invert(downstream)
    out: dict[str, frozenset[str]] = {}
    for td in teardowns:
        indirect = _reach(upstream, td) - upstream[td]
        scope: set[str] = set()
        for s in upstream[td] & setups:
            scope |= indirect & _reach(downstream, s)
        if scope:
            out[td] = frozenset(scope)
    return out
