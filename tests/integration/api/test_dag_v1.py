"""``/api/v1/dags`` (Airflow 2's shapes) through a real server: list, get, details, pause
one or a page of DAGs with ``update_mask``, delete; 400 for what Airflow 2 refuses."""

from __future__ import annotations

from typing import Any

import pytest

from api_server import ApiTestEnv

DAGS = """
from datetime import datetime, timedelta
from tradewind.sdk import DAG, task

with DAG("cron_dag", schedule="5 4 * * *", start_date=datetime(2024, 1, 1), tags=["x"],
         default_args={"owner": "ann"}, dagrun_timeout=timedelta(minutes=90)):
    @task
    def a() -> None:
        pass

    a()

with DAG("delta_dag", schedule=timedelta(hours=6), start_date=datetime(2024, 1, 1)):
    @task
    def b() -> None:
        pass

    b()

with DAG("manual_dag", schedule=None):
    @task
    def c() -> None:
        pass

    c()
"""

#: Every field of Airflow 2's DAG schema.
V1_FIELDS = {
    "dag_id", "dag_display_name", "root_dag_id", "is_paused", "is_active", "is_subdag",
    "last_parsed_time", "last_pickled", "last_expired", "scheduler_lock", "pickle_id",
    "default_view", "fileloc", "file_token", "owners", "description", "schedule_interval",
    "timetable_description", "tags", "max_active_tasks", "max_active_runs",
    "has_task_concurrency_limits", "has_import_errors", "next_dagrun",
    "next_dagrun_data_interval_start", "next_dagrun_data_interval_end",
    "next_dagrun_create_after", "max_consecutive_failed_dag_runs",
}  # fmt: skip


@pytest.fixture
def dags(api: ApiTestEnv) -> ApiTestEnv:
    api.add_dag_file("dags.py", DAGS)
    return api


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [d["dag_id"] for d in response.json()["dags"]]


def test_the_list_has_airflow_2_fields(dags: ApiTestEnv) -> None:
    from tradewind.api.schemas.dags_v1 import DAGCollectionV1

    body = dags.client("viewer").get("/api/v1/dags").json()
    DAGCollectionV1.model_validate(body)
    assert body["total_entries"] == 3
    by_id = {d["dag_id"]: d for d in body["dags"]}
    cron = by_id["cron_dag"]
    assert set(cron) == V1_FIELDS
    assert cron["is_active"] is True and cron["is_subdag"] is False
    assert cron["schedule_interval"] == {"__type": "CronExpression", "value": "5 4 * * *"}
    assert cron["tags"] == [{"name": "x"}]
    assert cron["owners"] == ["ann"]
    assert by_id["delta_dag"]["schedule_interval"] == {
        "__type": "TimeDelta",
        "days": 0,
        "seconds": 21600,
        "microseconds": 0,
    }
    assert by_id["manual_dag"]["schedule_interval"] is None


def test_filters_fields_and_order(dags: ApiTestEnv) -> None:
    client = dags.client("viewer")
    assert ids(client.get("/api/v1/dags", params={"dag_id_pattern": "ta_d"})) == ["delta_dag"]
    assert ids(client.get("/api/v1/dags", params={"tags": "x"})) == ["cron_dag"]
    assert ids(client.get("/api/v1/dags", params={"order_by": "-dag_id", "limit": 1})) == [
        "manual_dag"
    ]
    only = client.get("/api/v1/dags", params={"fields": ["dag_id", "is_paused"]}).json()
    assert only["dags"][0] == {"dag_id": "cron_dag", "is_paused": False}
    assert client.get("/api/v1/dags", params={"fields": "nope"}).status_code == 400
    assert client.get("/api/v1/dags", params={"order_by": "fileloc"}).status_code == 400
    one = client.get("/api/v1/dags/cron_dag", params={"fields": "dag_id,owners"}).json()
    assert one == {"dag_id": "cron_dag", "owners": ["ann"]}
    missing = client.get("/api/v1/dags/nope")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "The DAG with dag_id: nope was not found"


def test_details(dags: ApiTestEnv) -> None:
    from tradewind.api.schemas.dags_v1 import DAGDetailV1

    body = dags.client("viewer").get("/api/v1/dags/cron_dag/details").json()
    DAGDetailV1.model_validate(body)
    assert set(body) > V1_FIELDS
    assert body["dag_run_timeout"] == {
        "__type": "TimeDelta",
        "days": 0,
        "seconds": 5400,
        "microseconds": 0,
    }
    assert isinstance(body["catchup"], bool)
    assert body["timezone"] == "UTC"
    assert body["start_date"].startswith("2024-01-01")
    assert dags.client("viewer").get("/api/v1/dags/nope/details").status_code == 404


def test_pausing_with_update_mask(dags: ApiTestEnv) -> None:
    client = dags.client("user")
    current = client.get("/api/v1/dags/cron_dag").json()
    current["is_paused"] = True
    response = client.patch(
        "/api/v1/dags/cron_dag", params={"update_mask": "is_paused"}, json=current
    )
    assert response.status_code == 200, response.text
    assert response.json()["is_paused"] is True
    plain = client.patch("/api/v1/dags/cron_dag", json={"is_paused": False})
    assert plain.json()["is_paused"] is False


@pytest.mark.parametrize(
    ("params", "body"),
    [
        ({"update_mask": "description"}, {"is_paused": True}),
        ({}, {"is_paused": True, "not_a_field": 1}),
        ({}, {"is_paused": "perhaps"}),
        ({}, {"description": "no is_paused"}),
    ],
)
def test_bad_patches_are_400_as_in_airflow_2(
    dags: ApiTestEnv, params: dict[str, Any], body: dict[str, Any]
) -> None:
    client = dags.client("admin")
    response = client.patch("/api/v1/dags/cron_dag", params=params, json=body)
    assert response.status_code == 400, response.text
    assert client.get("/api/v1/dags/cron_dag").json()["is_paused"] is False


def test_patching_a_page_of_dags(dags: ApiTestEnv) -> None:
    client = dags.client("user")
    missing = client.patch("/api/v1/dags", json={"is_paused": True})
    assert missing.status_code == 400
    response = client.patch(
        "/api/v1/dags",
        params={"dag_id_pattern": "~", "limit": 2, "update_mask": "is_paused"},
        json={"is_paused": True},
    )
    body = response.json()
    assert body["total_entries"] == 3
    assert [(d["dag_id"], d["is_paused"]) for d in body["dags"]] == [
        ("cron_dag", True),
        ("delta_dag", True),
    ]
    # Airflow 2 changes the requested page only.
    assert ids(client.get("/api/v1/dags", params={"paused": False})) == ["manual_dag"]
    unknown = client.patch("/api/v1/dags/nope", json={"is_paused": True})
    assert unknown.status_code == 404


def test_roles_and_delete(dags: ApiTestEnv) -> None:
    assert dags.anonymous().get("/api/v1/dags").status_code == 401
    viewer = dags.client("viewer")
    assert viewer.patch("/api/v1/dags/cron_dag", json={"is_paused": True}).status_code == 403
    assert viewer.delete("/api/v1/dags/cron_dag").status_code == 403
    assert dags.client("public").get("/api/v1/dags/cron_dag").status_code == 403
    user = dags.client("user")
    assert user.delete("/api/v1/dags/cron_dag").status_code == 204
    assert user.delete("/api/v1/dags/cron_dag").status_code == 404
    assert ids(viewer.get("/api/v1/dags")) == ["delta_dag", "manual_dag"]
