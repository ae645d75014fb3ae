"""Small DAGs that pin down scheduling semantics, compared against real Apache Airflow.

Each scenario is a function that builds one DAG whose ``dag_id`` is the scenario's name.
``airflow_states.json`` beside this file records, for every scenario, the final task and run
states that Airflow 3 produced with ``DAG.test()``; ``test_matches_airflow.py`` runs the same
DAGs with Tradewind and compares.

The body below the import block is plain Airflow-3 authoring code: the recorder that makes
the fixture (``record_airflow_states.py``, run with an Airflow 3.3.2 interpreter) swaps the
import block for Airflow's imports and runs the very same functions under Airflow, so the
two sides cannot drift apart.

Task outcomes are chosen by name: ``s`` succeeds, ``f`` fails (no retries), ``k`` raises the
skip exception and ``uf`` ends upstream-failed (it follows a task that fails).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

# -- imports: begin (the generator replaces this block) --------------------------------------
from tradewind.operators.empty import EmptyOperator
from tradewind.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from tradewind.sdk import DAG, TaskGroup, task, task_group
from tradewind.sdk import TradewindSkipException as SkipException

# -- imports: end ----------------------------------------------------------------------------

START = datetime(2024, 1, 1, tzinfo=UTC)

RULES = [
    "all_success",
    "all_failed",
    "all_done",
    "all_done_min_one_success",
    "all_done_setup_success",
    "one_success",
    "one_failed",
    "one_done",
    "none_failed",
    "none_failed_min_one_success",
    "none_skipped",
    "always",
    "all_skipped",
]

#: Rules used by the joins after a branch or a short-circuit.
JOIN_RULES = [
    "all_success",
    "all_done",
    "one_success",
    "none_failed",
    "none_failed_min_one_success",
    "none_skipped",
    "all_done_min_one_success",
]

SCENARIOS: dict[str, Callable[[], Any]] = {}


def scenario(fn: Callable[[], Any]) -> Callable[[], Any]:
    SCENARIOS[fn.__name__] = fn
    return fn


def _dag(name: str) -> Any:
    return DAG(name, schedule=None, start_date=START, catchup=False)


def ok() -> None:
    return None


def fail() -> None:
    raise RuntimeError("this task fails on purpose")


def skip() -> None:
    raise SkipException("this task skips on purpose")


def returns(value: Any) -> Callable[[], Any]:
    def fn() -> Any:
        return value

    return fn


def outcome(task_id: str, kind: str, **kwargs: Any) -> Any:
    """A task that ends ``s``uccess, ``f``ailed, s``k``ipped or ``uf`` (upstream failed)."""
    if kind == "uf":
        source = PythonOperator(task_id=f"{task_id}_src", python_callable=fail)
        target = EmptyOperator(task_id=task_id)
        source >> target
        return target
    fn = {"s": ok, "f": fail, "k": skip}[kind]
    return PythonOperator(task_id=task_id, python_callable=fn, **kwargs)


def outcomes(kinds: tuple[str, ...]) -> list[Any]:
    """Tasks ending in ``kinds``, finishing one after another in that order.

    Each waits for the previous one (``all_done``), so a task downstream of all of them sees
    them finish in a fixed order: rules that decide early (a failure upstream-fails
    ``all_success`` at once, a skip skips it at once) give the same answer on every run, on
    Airflow and on Tradewind.
    """
    tasks: list[Any] = []
    for i, kind in enumerate(kinds):
        if kind == "uf":
            head = PythonOperator(
                task_id=f"u{i}_uf_src", python_callable=fail, trigger_rule="all_done"
            )
            current = EmptyOperator(task_id=f"u{i}_uf")
            head >> current
        else:
            head = current = outcome(f"u{i}_{kind}", kind, trigger_rule="all_done")
        if tasks:
            tasks[-1] >> head
        tasks.append(current)
    return tasks


def joins(upstream: Any, rules: list[str] = JOIN_RULES, prefix: str = "j") -> None:
    for rule in rules:
        upstream >> EmptyOperator(task_id=f"{prefix}_{rule}", trigger_rule=rule)


@task
def item(x: int, bad: int = -1, how: str = "fail") -> int:
    if x == bad:
        if how == "skip":
            raise SkipException("this index skips on purpose")
        raise RuntimeError("this index fails on purpose")
    return x


@task
def nothing() -> list[int]:
    return []


@task
def numbers() -> list[int]:
    return [1, 2]


@task
def double(y: int) -> int:
    return 2 * y


@task
def total(values: Any) -> int:
    return sum(values)


# -- trigger rules over every mix of upstream outcomes ---------------------------------------
COMBOS = [
    ("s",),
    ("f",),
    ("k",),
    ("uf",),
    ("s", "s"),
    ("s", "f"),
    ("s", "k"),
    ("f", "f"),
    ("f", "k"),
    ("k", "k"),
    ("s", "uf"),
    ("k", "uf"),
    ("s", "f", "k"),
    ("s", "k", "k"),
    ("k", "f"),
    ("uf", "k"),
]


def _rules_dag(name: str, kinds: tuple[str, ...]) -> Any:
    with _dag(name) as dag:
        ups = outcomes(kinds)
        for rule in RULES:
            ups >> EmptyOperator(task_id=f"d_{rule}", trigger_rule=rule)
    return dag


def _register_rules(kinds: tuple[str, ...]) -> None:
    name = "rules_" + "_".join(kinds)
    SCENARIOS[name] = lambda: _rules_dag(name, kinds)


for _kinds in COMBOS:
    _register_rules(_kinds)


@scenario
def chain_skip_propagation() -> Any:
    with _dag("chain_skip_propagation") as dag:
        first = outcome("first", "k")
        mid = EmptyOperator(task_id="mid")
        first >> mid >> EmptyOperator(task_id="after")
        joins(mid, ["all_done", "none_failed", "none_skipped", "all_skipped", "one_done"])
    return dag


@scenario
def chain_failure_propagation() -> Any:
    with _dag("chain_failure_propagation") as dag:
        first = outcome("first", "f")
        mid = EmptyOperator(task_id="mid")
        first >> mid >> EmptyOperator(task_id="after")
        joins(mid, ["all_done", "none_failed", "one_failed", "all_failed", "one_done"])
    return dag


# -- branching -------------------------------------------------------------------------------
def _branch_dag(name: str, choice: Any) -> Any:
    """branch >> [a, b, c]; each path has a second task; joins over the three paths."""
    with _dag(name) as dag:

        @task.branch
        def branch() -> Any:
            return choice

        chooser = branch()
        ends = []
        for path in ("a", "b", "c"):
            head = EmptyOperator(task_id=path)
            tail = EmptyOperator(task_id=f"{path}2")
            chooser >> head >> tail
            ends.append(tail)
        joins(ends)
    return dag


@scenario
def branch_one_id() -> Any:
    return _branch_dag("branch_one_id", "a")


@scenario
def branch_several_ids() -> Any:
    return _branch_dag("branch_several_ids", ["a", "c"])


@scenario
def branch_none() -> Any:
    return _branch_dag("branch_none", None)


@scenario
def branch_invalid_id() -> Any:
    return _branch_dag("branch_invalid_id", "no_such_task")


@scenario
def branch_task_group() -> Any:
    with _dag("branch_task_group") as dag:

        @task.branch
        def branch() -> str:
            return "grp"

        chooser = branch()
        with TaskGroup("grp") as grp:
            EmptyOperator(task_id="g1") >> EmptyOperator(task_id="g2")
        other = EmptyOperator(task_id="other")
        chooser >> [grp, other]
        joins([grp, other])
    return dag


@scenario
def branch_join_reachable() -> Any:
    """branch >> a >> join and branch >> join: following ``a`` keeps ``join``."""
    with _dag("branch_join_reachable") as dag:
        chooser = BranchPythonOperator(task_id="branch", python_callable=returns("a"))
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        join = EmptyOperator(task_id="join")
        chooser >> [a, b]
        a >> join
        chooser >> join
        b >> EmptyOperator(task_id="b2")
    return dag


@scenario
def branch_join_not_chosen() -> Any:
    """Following ``b`` skips the direct downstream ``join`` whatever its trigger rule."""
    with _dag("branch_join_not_chosen") as dag:
        chooser = BranchPythonOperator(task_id="branch", python_callable=returns("b"))
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        join = EmptyOperator(task_id="join", trigger_rule="none_failed_min_one_success")
        chooser >> [a, b]
        a >> join
        chooser >> join
        after = EmptyOperator(task_id="after_b", trigger_rule="none_failed_min_one_success")
        [b, join] >> after
    return dag


@scenario
def branch_deeper_task() -> Any:
    """Choosing a task below the direct downstream: the direct one is skipped."""
    with _dag("branch_deeper_task") as dag:
        chooser = BranchPythonOperator(task_id="branch", python_callable=returns("b"))
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        chooser >> a >> b
    return dag


@scenario
def branch_after_failure() -> Any:
    """A branch that runs after a failure (all_done) still skips what it does not follow."""
    with _dag("branch_after_failure") as dag:
        first = outcome("first", "f")
        chooser = BranchPythonOperator(
            task_id="branch", python_callable=returns("a"), trigger_rule="all_done"
        )
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        first >> chooser >> [a, b]
        joins([a, b], ["none_failed_min_one_success", "all_success"])
    return dag


@scenario
def branch_skips_direct_teardown() -> Any:
    """Unlike a short-circuit, a branch skips a direct downstream teardown it does not follow."""
    with _dag("branch_skips_direct_teardown") as dag:
        prepare = EmptyOperator(task_id="prepare")
        chooser = BranchPythonOperator(task_id="branch", python_callable=returns("a"))
        cleanup = EmptyOperator(task_id="cleanup").as_teardown(setups=prepare)
        prepare >> chooser >> [EmptyOperator(task_id="a"), cleanup]
    return dag


@scenario
def branch_literal_mapped_child() -> Any:
    """A mapped child expanded from literals at run start is skipped copy by copy."""
    with _dag("branch_literal_mapped_child") as dag:
        chooser = BranchPythonOperator(task_id="branch", python_callable=returns("a"))
        chooser >> EmptyOperator(task_id="a")
        chooser >> double.override(task_id="m").expand(y=[1, 2])
    return dag


@scenario
def branch_mapped() -> Any:
    """A mapped branch skips nothing at once; copy i of a mapped child follows copy i."""
    with _dag("branch_mapped") as dag:

        @task.branch
        def pick(x: int) -> str:
            return "evens" if x % 2 == 0 else "odds"

        picks = pick.expand(x=[0, 1, 2])
        evens = double.override(task_id="evens").expand(y=[0, 1, 2])
        odds = double.override(task_id="odds").expand(y=[0, 1, 2])
        plain = EmptyOperator(task_id="plain")
        picks >> [evens, odds, plain]
        evens >> EmptyOperator(task_id="after_evens")
    return dag


# -- short-circuit ---------------------------------------------------------------------------
def _short_circuit_dag(name: str, condition: Any, ignore: bool) -> Any:
    """setup >> check >> d1 >> d2 (all_done) >> teardown; check >> direct teardown too."""
    with _dag(name) as dag:
        prepare = EmptyOperator(task_id="prepare")
        check = ShortCircuitOperator(
            task_id="check",
            python_callable=returns(condition),
            ignore_downstream_trigger_rules=ignore,
        )
        d1 = EmptyOperator(task_id="d1")
        d2 = EmptyOperator(task_id="d2", trigger_rule="all_done")
        d3 = EmptyOperator(task_id="d3")
        other = EmptyOperator(task_id="other")
        prepare >> check >> d1 >> d2 >> d3
        other >> d2
        cleanup = EmptyOperator(task_id="cleanup").as_teardown(setups=prepare)
        d3 >> cleanup
        direct = EmptyOperator(task_id="direct_teardown").as_teardown(setups=prepare)
        check >> direct
    return dag


@scenario
def short_circuit_false_ignore_rules() -> Any:
    return _short_circuit_dag("short_circuit_false_ignore_rules", False, True)


@scenario
def short_circuit_false_respect_rules() -> Any:
    return _short_circuit_dag("short_circuit_false_respect_rules", 0, False)


@scenario
def short_circuit_true() -> Any:
    return _short_circuit_dag("short_circuit_true", "yes", True)


@scenario
def short_circuit_decorated() -> Any:
    with _dag("short_circuit_decorated") as dag:

        @task.short_circuit
        def check() -> list[int]:
            return []

        @task.short_circuit(ignore_downstream_trigger_rules=False)
        def check_respect() -> None:
            return None

        c1 = check()
        (
            c1
            >> EmptyOperator(task_id="c1_d1")
            >> EmptyOperator(task_id="c1_d2", trigger_rule="always")
        )
        c2 = check_respect()
        (
            c2
            >> EmptyOperator(task_id="c2_d1")
            >> EmptyOperator(task_id="c2_d2", trigger_rule="always")
        )
    return dag


@scenario
def short_circuit_mapped() -> Any:
    """A mapped short-circuit copy only skips the same copy of a direct mapped child."""
    with _dag("short_circuit_mapped") as dag:

        @task.short_circuit
        def check(x: int) -> int:
            return x

        checks = check.expand(x=[0, 1])
        child = double.override(task_id="child").expand(y=[5, 6])
        plain = EmptyOperator(task_id="plain")
        checks >> [child, plain]
        child >> EmptyOperator(task_id="grandchild")
    return dag


@scenario
def short_circuit_literal_mapped() -> Any:
    """Copies made at run start are skipped only when directly downstream."""
    with _dag("short_circuit_literal_mapped") as dag:
        check = ShortCircuitOperator(task_id="check", python_callable=returns(False))
        d1 = EmptyOperator(task_id="d1")
        check >> [double.override(task_id="m1").expand(y=[1, 2]), d1]
        d1 >> double.override(task_id="m2", trigger_rule="all_done").expand(y=[3, 4])
    return dag


# -- dynamic task mapping --------------------------------------------------------------------
def _mapped_rules_dag(name: str, how: str) -> Any:
    with _dag(name) as dag:
        mapped = item.partial(bad=1, how=how).expand(x=[0, 1, 2])
        for rule in RULES:
            mapped >> EmptyOperator(task_id=f"d_{rule}", trigger_rule=rule)
        total.override(task_id="consume", trigger_rule="all_done")(mapped)
    return dag


@scenario
def mapped_one_index_fails() -> Any:
    return _mapped_rules_dag("mapped_one_index_fails", "fail")


@scenario
def mapped_one_index_skips() -> Any:
    return _mapped_rules_dag("mapped_one_index_skips", "skip")


@scenario
def mapped_zero_length() -> Any:
    with _dag("mapped_zero_length") as dag:
        mapped = item.expand(x=nothing())
        for rule in RULES:
            mapped >> EmptyOperator(task_id=f"d_{rule}", trigger_rule=rule)
        total.override(task_id="consume", trigger_rule="all_done")(mapped)
        total.override(task_id="consume_strict")(mapped)
    return dag


@scenario
def mapped_literal_empty() -> Any:
    with _dag("mapped_literal_empty") as dag:
        mapped = item.expand(x=[])
        joins(mapped, ["all_success", "all_done", "none_failed", "one_success"], prefix="d")
    return dag


@scenario
def mapped_over_mapped_with_failure() -> Any:
    """A mapped task expanding over a mapped upstream in which one index failed."""
    with _dag("mapped_over_mapped_with_failure") as dag:
        first = item.override(task_id="first").partial(bad=1).expand(x=[0, 1, 2])
        double.override(task_id="lenient", trigger_rule="all_done").expand(y=first)
        double.override(task_id="strict").expand(y=first)
    return dag


@scenario
def mapped_feeder_fails() -> Any:
    with _dag("mapped_feeder_fails") as dag:
        feeder = PythonOperator(task_id="feeder", python_callable=fail)
        mapped = double.override(task_id="mapped", trigger_rule="all_done").expand(y=feeder.output)
        mapped >> EmptyOperator(task_id="after", trigger_rule="all_done")
    return dag


@scenario
def mapped_feeder_skips() -> Any:
    with _dag("mapped_feeder_skips") as dag:
        feeder = PythonOperator(task_id="feeder", python_callable=skip)
        mapped = double.override(task_id="mapped", trigger_rule="all_done").expand(y=feeder.output)
        mapped >> EmptyOperator(task_id="after", trigger_rule="all_done")
    return dag


@scenario
def mapped_other_upstream_fails() -> Any:
    """A failing upstream that does not feed the expansion only goes through the rule."""
    with _dag("mapped_other_upstream_fails") as dag:
        first = outcome("first", "f")
        lenient = double.override(task_id="lenient", trigger_rule="all_done").expand(y=numbers())
        strict = double.override(task_id="strict").expand(y=[1, 2])
        first >> [lenient, strict]
    return dag


@scenario
def mapped_after_mapped_literal() -> Any:
    """m1 >> m2 by dependency only: m2 counts every index of m1."""
    with _dag("mapped_after_mapped_literal") as dag:
        m1 = item.override(task_id="m1").partial(bad=2).expand(x=[0, 1, 2])
        m2 = double.override(task_id="m2").expand(y=[5, 6])
        m3 = double.override(task_id="m3", trigger_rule="one_failed").expand(y=[7])
        m1 >> [m2, m3]
    return dag


# -- mapped task groups ---------------------------------------------------------------------
@task
def rows() -> list[dict[str, int]]:
    return [{"x": 1, "bad": 0}, {"x": 2, "bad": 2}, {"x": 3, "bad": 0}]


@task_group
def chain_group(x: int, bad: int = -1) -> Any:
    """first >> second per index; ``marker`` does not use the mapped argument."""
    first = item.override(task_id="first")(x, bad=bad)
    second = double.override(task_id="second")(first)
    EmptyOperator(task_id="marker")
    return second


@scenario
def mapped_group_simple() -> Any:
    """Each index of a mapped group runs its own chain; downstream gets every last value."""
    with _dag("mapped_group_simple") as dag:
        total(chain_group.expand(x=[1, 2, 3]))
    return dag


@scenario
def mapped_group_partial() -> Any:
    """``partial`` fixes an argument for every index; index 1 skips, so its chain skips."""
    with _dag("mapped_group_partial") as dag:

        @task_group
        def process(x: int, how: str) -> Any:
            first = item.override(task_id="first")(x, bad=2, how=how)
            return double.override(task_id="second")(first)

        results = process.partial(how="skip").expand(x=[1, 2, 3])
        total.override(task_id="strict")(results)
        total.override(task_id="lenient", trigger_rule="none_failed")(results)
    return dag


@scenario
def mapped_group_expand_kwargs() -> Any:
    """``expand_kwargs`` over a literal list of dicts and over an upstream's output."""
    with _dag("mapped_group_expand_kwargs") as dag:
        total.override(task_id="literal_total")(
            chain_group.expand_kwargs([{"x": 1, "bad": 0}, {"x": 2, "bad": 0}])
        )
        total.override(task_id="xcom_total", trigger_rule="all_done")(
            chain_group.expand_kwargs(rows())
        )
    return dag


