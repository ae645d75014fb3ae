"""The service's database path ends every Airflow scenario exactly as Airflow 3.3.2 did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scenarios import SCENARIOS

from dbdriver import drive
from tradewind.db import migrate
from tradewind.db.session import get_engine

EXPECTED: dict[str, dict[str, object]] = json.loads(
    (Path(__file__).with_name("airflow_states.json")).read_text()
)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scenario_through_the_database_matches_airflow(db_url: str, name: str) -> None:
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    state, states = drive(engine, SCENARIOS[name]())
    expected = EXPECTED[name]
    assert {"run": state, "tasks": states} == {"run": expected["run"], "tasks": expected["tasks"]}
