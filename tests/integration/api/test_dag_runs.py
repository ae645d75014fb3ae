"""``/api/v2`` DAG runs through a real server: triggering (with conf checked against the
DAG's params), listing with Airflow's filters, ordering and pages, listing with a body,
getting one, and who may do what."""

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

with DAG("etl", schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False,
         params={"n": Param(1, type="integer", minimum=1, maximum=10)}):
    @task
    def extract() -> int:
        return 1

    @task
    def load(x: int) -> None:
        pass

    load(extract())

with DAG("other", schedule=None, dag_display_name="Other DAG", is_paused_upon_creation=True):
    @task
    def only() -> None:
        pass

    only()

with DAG("team_dag", schedule=None, access_control={"team": {"can_read"}}):
    @task
    def shared() -> None:
        pass

    shared()
"""

#: Every field of Airflow 3's DAGRunResponse.
RUN_FIELDS = {
    "dag_run_id", "dag_id", "logical_date", "queued_at", "start_date", "end_date", "duration",
    "data_interval_start", "data_interval_end", "run_after", "last_scheduling_decision",
    "run_type", "state", "triggered_by", "triggering_user_name", "conf", "note",
    "dag_versions", "bundle_version", "dag_display_name",
}  # fmt: skip
T0 = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture
def dags(api: ApiTestEnv) -> ApiTestEnv:
    api.add_dag_file("dags.py", DAGS)
    return api


def trigger(api: ApiTestEnv, dag_id: str, user: str = "admin", **body: Any) -> Any:
    body.setdefault("logical_date", None)
    return api.client(user).post(f"/api/v2/dags/{dag_id}/dagRuns", json=body)


def set_run(api: ApiTestEnv, dag_id: str, run_id: str, **values: Any) -> None:
    from tradewind.db.models import DagRun

    with Session(api.engine) as session, session.begin():
        session.execute(
            update(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id).values(**values)
        )


def count(api: ApiTestEnv, model: Any, **where: Any) -> int:
    with Session(api.engine) as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(session.scalar(query) or 0)


def run_ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["dag_run_id"] for r in response.json()["dag_runs"]]


# -- trigger -------------------------------------------------------------------------------


def test_a_trigger_creates_a_queued_run_with_airflow_fields(dags: ApiTestEnv) -> None:
    from tradewind.db.models import Log, TaskInstance

    logical = "2024-03-01T10:00:00+00:00"
    response = trigger(dags, "other", "user", logical_date=logical, conf={"a": [1]}, note="hi")
    assert response.status_code == 200, response.text
    run = response.json()
    assert set(run) == RUN_FIELDS
    assert run["dag_run_id"] == f"manual__{logical}"
    assert run["state"] == "queued" and run["run_type"] == "manual"
    assert run["triggered_by"] == "rest_api" and run["triggering_user_name"] == "user"
    assert run["conf"] == {"a": [1]} and run["note"] == "hi"
    assert run["logical_date"] == run["data_interval_start"] == run["data_interval_end"]
    assert run["logical_date"] == "2024-03-01T10:00:00Z" == run["run_after"]
    assert run["queued_at"] is not None and run["start_date"] is None and run["duration"] is None
    assert run["dag_display_name"] == "Other DAG"
    assert [v["version_number"] for v in run["dag_versions"]] == [1]
    assert run["dag_versions"][0]["dag_id"] == "other"
    # The run has its task instances, and the trigger is in the audit log with its author.
    assert count(dags, TaskInstance, run_id=run["dag_run_id"]) == 1
    with Session(dags.engine) as session:
        log = session.scalars(select(Log).where(Log.event == "trigger_dag_run")).one()
    assert (log.owner, log.dag_id, log.run_id) == ("user", "other", run["dag_run_id"])
    # A paused DAG accepts runs (they start when it is unpaused), as Airflow does.
    fetched = dags.client("viewer").get(f"/api/v2/dags/other/dagRuns/{run['dag_run_id']}")
    assert fetched.json() == run
    by_user = dags.client("viewer").get(
        "/api/v2/dags/~/dagRuns", params={"triggering_user_name_pattern": "us%"}
    )
    assert [r["dag_run_id"] for r in by_user.json()["dag_runs"]] == [run["dag_run_id"]]


def test_a_trigger_without_logical_date_has_no_interval_and_a_unique_run_id(
    dags: ApiTestEnv,
) -> None:
    first, second = trigger(dags, "etl").json(), trigger(dags, "etl").json()
    assert first["logical_date"] is None and first["data_interval_start"] is None
    assert (
        first["dag_run_id"].startswith("manual__") and first["dag_run_id"] != second["dag_run_id"]
    )
    # With a logical date and the schedule's interval inferred, the run may start at its end.
    dated = trigger(dags, "etl", logical_date="2024-03-05T12:00:00Z").json()
    assert dated["data_interval_end"] == dated["run_after"]
    given = trigger(
        dags,
        "etl",
        dag_run_id="mine",
        logical_date="2024-04-01T00:00:00Z",
        data_interval_start="2024-03-01T00:00:00Z",
        data_interval_end="2024-04-01T00:00:00Z",
        run_after="2024-04-02T00:00:00",
    ).json()
    assert given["dag_run_id"] == "mine"
    assert given["data_interval_start"] == "2024-03-01T00:00:00Z"
    assert given["run_after"] == "2024-04-02T00:00:00Z"  # a naive run_after is UTC


def test_conf_is_checked_against_the_dag_params(dags: ApiTestEnv) -> None:
    from tradewind.db.models import DagRun

    for conf in ({"n": 100}, {"n": "three"}):
        response = trigger(dags, "etl", conf=conf)
        assert response.status_code == 400, response.text
        assert "n" in response.json()["detail"]
    assert count(dags, DagRun) == 0
    assert trigger(dags, "etl", conf={"n": 5}).json()["conf"] == {"n": 5}


def test_an_existing_run_id_or_logical_date_is_a_conflict(dags: ApiTestEnv) -> None:
    from tradewind.db.models import DagRun

    assert trigger(dags, "other", dag_run_id="r1", logical_date="2024-01-01T00:00:00Z").is_success
    again = trigger(dags, "other", dag_run_id="r1")
    assert again.status_code == 409 and "r1" in again.json()["detail"]
    same_date = trigger(dags, "other", dag_run_id="r2", logical_date="2024-01-01T00:00:00Z")
    assert same_date.status_code == 409 and "logical date" in same_date.json()["detail"]
    assert count(dags, DagRun) == 1


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({}, ["body", "logical_date"]),
        ({"logical_date": None, "executiondate": "x"}, ["body", "executiondate"]),
        ({"logical_date": "2024-01-01T00:00:00"}, ["body", "logical_date"]),
        ({"logical_date": None, "conf": 20}, ["body", "conf"]),
        ({"logical_date": None, "dag_run_id": 20}, ["body", "dag_run_id"]),
        ({"logical_date": None, "note": "a\u0000b"}, ["body", "note"]),
        ({"logical_date": None, "data_interval_start": "2024-01-01T00:00:00Z"}, ["body"]),
    ],
)
def test_malformed_trigger_bodies_get_422(dags: ApiTestEnv, body: Any, where: list[str]) -> None:
    response = dags.client().post("/api/v2/dags/etl/dagRuns", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][: len(where)] == where


def test_bad_run_ids_json_and_unknown_dags(dags: ApiTestEnv) -> None:
    from tradewind.db.models import DagRun

    client = dags.client()
    for run_id in ("../x", "a/b", "..", "x" * 300, "a b"):
        response = trigger(dags, "etl", dag_run_id=run_id)
        assert response.status_code in (400, 422), (run_id, response.text)
    bad_json = client.post(
        "/api/v2/dags/etl/dagRuns", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 422
    missing = trigger(dags, "missing")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "DAG with dag_id: 'missing' not found"
    assert trigger(dags, "bad%00dag").status_code == 404
    assert count(dags, DagRun) == 0


def test_who_may_trigger(dags: ApiTestEnv) -> None:
    dags.add_user("trigger-teamer", ["team"])
    assert trigger(dags, "etl", "viewer").status_code == 403
    assert trigger(dags, "etl", "public").status_code == 403
    assert dags.anonymous().post("/api/v2/dags/etl/dagRuns", json={}).status_code == 401
    for user in ("user", "op", "admin"):
        assert trigger(dags, "etl", user).status_code == 200
    # A role that may only read team_dag cannot trigger it; access is checked before existence.
    assert trigger(dags, "team_dag", "trigger-teamer").status_code == 403
    assert trigger(dags, "missing", "viewer").status_code == 403


def test_a_triggered_run_runs_to_success_in_a_real_scheduler_pass(dags: ApiTestEnv) -> None:
    from dbdriver import SyncExecutor
    from tradewind.db.queries import dagruns
    from tradewind.scheduler.loop import Scheduler

    run_id = trigger(dags, "etl", "user", conf={"n": 2}).json()["dag_run_id"]
    scheduler = Scheduler(dags.engine, SyncExecutor(dags.engine))  # type: ignore[arg-type]
    scheduler.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        state = None
        while datetime.now(UTC) < deadline and state not in ("success", "failed"):
            scheduler.run_once()
            with Session(dags.engine) as session:
                run = dagruns.get_run(session, "etl", run_id)
                state = run.state if run else None
    finally:
        scheduler._close_connection()
    assert state == "success"
    body = dags.client("viewer").get(f"/api/v2/dags/etl/dagRuns/{run_id}").json()
    assert body["state"] == "success" and body["duration"] is not None


# -- list and get -----------------------------------------------------------------------------


@pytest.fixture
def runs(dags: ApiTestEnv) -> ApiTestEnv:
    """etl: a (success, 10 s), b (failed, 300 s), c (running); other: d (queued)."""
    for i, name in enumerate("abc"):
        assert trigger(
            dags,
            "etl",
            dag_run_id=name,
            logical_date=(T0 + timedelta(days=i)).isoformat(),
            conf={"n": i + 1, "tag": f"t-{name}"},
        ).is_success
    trigger(dags, "other", dag_run_id="d", logical_date=T0.isoformat())
    set_run(dags, "etl", "a", state="success", start_date=T0, end_date=T0 + timedelta(seconds=10))
    set_run(dags, "etl", "b", state="failed", start_date=T0, end_date=T0 + timedelta(seconds=300))
    set_run(dags, "etl", "c", state="running", start_date=T0 + timedelta(days=5))
    return dags


def test_lists_one_dag_or_every_readable_dag(runs: ApiTestEnv) -> None:
    client = runs.client("viewer")
    body = client.get("/api/v2/dags/etl/dagRuns").json()
    assert body["total_entries"] == 3 and run_ids_of(body) == ["a", "b", "c"]
    assert all(set(r) == RUN_FIELDS for r in body["dag_runs"])
    assert body["dag_runs"][0]["duration"] == 10.0
    assert sorted(run_ids(client.get("/api/v2/dags/~/dagRuns"))) == ["a", "b", "c", "d"]
    missing = client.get("/api/v2/dags/missing/dagRuns")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "The DAG with dag_id: `missing` was not found"
    one = client.get("/api/v2/dags/etl/dagRuns/b").json()
    assert (one["state"], one["duration"], one["conf"]) == ("failed", 300.0, {"n": 2, "tag": "t-b"})
    gone = client.get("/api/v2/dags/etl/dagRuns/nope")
    assert gone.status_code == 404
    assert gone.json()["detail"] == "The DagRun with dag_id: `etl` and run_id: `nope` was not found"


def run_ids_of(body: dict[str, Any]) -> list[str]:
    return [r["dag_run_id"] for r in body["dag_runs"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"state": "success"}, ["a"]),
        ({"state": ["success", "failed"]}, ["a", "b"]),
        ({"run_type": "manual"}, ["a", "b", "c"]),
        ({"run_type": "scheduled"}, []),
        ({"logical_date_gte": "2024-03-02T00:00:00Z"}, ["b", "c"]),
        ({"logical_date_gt": "2024-03-02T00:00:00Z"}, ["c"]),
        ({"logical_date_lt": "2024-03-02T00:00:00"}, ["a"]),  # naive is UTC
        ({"start_date_gte": "2024-03-03T00:00:00Z"}, ["c"]),
        ({"end_date_lte": "2024-03-02T00:00:00Z"}, ["a", "b"]),  # c has not ended: "now"
        ({"duration_gte": 100}, ["b"]),
        ({"duration_lt": 100}, ["a"]),
        ({"run_id_pattern": "b"}, ["b"]),
        ({"run_id_pattern": "~"}, ["a", "b", "c"]),
        ({"run_id_pattern": "_"}, ["a", "b", "c"]),
        ({"conf_contains": "t-c"}, ["c"]),
        ({"conf_contains": "%"}, []),
        ({"dag_version": 1}, ["a", "b", "c"]),
        ({"dag_version": 7}, []),
        ({"triggering_user_name_pattern": "admin"}, ["a", "b", "c"]),
        ({"triggering_user_name_pattern": "nobody"}, []),
        ({"order_by": "-id"}, ["c", "b", "a"]),
        ({"order_by": "-dag_run_id"}, ["c", "b", "a"]),
        ({"order_by": "state"}, ["b", "c", "a"]),
        ({"order_by": "-duration"}, ["b", "a", "c"]),
        ({"order_by": "end_date"}, ["a", "b", "c"]),
        ({"order_by": "conf"}, ["a", "b", "c"]),
        ({"order_by": ["state", "-id"]}, ["b", "c", "a"]),
        ({"limit": 1, "offset": 1}, ["b"]),
        ({"offset": 2**63 - 1}, []),
    ],
)
def test_filters_order_and_pages_as_airflow(
    runs: ApiTestEnv, params: dict[str, Any], expected: list[str]
) -> None:
    response = runs.client("viewer").get("/api/v2/dags/etl/dagRuns", params=params)
    assert run_ids(response) == expected
    if "limit" in params or "offset" in params:
        assert response.json()["total_entries"] == 3


@pytest.mark.parametrize(
    "params",
    [
        {"run_id_pattern": "'; DROP TABLE dag_run; --"},
        {"run_id_pattern": "\\"},
        {"run_id_pattern": "../../etc/passwd"},
        {"dag_id_pattern": "%'"},
        {"conf_contains": "\\%_'"},
    ],
)
def test_tricky_filter_values_find_nothing(runs: ApiTestEnv, params: dict[str, Any]) -> None:
    assert run_ids(runs.client("viewer").get("/api/v2/dags/~/dagRuns", params=params)) == []


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"order_by": "nope"}, 400),
        ({"order_by": ["id"] * 11}, 400),
        ({"state": "bogus"}, 422),
        ({"run_type": "bogus"}, 422),
        ({"logical_date_gte": "invalid"}, 422),
        ({"limit": -1}, 422),
        ({"offset": 10**30}, 422),
        ({"dag_version": "x"}, 422),
        ({"dag_version": 2**40}, 422),
        ({"duration_gte": "nan"}, 422),
        ({"run_id_pattern": "a\u0000"}, 422),
    ],
)
def test_bad_list_parameters(runs: ApiTestEnv, params: dict[str, Any], status: int) -> None:
    response = runs.client("viewer").get("/api/v2/dags/etl/dagRuns", params=params)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_list_with_a_body(runs: ApiTestEnv) -> None:
    client = runs.client("viewer")
    every = client.post("/api/v2/dags/~/dagRuns/list", json={})
    assert sorted(run_ids(every)) == ["a", "b", "c", "d"]
    assert every.json()["total_entries"] == 4
    picked = client.post(
        "/api/v2/dags/~/dagRuns/list",
        json={"dag_ids": ["etl"], "states": ["failed", "running"], "order_by": "-id"},
    )
    assert run_ids(picked) == ["c", "b"]
    dated = client.post(
        "/api/v2/dags/~/dagRuns/list",
        json={"logical_date_gte": "2024-03-02T00:00:00Z", "page_limit": 1, "page_offset": 1},
    )
    assert run_ids(dated) == ["c"] and dated.json()["total_entries"] == 2
    assert run_ids(client.post("/api/v2/dags/~/dagRuns/list", json={"dag_ids": ["x"]})) == []
    for body, status in [
        ({"states": ["bogus"]}, 422),
        ({"dag_ids": "etl"}, 422),
        ({"page_limit": -1}, 422),
        ({"whatever": 1}, 422),
        ({"order_by": "nope"}, 400),
        ({"logical_date_gte": "2024-01-01"}, 422),  # no time zone
    ]:
        assert client.post("/api/v2/dags/~/dagRuns/list", json=body).status_code == status, body
    assert client.post("/api/v2/dags/etl/dagRuns/list", json={}).status_code == 422


def test_who_may_read(runs: ApiTestEnv) -> None:
    runs.add_user("teamer", ["team"])
    trigger(runs, "team_dag", dag_run_id="t1")
    for user in ("viewer", "user", "op", "admin"):
        assert runs.client(user).get("/api/v2/dags/etl/dagRuns").status_code == 200
        assert runs.client(user).get("/api/v2/dags/etl/dagRuns/a").status_code == 200
    assert runs.client("public").get("/api/v2/dags/etl/dagRuns").status_code == 403
    assert runs.client("public").get("/api/v2/dags/etl/dagRuns/nope").status_code == 403
    assert runs.anonymous().get("/api/v2/dags/etl/dagRuns").status_code == 401
    # A custom role reads only the DAGs whose access_control grants it, in every listing.
    team = runs.client("teamer")
    assert run_ids(team.get("/api/v2/dags/~/dagRuns")) == ["t1"]
    assert run_ids(team.post("/api/v2/dags/~/dagRuns/list", json={})) == ["t1"]
    assert team.get("/api/v2/dags/team_dag/dagRuns/t1").status_code == 200
    assert team.get("/api/v2/dags/etl/dagRuns").status_code == 403
    assert team.get("/api/v2/dags/etl/dagRuns/a").status_code == 403
    assert runs.client("public").get("/api/v2/dags/~/dagRuns").status_code == 403
    assert runs.client("public").post("/api/v2/dags/~/dagRuns/list", json={}).status_code == 403