@scenario
def mapped_group_over_xcom() -> Any:
    """A group expanded over an upstream task's output."""
    with _dag("mapped_group_over_xcom") as dag:
        total(chain_group.expand(x=numbers()))
    return dag


@scenario
def mapped_group_in_mapped_group() -> Any:
    """A mapped group inside a mapped group: its tasks get one copy per pair of indexes."""
    with _dag("mapped_group_in_mapped_group") as dag:

        @task_group
        def outer(x: int) -> Any:
            @task_group
            def inner(y: int) -> Any:
                return item.override(task_id="pair")(y, bad=20)

            first = double.override(task_id="first")(x)
            pairs = inner.expand(y=[10, 20])
            first >> pairs
            # As Airflow's scheduler does, copy i of a task waits for as many copies of a
            # more deeply mapped upstream as it has itself per outer index (here: one).
            pairs >> EmptyOperator(task_id="last_done", trigger_rule="all_done")
            return pairs >> EmptyOperator(task_id="last")

        outer.expand(x=[1, 2]) >> EmptyOperator(task_id="after", trigger_rule="all_done")
    return dag


@scenario
def mapped_group_feeder_fails_or_skips() -> Any:
    """A failed feeder upstream-fails the group, a skipped one skips it, whatever the rules."""
    with _dag("mapped_group_feeder_fails_or_skips") as dag:

        @task_group
        def process(x: int) -> Any:
            first = double.override(task_id="first", trigger_rule="all_done")(x)
            return double.override(task_id="second", trigger_rule="all_done")(first)

        failing = PythonOperator(task_id="feeder_fails", python_callable=fail)
        skipping = PythonOperator(task_id="feeder_skips", python_callable=skip)
        after = EmptyOperator(task_id="after_failed", trigger_rule="all_done")
        process.expand(x=failing.output) >> after
        after = EmptyOperator(task_id="after_skipped", trigger_rule="all_done")
        process.expand(x=skipping.output) >> after
    return dag


