"""``/api/v1`` DAG runs (Airflow 2's shapes) through a real server: trigger with the
defaults Airflow 2 scripts rely on, list, list with a body, get, mark, set the note, clear
and delete, and who may do what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from api_server import ApiTestEnv

DAGS = """
from datetime import datetime
from tradewind.sdk import DAG, Param, task

with DAG("etl", schedule=None, params={"n": Param(1, type="integer", minimum=1)}):
    @task
    def a() -> int:
        return 1

    @task
    def b() -> None:
        pass

    a() >> b()

with DAG("other", schedule=None):
    @task
    def only() -> None:
        pass

    only()
"""

#: Every field of Airflow 2's DAGRun.
V1_FIELDS = {
    "dag_run_id", "dag_id", "logical_date", "execution_date", "start_date", "end_date",
    "data_interval_start", "data_interval_end", "last_scheduling_decision", "run_type", "state",
    "external_trigger", "conf", "note",
}  # fmt: skip


@pytest.fixture
def dags(api: ApiTestEnv) -> ApiTestEnv:
    api.add_dag_file("dags.py", DAGS)
    return api


def post(api: ApiTestEnv, dag_id: str, body: Any, user: str = "user") -> Any:
    return api.client(user).post(f"/api/v1/dags/{dag_id}/dagRuns", json=body)


def ti_states(api: ApiTestEnv, run_id: str) -> dict[str, str | None]:
    from tradewind.db.models import TaskInstance

    with Session(api.engine) as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.state).where(TaskInstance.run_id == run_id)
        )
        return {task_id: state for task_id, state in rows}


def test_a_trigger_with_an_empty_body_runs_now_with_a_manual_run_id(dags: ApiTestEnv) -> None:
    before = datetime.now(UTC)
    response = post(dags, "etl", {})
    assert response.status_code == 200, response.text
    run = response.json()
    assert set(run) == V1_FIELDS
    logical = datetime.fromisoformat(run["logical_date"])
    assert before <= logical <= datetime.now(UTC)
    assert run["execution_date"] == run["logical_date"]
    assert run["dag_run_id"] == f"manual__{logical.isoformat()}"
    assert run["external_trigger"] is True and run["run_type"] == "manual"
    assert (run["state"], run["conf"]) == ("queued", {})
    named = post(
        dags,
        "etl",
        {"dag_run_id": "mine", "execution_date": "2024-01-01T00:00:00", "conf": {"n": 2}},
    ).json()
    assert named["logical_date"] == "2024-01-01T00:00:00Z"  # naive dates are UTC
    assert named["conf"] == {"n": 2}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"conf": {"n": 0}}, 400),
        ({"logical_date": "2024-01-01T00:00:00Z", "execution_date": "2024-01-02T00:00:00Z"}, 400),
        ({"data_interval_start": "2024-01-01T00:00:00Z"}, 400),
        ({"dag_run_id": "../etc"}, 400),
        ({"state": "running"}, 422),
        ({"conf": "x"}, 422),
    ],
)
def test_bad_triggers_change_nothing(dags: ApiTestEnv, body: Any, status: int) -> None:
    from tradewind.db.models import DagRun

    response = post(dags, "etl", body)
    assert response.status_code == status, response.text
    with Session(dags.engine) as session:
        assert session.scalar(select(func.count()).select_from(DagRun)) == 0


def test_conflicts_unknown_dags_and_roles(dags: ApiTestEnv) -> None:
    assert post(dags, "etl", {"dag_run_id": "r1"}).status_code == 200
    assert post(dags, "etl", {"dag_run_id": "r1"}).status_code == 409
    assert post(dags, "missing", {}).status_code == 404
    assert post(dags, "etl", {}, "viewer").status_code == 403
    assert dags.anonymous().post("/api/v1/dags/etl/dagRuns", json={}).status_code == 401
    for user in ("op", "admin"):
        assert post(dags, "etl", {}, user).status_code == 200


def test_lists_get_and_list_with_a_body(dags: ApiTestEnv) -> None:
    from tradewind.db.models import DagRun

    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    for i, (dag_id, run_id) in enumerate([("etl", "a"), ("etl", "b"), ("other", "c")]):
        logical = (t0 + timedelta(days=i)).isoformat()
        assert post(dags, dag_id, {"dag_run_id": run_id, "logical_date": logical}).is_success
    with Session(dags.engine) as session, session.begin():
        session.execute(update(DagRun).where(DagRun.run_id == "b").values(state="failed"))
    client = dags.client("viewer")
    body = client.get("/api/v1/dags/etl/dagRuns").json()
    assert body["total_entries"] == 2 and [r["dag_run_id"] for r in body["dag_runs"]] == ["a", "b"]
    assert set(body["dag_runs"][0]) == V1_FIELDS

    def ids(response: Any) -> list[str]:
        assert response.status_code == 200, response.text
        return [r["dag_run_id"] for r in response.json()["dag_runs"]]

    assert ids(client.get("/api/v1/dags/~/dagRuns", params={"order_by": "-execution_date"})) == [
        "c",
        "b",
        "a",
    ]
    assert ids(client.get("/api/v1/dags/etl/dagRuns", params={"state": "failed"})) == ["b"]
    dated = {"execution_date_gte": "2024-01-02T00:00:00+00:00"}
    assert ids(client.get("/api/v1/dags/~/dagRuns", params=dated)) == ["b", "c"]
    assert ids(client.get("/api/v1/dags/missing/dagRuns")) == []  # Airflow 2: an empty list
    assert client.get("/api/v1/dags/etl/dagRuns", params={"state": "x"}).status_code == 400
    assert client.get("/api/v1/dags/etl/dagRuns", params={"order_by": "x"}).status_code == 400
    batch = client.post(
        "/api/v1/dags/~/dagRuns/list",
        json={"dag_ids": ["etl", "other"], "states": ["queued"], "page_limit": 5},
    )
    assert ids(batch) == ["a", "c"]
    assert client.post("/api/v1/dags/~/dagRuns/list", json={"states": ["x"]}).status_code == 422
    assert client.post("/api/v1/dags/etl/dagRuns/list", json={}).status_code == 422
    one = client.get("/api/v1/dags/etl/dagRuns/b").json()
    assert (one["state"], one["execution_date"]) == ("failed", "2024-01-02T00:00:00Z")
    missing = client.get("/api/v1/dags/etl/dagRuns/zzz")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "DAGRun with DAG ID: 'etl' and DagRun ID: 'zzz' not found"
    assert dags.client("public").get("/api/v1/dags/etl/dagRuns").status_code == 403


def test_mark_note_clear_and_delete(dags: ApiTestEnv) -> None:
    from tradewind.db.models import DagRun, TaskInstance

    assert post(dags, "etl", {"dag_run_id": "r"}).is_success
    client = dags.client("user")
    marked = client.patch("/api/v1/dags/etl/dagRuns/r", json={"state": "failed"})
    assert marked.status_code == 200 and marked.json()["state"] == "failed"
    assert ti_states(dags, "r") == {"a": "skipped", "b": "skipped"}
    assert client.patch("/api/v1/dags/etl/dagRuns/r", json={"state": "running"}).status_code == 422
    assert client.patch("/api/v1/dags/etl/dagRuns/r", json={}).status_code == 422
    noted = client.patch("/api/v1/dags/etl/dagRuns/r/setNote", json={"note": "why"})
    assert noted.json()["note"] == "why"
    dry = client.post("/api/v1/dags/etl/dagRuns/r/clear", json={})
    assert dry.status_code == 200
    assert dry.json() == {
        "task_instances": [
            {"task_id": t, "dag_id": "etl", "execution_date": marked.json()["execution_date"],
             "dag_run_id": "r"}
            for t in ("a", "b")
        ]
    }  # fmt: skip
    assert ti_states(dags, "r") == {"a": "skipped", "b": "skipped"}
    cleared = client.post("/api/v1/dags/etl/dagRuns/r/clear", json={"dry_run": False})
    assert cleared.json()["state"] == "queued"
    assert ti_states(dags, "r") == {"a": None, "b": None}
    viewer = dags.client("viewer")
    assert viewer.patch("/api/v1/dags/etl/dagRuns/r/setNote", json={"note": "x"}).status_code == 403
    assert viewer.delete("/api/v1/dags/etl/dagRuns/r").status_code == 403
    with Session(dags.engine) as session, session.begin():
        session.execute(update(DagRun).where(DagRun.run_id == "r").values(state="running"))
    # Airflow 2 deletes a running run too.
    assert client.delete("/api/v1/dags/etl/dagRuns/r").status_code == 204
    assert client.delete("/api/v1/dags/etl/dagRuns/r").status_code == 404
    with Session(dags.engine) as session:
        assert session.scalar(select(func.count()).select_from(TaskInstance)) == 0
