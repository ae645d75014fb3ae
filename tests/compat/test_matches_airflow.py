"""Every scenario in ``scenarios.py`` ends in the same task and run states as under Airflow.

``airflow_states.json`` was recorded by running the same scenario DAGs with Apache Airflow
3.3.2's ``DAG.test()``: ``record_airflow_states.py`` beside this file only rewrites the import
block of ``scenarios.py``. Record again (see its docstring) when a scenario is added or changed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scenarios import SCENARIOS

from tradewind.inprocess import run_dag

EXPECTED: dict[str, dict[str, object]] = json.loads(
    (Path(__file__).with_name("airflow_states.json")).read_text()
)


def test_every_scenario_was_recorded_under_airflow() -> None:
    assert sorted(SCENARIOS) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scenario_matches_airflow(name: str) -> None:
    result = run_dag(SCENARIOS[name]())
    expected = EXPECTED[name]
    assert {"run": result.state.value, "tasks": result.task_states()} == {
        "run": expected["run"],
        "tasks": expected["tasks"],
    }