@scenario
def mapped_group_zero_length() -> Any:
    """An empty input skips every task of the group; downstream follows its trigger rule."""
    with _dag("mapped_group_zero_length") as dag:

        @task_group
        def process(x: int) -> Any:
            first = item.override(task_id="first")(x)
            return double.override(task_id="second", trigger_rule="all_done")(first)

        results = process.expand(x=nothing())
        joins(results, ["all_success", "all_done", "none_failed", "one_success"], prefix="d")
        total.override(task_id="consume", trigger_rule="all_done")(results)
        empty = chain_group.expand(x=[])
        joins(empty, ["all_success", "all_done"], prefix="literal")
    return dag


def _group_rules_dag(name: str, over_xcom: bool) -> Any:
    """Index 1 fails inside the group; rules inside see their index, rules after see all."""
    # As in Airflow, ``always`` is refused inside a group mapped over an upstream's output.
    inner_rules = [rule for rule in RULES if not over_xcom or rule != "always"]
    with _dag(name) as dag:

        @task_group
        def process(x: int, bad: int) -> Any:
            first = item.override(task_id="first")(x, bad=bad)
            for rule in inner_rules:
                first >> EmptyOperator(task_id=f"g_{rule}", trigger_rule=rule)
            return first

        if over_xcom:
            results = process.partial(bad=2).expand(x=numbers())
        else:
            results = process.partial(bad=1).expand(x=[0, 1, 2])
        for rule in RULES:
            results >> EmptyOperator(task_id=f"d_{rule}", trigger_rule=rule)
        total.override(task_id="consume", trigger_rule="all_done")(results)
    return dag


