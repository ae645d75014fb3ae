"""``/api/v2/backfills`` through a real server: create (and dry-run) with Airflow's codes,
list, get, pause, unpause, cancel, and who may do what."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api_server import ApiTestEnv

DAGS = """
from datetime import datetime
from tradewind.sdk import DAG, Param, task

with DAG("daily", schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False,
         dag_display_name="Daily", params={"n": Param(1, type="integer", minimum=1)}):
    @task
    def work() -> None:
        pass

    work()

with DAG("manual_only", schedule=None):
    @task
    def once() -> None:
        pass

    once()
"""

BACKFILL_FIELDS = {
    "id", "dag_id", "from_date", "to_date", "dag_run_conf", "is_paused", "reprocess_behavior",
    "max_active_runs", "created_at", "completed_at", "updated_at", "dag_display_name",
}  # fmt: skip
THREE_DAYS = {"dag_id": "daily", "from_date": "2024-01-01T00:00:00Z", "to_date": "2024-01-03"}


@pytest.fixture
def dags(api: ApiTestEnv) -> ApiTestEnv:
    api.add_dag_file("dags.py", DAGS)
    return api


def backfill_runs(api: ApiTestEnv) -> list[tuple[str, str, Any]]:
    from tradewind.db.models import DagRun

    with Session(api.engine) as session:
        rows = session.execute(
            select(DagRun.run_type, DagRun.state, DagRun.conf).order_by(DagRun.logical_date)
        )
        return [(t, s, c) for t, s, c in rows]


def create(api: ApiTestEnv, user: str = "user", **body: Any) -> Any:
    return api.client(user).post("/api/v2/backfills", json={**THREE_DAYS, **body})


def test_create_makes_a_run_per_past_interval(dags: ApiTestEnv) -> None:
    response = create(dags, dag_run_conf={"n": 2}, max_active_runs=2)
    assert response.status_code == 200, response.text
    backfill = response.json()
    assert set(backfill) == BACKFILL_FIELDS
    assert backfill["dag_id"] == "daily" and backfill["dag_display_name"] == "Daily"
    assert backfill["to_date"] == "2024-01-03T00:00:00Z"  # naive dates are UTC
    assert (backfill["max_active_runs"], backfill["reprocess_behavior"]) == (2, "none")
    assert backfill["is_paused"] is False and backfill["completed_at"] is None
    assert backfill["dag_run_conf"] == {"n": 2}
    assert backfill_runs(dags) == [("backfill", "queued", {"n": 2})] * 3
    again = create(dags)
    assert again.status_code == 409
    assert again.json()["detail"] == "There is already a running backfill for dag daily"
    # The dry run says which dates would run, and changes nothing.
    dry = dags.client("user").post(
        "/api/v2/backfills/dry_run",
        json={**THREE_DAYS, "to_date": "2024-01-05T00:00:00Z", "reprocess_behavior": "completed"},
    )
    assert dry.status_code == 200, dry.text
    # The three queued runs are in flight: only the two new dates would run.
    assert dry.json() == {
        "backfills": [
            {"logical_date": "2024-01-04T00:00:00Z"},
            {"logical_date": "2024-01-05T00:00:00Z"},
        ],
        "total_entries": 2,
    }
    assert len(backfill_runs(dags)) == 3


def test_dry_run_lists_the_dates(dags: ApiTestEnv) -> None:
    response = dags.client("user").post(
        "/api/v2/backfills/dry_run", json={**THREE_DAYS, "run_backwards": True}
    )
    assert response.status_code == 200
    assert response.json() == {
        "backfills": [
            {"logical_date": "2024-01-03T00:00:00Z"},
            {"logical_date": "2024-01-02T00:00:00Z"},
            {"logical_date": "2024-01-01T00:00:00Z"},
        ],
        "total_entries": 3,
    }
    assert backfill_runs(dags) == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"dag_id": "missing"}, 404),
        ({"dag_id": "bad\u0000id"}, 422),
        ({"dag_id": "manual_only"}, 422),
        ({"from_date": "2024-02-01T00:00:00Z"}, 422),  # after to_date
        ({"from_date": "2999-01-01T00:00:00Z", "to_date": "2999-01-02T00:00:00Z"}, 422),
        ({"dag_run_conf": {"n": 0}}, 422),
        ({"reprocess_behavior": "sometimes"}, 422),
        ({"max_active_runs": 0}, 422),
        ({"from_date": "1990-01-01T00:00:00Z"}, 422),  # more runs than one backfill may make
        ({"from_date": "not a date"}, 422),
        ({"colour": "red"}, 422),
    ],
)
def test_bad_requests_change_nothing(dags: ApiTestEnv, body: Any, status: int) -> None:
    from tradewind.db.models import Backfill

    response = create(dags, **body)
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    dry = dags.client("user").post("/api/v2/backfills/dry_run", json={**THREE_DAYS, **body})
    assert dry.status_code == status, dry.text
    with Session(dags.engine) as session:
        assert session.scalar(select(func.count()).select_from(Backfill)) == 0
    assert backfill_runs(dags) == []


def test_list_get_pause_unpause_cancel(dags: ApiTestEnv) -> None:
    backfill_id = create(dags).json()["id"]
    client = dags.client("user")
    listed = dags.client("viewer").get("/api/v2/backfills", params={"dag_id": "daily"}).json()
    assert listed["total_entries"] == 1 and listed["backfills"][0]["id"] == backfill_id
    assert client.get("/api/v2/backfills", params={"dag_id": "other"}).json()["backfills"] == []
    assert client.get("/api/v2/backfills").status_code == 422  # dag_id is required
    bad_order = client.get("/api/v2/backfills", params={"dag_id": "daily", "order_by": "x"})
    assert bad_order.status_code == 400
    descending = client.get("/api/v2/backfills", params={"dag_id": "daily", "order_by": "-id"})
    assert descending.status_code == 200
    one = dags.client("viewer").get(f"/api/v2/backfills/{backfill_id}")
    assert one.status_code == 200 and one.json()["id"] == backfill_id
    missing = client.get("/api/v2/backfills/999999")
    assert missing.status_code == 404
    assert client.get("/api/v2/backfills/99999999999999").status_code == 422
    assert client.get("/api/v2/backfills/-1").status_code == 422
    paused = client.put(f"/api/v2/backfills/{backfill_id}/pause")
    assert paused.status_code == 200 and paused.json()["is_paused"] is True
    unpaused = client.put(f"/api/v2/backfills/{backfill_id}/unpause")
    assert unpaused.json()["is_paused"] is False
    cancelled = client.put(f"/api/v2/backfills/{backfill_id}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["completed_at"] is not None and cancelled.json()["is_paused"] is True
    assert [state for _, state, _ in backfill_runs(dags)] == ["failed"] * 3
    for action in ("pause", "unpause", "cancel"):
        done = client.put(f"/api/v2/backfills/{backfill_id}/{action}")
        assert done.status_code == 409
        assert done.json()["detail"] == "Backfill is already completed."
    assert client.put("/api/v2/backfills/999999/pause").status_code == 404
    # A new backfill may start once the last one is complete.
    assert create(dags, reprocess_behavior="failed").status_code == 200
    from tradewind.db.models import Log

    with Session(dags.engine) as session:
        events = list(session.scalars(select(Log.event).order_by(Log.id)))
    assert events == [
        "create_backfill",
        "pause_backfill",
        "unpause_backfill",
        "cancel_backfill",
        "create_backfill",
    ]


def test_who_may_do_what(dags: ApiTestEnv) -> None:
    assert create(dags, "viewer").status_code == 403
    assert create(dags, "public").status_code == 403
    dry = dags.client("viewer").post("/api/v2/backfills/dry_run", json=THREE_DAYS)
    assert dry.status_code == 403
    assert dags.anonymous().get("/api/v2/backfills", params={"dag_id": "daily"}).status_code == 401
    backfill_id = create(dags, "op").json()["id"]
    viewer = dags.client("viewer")
    assert viewer.put(f"/api/v2/backfills/{backfill_id}/pause").status_code == 403
    assert viewer.put("/api/v2/backfills/999999/cancel").status_code == 403
    public = dags.client("public")
    assert public.get(f"/api/v2/backfills/{backfill_id}").status_code == 403
    assert public.get("/api/v2/backfills", params={"dag_id": "daily"}).status_code == 403
    assert dags.client("admin").put(f"/api/v2/backfills/{backfill_id}/cancel").status_code == 200
