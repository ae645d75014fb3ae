"""``tasks test`` on tasks that expand, with Airflow 3.3.2's rules for ``--map-index``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tradewind.cli.main import main

DAG_FILE = """
from tradewind.sdk import DAG, task, task_group

with DAG("mapping") as d:
    @task
    def show(x):
        print("got", x)
        return x

    @task
    def numbers():
        return [1, 2]

    @task
    def plain():
        return 1

    @task_group
    def literal(x):
        return show(x)

    @task_group
    def outer(x):
        @task_group
        def inner(y):
            return show(y)

        return inner.expand(y=[10, 20])

    @task_group
    def dynamic(x):
        return show(x)

    literal.expand(x=["a", "b", "c"])
    outer.expand(x=[1, 2])
    dynamic.expand(x=numbers())
    show.expand(x=[5, 6])
    plain()
"""


@pytest.fixture
def dags(tmp_path: Path) -> Path:
    (tmp_path / "mapping.py").write_text(textwrap.dedent(DAG_FILE))
    return tmp_path


def tasks_test(dags: Path, *args: str) -> int:
    return main(["tasks", "test", "mapping", *args, "-S", str(dags)])


def test_a_task_in_a_mapped_group_runs_the_copy_asked_for(dags: Path, capsys) -> None:
    assert tasks_test(dags, "literal.show", "--map-index", "1") == 0
    out = capsys.readouterr().out
    assert "got b" in out
    assert "Task literal.show[1]: success" in out


@pytest.mark.parametrize(
    ("task_id", "message"),
    [
        (
            "literal.show",
            "task 'literal.show' is in mapped task group 'literal': give --map-index N to test "
            "one instance (3 mapped instance(s) [0..2])",
        ),
        (
            "outer.inner.show",
            "task 'outer.inner.show' is in mapped task group 'outer.inner': give --map-index N "
            "to test one instance (4 mapped instance(s) [0..3])",
        ),
        (
            "show",
            "task 'show' is mapped: give --map-index N to test one instance "
            "(2 mapped instance(s) [0..1])",
        ),
        (
            "dynamic.show",
            "task 'dynamic.show' is in mapped task group 'dynamic': give --map-index N to test "
            "one instance (how many there are is known once a run has its upstream output)",
        ),
    ],
)
def test_a_task_that_expands_needs_a_map_index_and_is_told_the_range(
    dags: Path, capsys, task_id: str, message: str
) -> None:
    assert tasks_test(dags, task_id) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == f"error: {message}"
    assert "Task " not in captured.out  # nothing ran


def test_a_map_index_out_of_range_is_refused(dags: Path, capsys) -> None:
    assert tasks_test(dags, "literal.show", "--map-index", "3") == 2
    assert capsys.readouterr().err.strip() == (
        "error: --map-index 3 is out of range: task 'literal.show' has 3 mapped instance(s) [0..2]"
    )


def test_a_task_that_does_not_expand_takes_no_map_index(dags: Path, capsys) -> None:
    assert tasks_test(dags, "plain", "--map-index", "0") == 2
    assert "task 'plain' is not mapped: leave out --map-index" in capsys.readouterr().err
    assert tasks_test(dags, "plain") == 0