@scenario
def mapped_group_index_fails() -> Any:
    return _group_rules_dag("mapped_group_index_fails", over_xcom=False)


@scenario
def mapped_group_index_fails_xcom() -> Any:
    return _group_rules_dag("mapped_group_index_fails_xcom", over_xcom=True)


@scenario
def mapped_group_branch() -> Any:
    """A branch in a mapped group is a mapped copy: it skips nothing (as for mapped tasks)."""
    with _dag("mapped_group_branch") as dag:

        @task_group
        def grp(x: int) -> None:
            @task.branch
            def pick(x: int) -> str:
                return "grp.evens" if x % 2 == 0 else "grp.odds"

            @task.short_circuit
            def check(x: int) -> int:
                return x

            evens = EmptyOperator(task_id="evens")
            odds = EmptyOperator(task_id="odds")
            pick(x) >> [evens, odds]
            join = EmptyOperator(task_id="join", trigger_rule="none_failed_min_one_success")
            [evens, odds] >> join
            check(x) >> EmptyOperator(task_id="checked")

        grp.expand(x=[0, 1, 2]) >> EmptyOperator(task_id="after")
    return dag


@scenario
def mapped_group_nested() -> Any:
    """A plain group inside a mapped group is mapped too; a mapped group inside a plain one."""
    with _dag("mapped_group_nested") as dag:

        @task_group
        def outer(x: int) -> Any:
            with TaskGroup("inner"):
                doubled = double.override(task_id="doubled")(x)
                checked = item.override(task_id="checked")(doubled, bad=4)
            after = EmptyOperator(task_id="after_inner", trigger_rule="all_done")
            checked >> after
            return checked

        results = outer.expand(x=[1, 2, 3])
        total.override(task_id="consume", trigger_rule="all_done")(results)
        with TaskGroup("wrap"):
            chain_group.expand(x=numbers())
    return dag


