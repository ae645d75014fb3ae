"""A DAG's access_control is kept in one shape in its serialized form."""

from __future__ import annotations

from datetime import datetime

import pytest

from tradewind.sdk import DAG
from tradewind.serialization.dag_json import SerializedDAG, serialize_dag
from tradewind.serialization.schema import SerializationError


def _dag(access_control: object) -> DAG:
    return DAG("acl", start_date=datetime(2024, 1, 1), access_control=access_control)  # type: ignore[arg-type]


def test_both_airflow_forms_serialize_to_role_resource_actions() -> None:
    data = serialize_dag(
        _dag({"team_a": {"can_read", "can_edit"}, "runners": {"DAG Runs": {"can_create"}}})
    )
    assert SerializedDAG(data).access_control == {
        "team_a": {"DAGs": ["can_edit", "can_read"]},
        "runners": {"DAG Runs": ["can_create"]},
    }


def test_a_dag_without_access_control_has_an_empty_one() -> None:
    assert SerializedDAG(serialize_dag(_dag(None))).access_control == {}


@pytest.mark.parametrize("bad", [["team_a"], {"team_a": "can_read"}, {"team_a": {1, 2}}])
def test_a_malformed_access_control_is_a_clear_error(bad: object) -> None:
    with pytest.raises(SerializationError, match="access_control"):
        serialize_dag(_dag(bad))
