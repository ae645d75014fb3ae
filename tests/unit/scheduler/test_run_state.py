"""A DAG run's final state from its leaves, as Airflow's ``DagRun.update_state`` decides."""

from __future__ import annotations

from tradewind.scheduler.run_state import decide_run_state, effective_leaves
from tradewind.states import DagRunState
from tradewind.states import TaskInstanceState as TI

SUCCESS, FAILED, RUNNING = DagRunState.SUCCESS, DagRunState.FAILED, DagRunState.RUNNING


class TestEffectiveLeaves:
    def test_tasks_without_downstream(self) -> None:
        assert effective_leaves({"a": ["b", "c"], "b": [], "c": []}, set()) == {"b", "c"}

    def test_a_teardown_that_does_not_fail_the_run_is_ignored(self) -> None:
        down = {"setup": ["work", "td"], "work": ["td"], "td": []}
        assert effective_leaves(down, {"td"}) == {"work"}

    def test_a_teardown_that_fails_the_run_is_the_leaf(self) -> None:
        """With on_failure_fail_dagrun the teardown counts, and its upstream is no leaf."""
        down = {"setup": ["work", "td"], "work": ["td"], "td": []}
        assert effective_leaves(down, set()) == {"td"}

    def test_a_task_feeding_only_ignorable_teardowns_is_a_leaf(self) -> None:
        down = {"a": ["b", "td1"], "b": ["td2"], "td1": [], "td2": []}
        assert effective_leaves(down, {"td1", "td2"}) == {"b"}

    def test_a_dag_of_teardowns_only_falls_back_to_plain_leaves(self) -> None:
        assert effective_leaves({"td1": ["td2"], "td2": []}, {"td1", "td2"}) == {"td2"}


class TestRunState:
    def test_all_leaves_succeeded(self) -> None:
        assert decide_run_state({"a": [TI.SUCCESS]}, {"a"}, can_progress=False) is SUCCESS

    def test_skipped_leaves_count_as_success(self) -> None:
        states = {"a": [TI.SUCCESS], "b": [TI.SKIPPED]}
        assert decide_run_state(states, {"b"}, can_progress=False) is SUCCESS

    def test_a_failed_leaf_fails_the_run(self) -> None:
        states = {"a": [TI.SUCCESS], "b": [TI.FAILED]}
        assert decide_run_state(states, {"a", "b"}, can_progress=False) is FAILED

    def test_an_upstream_failed_leaf_fails_the_run(self) -> None:
        states = {"a": [TI.FAILED], "b": [TI.UPSTREAM_FAILED]}
        assert decide_run_state(states, {"b"}, can_progress=False) is FAILED

    def test_a_failure_that_is_not_a_leaf_does_not_matter(self) -> None:
        """a fails, b (all_done) succeeds: the run succeeded."""
        states = {"a": [TI.FAILED], "b": [TI.SUCCESS]}
        assert decide_run_state(states, {"b"}, can_progress=False) is SUCCESS

    def test_one_failed_copy_of_a_mapped_leaf_fails_the_run(self) -> None:
        states = {"m": [TI.SUCCESS, TI.FAILED, TI.SUCCESS]}
        assert decide_run_state(states, {"m"}, can_progress=False) is FAILED

    def test_removed_leaves_are_left_out(self) -> None:
        states = {"a": [TI.SUCCESS], "gone": [TI.REMOVED]}
        assert decide_run_state(states, {"a", "gone"}, can_progress=False) is SUCCESS

    def test_no_leaves_means_success(self) -> None:
        assert decide_run_state({"a": [TI.FAILED]}, set(), can_progress=False) is SUCCESS

    def test_unfinished_tasks_that_can_progress_keep_it_running(self) -> None:
        states = {"a": [TI.SUCCESS], "b": [TI.RUNNING], "c": [None]}
        assert decide_run_state(states, {"c"}, can_progress=True) is RUNNING

    def test_a_leaf_failure_waits_for_unfinished_tasks(self) -> None:
        """Airflow only fails the run when nothing is left unfinished (teardowns still run)."""
        states = {"a": [TI.FAILED], "td": [None]}
        assert decide_run_state(states, {"a"}, can_progress=True) is RUNNING

    def test_unfinished_tasks_that_cannot_progress_are_a_deadlock(self) -> None:
        states = {"a": [TI.REMOVED], "b": [None]}
        assert decide_run_state(states, {"b"}, can_progress=False) is FAILED

    def test_a_deadlock_fails_even_with_successful_leaves(self) -> None:
        states = {"a": [TI.SUCCESS], "b": [None], "c": [TI.SUCCESS]}
        assert decide_run_state(states, {"a", "c"}, can_progress=False) is FAILED