# -- run state, setup and teardown -----------------------------------------------------------
@scenario
def run_nonleaf_failure_all_done_leaf() -> Any:
    with _dag("run_nonleaf_failure_all_done_leaf") as dag:
        outcome("work", "f") >> EmptyOperator(task_id="report", trigger_rule="all_done")
    return dag


@scenario
def run_failed_leaf_beside_success() -> Any:
    with _dag("run_failed_leaf_beside_success") as dag:
        outcome("bad", "f")
        outcome("good", "s")
    return dag


@scenario
def run_all_skipped() -> Any:
    with _dag("run_all_skipped") as dag:
        outcome("first", "k") >> EmptyOperator(task_id="second")
    return dag


def _teardown_dag(
    name: str, setup_kind: str, work_kind: str, teardown_kind: str, fail_dagrun: bool
) -> Any:
    with _dag(name) as dag:
        prepare = outcome("prepare", setup_kind)
        work = outcome("work", work_kind)
        fn = {"s": ok, "f": fail, "k": skip}[teardown_kind]
        cleanup = PythonOperator(task_id="cleanup", python_callable=fn).as_teardown(
            setups=prepare, on_failure_fail_dagrun=fail_dagrun
        )
        prepare >> work >> cleanup
    return dag


TEARDOWN_CASES = {
    "teardown_fails_ignored": ("s", "s", "f", False),
    "teardown_fails_counted": ("s", "s", "f", True),
    "teardown_work_fails": ("s", "f", "s", False),
    "teardown_work_fails_counted_teardown_ok": ("s", "f", "s", True),
    "teardown_setup_fails": ("f", "s", "s", False),
    "teardown_setup_skips": ("k", "s", "s", False),
    "teardown_setup_fails_counted": ("f", "s", "s", True),
}


def _register_teardown(name: str, case: tuple[str, str, str, bool]) -> None:
    SCENARIOS[name] = lambda: _teardown_dag(name, *case)


for _name, _case in TEARDOWN_CASES.items():
    _register_teardown(_name, _case)


def _setup_constraint_dag(name: str, setup_kind: str, work_kind: str) -> Any:
    """prepare (setup) >> w1 >> w2 (all_done) >> w3 >> cleanup; w2 sees prepare indirectly.

    ``w_always`` (rule ``always``) is not held back by the setup; ``outside`` has no teardown
    of ``prepare`` below it, so ``prepare`` is not one of its setups.
    """
    with _dag(name) as dag:
        prepare = outcome("prepare", setup_kind)
        w1 = outcome("w1", work_kind)
        w2 = EmptyOperator(task_id="w2", trigger_rule="all_done")
        w3 = EmptyOperator(task_id="w3", trigger_rule="all_done")
        outside = EmptyOperator(task_id="outside", trigger_rule="all_done")
        cleanup = EmptyOperator(task_id="cleanup").as_teardown(setups=prepare)
        prepare >> w1 >> w2 >> w3 >> cleanup
        w1 >> outside
        w1 >> EmptyOperator(task_id="w_always", trigger_rule="always") >> cleanup
    return dag


@scenario
def setup_fails_indirect_all_done() -> Any:
    return _setup_constraint_dag("setup_fails_indirect_all_done", "f", "s")


@scenario
def setup_skips_indirect_all_done() -> Any:
    return _setup_constraint_dag("setup_skips_indirect_all_done", "k", "s")


@scenario
def setup_ok_work_fails_all_done() -> Any:
    return _setup_constraint_dag("setup_ok_work_fails_all_done", "s", "f")


def _setups_dag(name: str, kinds: tuple[str, str]) -> Any:
    """Two setups feeding one teardown (all_done_setup_success counts the setups)."""
    with _dag(name) as dag:
        s1 = outcome("s1", kinds[0])
        s2 = outcome("s2", kinds[1])
        work = EmptyOperator(task_id="work")
        cleanup = EmptyOperator(task_id="cleanup").as_teardown(setups=[s1, s2])
        s1 >> work >> cleanup
    return dag


SETUP_PAIRS = [("s", "f"), ("k", "k"), ("k", "f"), ("f", "k"), ("s", "k"), ("f", "f")]


def _register_setups(kinds: tuple[str, str]) -> None:
    name = "setups_" + "_".join(kinds)
    SCENARIOS[name] = lambda: _setups_dag(name, kinds)


for _pair in SETUP_PAIRS:
    _register_setups(_pair)


@scenario
def fail_fast_stops_the_rest() -> Any:
    """With ``fail_fast`` a failure skips every unfinished task except teardowns."""
    with DAG("fail_fast_stops_the_rest", schedule=None, start_date=START, fail_fast=True) as dag:
        prepare = outcome("prepare", "s")
        work = outcome("work", "f")
        after = EmptyOperator(task_id="after")
        later = EmptyOperator(task_id="later")
        cleanup = EmptyOperator(task_id="cleanup").as_teardown(setups=prepare)
        prepare >> work >> after >> later >> cleanup
    return dag
