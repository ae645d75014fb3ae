"""``/api/v2/dags`` through a real server: listing with Airflow's filters, get, details,
pause and unpause (one and many), delete with every trace, and who may do what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from api_server import ApiTestEnv

DAGS = """
from datetime import datetime, timedelta
from tradewind.sdk import DAG, task

with DAG(
    "etl_a",
    dag_display_name="ETL A",
    description="loads a",
    doc_md='''
        # ETL A
        Loads things.
    ''',
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["etl", "team-a"],
    default_args={"owner": "alice"},
    params={"n": 3},
    dagrun_timeout=timedelta(hours=1),
    max_active_runs=2,
):
    @task
    def one() -> int:
        return 1

    one()

with DAG("etl_b", schedule=None, tags=["etl"], default_args={"owner": "bob"}):
    @task
    def two() -> int:
        return 2

    two()

with DAG("report", schedule=None, tags=["reports"], default_args={"owner": "alice"},
         is_paused_upon_creation=True):
    @task
    def three() -> int:
        return 3

    three()
"""

#: Every field of Airflow 3's DAGResponse.
DAG_FIELDS = {
    "dag_id", "dag_display_name", "is_paused", "is_stale", "last_parsed_time",
    "last_parse_duration", "last_expired", "bundle_name", "bundle_version", "relative_fileloc",
    "fileloc", "description", "timetable_summary", "timetable_description", "tags",
    "max_active_tasks", "max_active_runs", "max_consecutive_failed_dag_runs",
    "has_task_concurrency_limits", "has_import_errors", "next_dagrun_logical_date",
    "next_dagrun_data_interval_start", "next_dagrun_data_interval_end", "next_dagrun_run_after",
    "owners", "file_token",
}  # fmt: skip


@pytest.fixture
def dags(api: ApiTestEnv) -> ApiTestEnv:
    api.add_dag_file("dags.py", DAGS)
    return api


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [d["dag_id"] for d in response.json()["dags"]]


def add_run(
    api: ApiTestEnv,
    dag_id: str,
    run_id: str,
    state: str,
    *,
    started: datetime | None,
    ti_state: str | None = None,
) -> None:
    """A run of ``dag_id`` (with its task instances) in ``state``."""
    from tradewind.db.models import DagRun, TaskInstance
    from tradewind.db.queries.dagruns import create_dag_run
    from tradewind.db.queries.dags import load_serialized_dag

    now = datetime.now(UTC)
    with Session(api.engine) as session, session.begin():
        dag = load_serialized_dag(session, dag_id)
        run = create_dag_run(session, dag, run_id=run_id, run_type="manual", run_after=now)
        run.state = state
        run.start_date = started
        if ti_state is not None:
            session.execute(
                update(TaskInstance)
                .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
                .values(state=ti_state)
            )
        assert session.get(DagRun, run.id) is not None


def test_the_list_has_airflow_fields_and_the_schema_agrees(dags: ApiTestEnv) -> None:
    from tradewind.api.schemas.dags import DAGCollectionResponse

    response = dags.client("viewer").get("/api/v2/dags")
    body = response.json()
    assert response.status_code == 200
    assert body["total_entries"] == 3
    DAGCollectionResponse.model_validate(body)  # the fast path's body fits the documented one
    by_id = {d["dag_id"]: d for d in body["dags"]}
    assert list(by_id) == ["etl_a", "etl_b", "report"]
    etl_a = by_id["etl_a"]
    assert set(etl_a) == DAG_FIELDS
    assert etl_a["dag_display_name"] == "ETL A"
    assert etl_a["tags"] == [
        {"name": "etl", "dag_id": "etl_a"},
        {"name": "team-a", "dag_id": "etl_a"},
    ]
    assert etl_a["owners"] == ["alice"]
    assert etl_a["timetable_summary"] == "0 0 * * *"
    assert etl_a["max_active_runs"] == 2
    assert etl_a["bundle_name"] == "dags-folder"
    assert etl_a["relative_fileloc"] == "dags.py"
    assert etl_a["fileloc"].endswith("dags.py")
    assert etl_a["has_import_errors"] is False
    assert etl_a["is_paused"] is False and etl_a["is_stale"] is False
    assert by_id["etl_b"]["timetable_summary"] is None
    assert by_id["etl_b"]["dag_display_name"] == "etl_b"
    assert by_id["report"]["is_paused"] is True
    assert datetime.fromisoformat(etl_a["last_parsed_time"]).tzinfo is not None


def test_filters_select_as_airflow_does(dags: ApiTestEnv) -> None:
    client = dags.client("viewer")

    def get(**params: Any) -> list[str]:
        return ids(client.get("/api/v2/dags", params=params))

    assert get(tags=["etl"]) == ["etl_a", "etl_b"]
    assert get(tags=["team-a", "reports"]) == ["etl_a", "report"]
    assert get(tags=["etl", "team-a"], tags_match_mode="all") == ["etl_a"]
    assert get(owners=["bob"]) == ["etl_b"]
    assert get(owners=["ALI"]) == ["etl_a", "report"]
    assert get(dag_id_pattern="etl") == ["etl_a", "etl_b"]
    assert get(dag_id_pattern="etl_%") == ["etl_a", "etl_b"]
    assert get(dag_id_pattern="e_l") == ["etl_a", "etl_b"]
    assert get(dag_id_pattern="~") == ["etl_a", "etl_b", "report"]
    assert get(dag_id_pattern="etl | rep") == ["etl_a", "etl_b", "report"]
    assert get(dag_display_name_pattern="etl a") == ["etl_a"]
    assert get(paused=True) == ["report"]
    assert get(paused=False) == ["etl_a", "etl_b"]
    assert get(bundle_name="dags-folder") == ["etl_a", "etl_b", "report"]
    assert get(bundle_name="other") == []
    assert get(is_favorite=True) == []


def test_pages_orders_and_counts(dags: ApiTestEnv) -> None:
    client = dags.client("viewer")
    page = client.get("/api/v2/dags", params={"limit": 1, "offset": 1}).json()
    assert [d["dag_id"] for d in page["dags"]] == ["etl_b"]
    assert page["total_entries"] == 3
    beyond = client.get("/api/v2/dags", params={"offset": 10}).json()
    assert beyond == {"dags": [], "total_entries": 3}
    far = client.get("/api/v2/dags", params={"offset": 2**40}).json()
    assert far == {"dags": [], "total_entries": 3}
    assert ids(client.get("/api/v2/dags", params={"order_by": "-dag_id"})) == [
        "report",
        "etl_b",
        "etl_a",
    ]
    by_name = client.get("/api/v2/dags", params={"order_by": ["dag_display_name"]})
    assert ids(by_name) == ["etl_a", "etl_b", "report"]  # "ETL A" < "etl_b" < "report"
    bad = client.get("/api/v2/dags", params={"order_by": "fileloc"})
    assert bad.status_code == 400
    assert "fileloc" in bad.json()["detail"]


def test_stale_dags_and_import_errors(dags: ApiTestEnv) -> None:
    from tradewind.db.models import DagModel, ImportError_

    with Session(dags.engine) as session, session.begin():
        session.execute(update(DagModel).where(DagModel.dag_id == "etl_b").values(is_stale=True))
        fileloc = session.get(DagModel, "etl_a").fileloc  # type: ignore[union-attr]
        session.add(ImportError_(filename=fileloc, timestamp=datetime.now(UTC), stacktrace="Boom"))
    client = dags.client("viewer")
    assert ids(client.get("/api/v2/dags")) == ["etl_a", "report"]
    every = client.get("/api/v2/dags", params={"exclude_stale": False}).json()["dags"]
    assert [(d["dag_id"], d["is_stale"]) for d in every] == [
        ("etl_a", False),
        ("etl_b", True),
        ("report", False),
    ]
    assert all(d["has_import_errors"] for d in every)  # one file defines all three
    assert ids(client.get("/api/v2/dags", params={"has_import_errors": False})) == []
    assert client.get("/api/v2/dags/etl_b").json()["is_stale"] is True


def test_filters_and_orderings_by_the_latest_run(dags: ApiTestEnv) -> None:
    client = dags.client("viewer")
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    add_run(dags, "etl_a", "r1", "failed", started=t0)
    add_run(dags, "etl_a", "r2", "success", started=t0 + timedelta(hours=1))
    add_run(dags, "etl_b", "r1", "failed", started=t0 + timedelta(hours=2))
    add_run(dags, "report", "r1", "queued", started=None)  # not started: not the latest run

    def get(**params: Any) -> list[str]:
        return ids(client.get("/api/v2/dags", params=params))

    assert get(last_dag_run_state="success") == ["etl_a"]
    assert get(last_dag_run_state="failed") == ["etl_b"]
    assert get(dag_run_state=["failed", "none"]) == ["etl_b", "report"]
    assert get(dag_run_start_date_gte="2024-05-01T01:30:00Z") == ["etl_b"]
    assert get(dag_run_start_date_lt="2024-05-01T01:30:00") == ["etl_a"]  # naive is UTC
    assert get(order_by="-last_run_start_date") == ["etl_b", "etl_a", "report"]
    assert get(order_by="last_run_state") == ["etl_b", "etl_a", "report"]  # nulls last


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"tags_match_mode": "some"}, 422),
        ({"last_dag_run_state": "bogus"}, 422),
        ({"dag_run_state": "bogus"}, 422),
        ({"limit": -1}, 422),
        ({"offset": "x"}, 422),
        ({"paused": "maybe"}, 422),
        ({"dag_run_start_date_gte": "yesterday"}, 422),
        ({"order_by": "-nope"}, 400),
    ],
)
def test_bad_parameters_get_4xx(dags: ApiTestEnv, params: dict[str, Any], status: int) -> None:
    response = dags.client("viewer").get("/api/v2/dags", params=params)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "value", ["%", "'", "' OR 1=1 --", "../", "\\", "a\\", "_", "\x00", "%00", "é", "|"]
)
def test_tricky_filter_values_never_fail(dags: ApiTestEnv, value: str) -> None:
    client = dags.client("viewer")
    for name in ("dag_id_pattern", "dag_display_name_pattern", "tags", "owners"):
        response = client.get("/api/v2/dags", params={name: value})
        assert response.status_code == 200, (name, value, response.text)
    assert client.get("/api/v2/dags", params={"dag_id_pattern": "'"}).json()["dags"] == []
    for path in (f"/api/v2/dags/{value}", f"/api/v2/dags/{value}/details"):
        response = client.get(path.replace("\x00", "%00"))
        assert response.status_code in (404, 405), (path, response.text)


def test_get_one_dag_and_unknown_ones(dags: ApiTestEnv) -> None:
    client = dags.client("viewer")
    body = client.get("/api/v2/dags/etl_a").json()
    assert set(body) == DAG_FIELDS and body["dag_id"] == "etl_a"
    missing = client.get("/api/v2/dags/nope")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "The Dag with ID: `nope` was not found"


def test_details_come_from_the_serialized_dag(dags: ApiTestEnv) -> None:
    from tradewind.api.schemas.dags import DAGDetailsResponse

    add_run(dags, "etl_a", "r1", "running", started=datetime.now(UTC))
    response = dags.client("viewer").get("/api/v2/dags/etl_a/details")
    assert response.status_code == 200
    body = response.json()
    DAGDetailsResponse.model_validate(body)
    assert set(body) > DAG_FIELDS
    assert body["catchup"] is False
    assert body["dag_run_timeout"] == "PT1H"
    assert body["doc_md"] == "# ETL A\nLoads things."
    assert body["start_date"].startswith("2024-01-01T00:00:00")
    assert body["params"]["n"]["value"] == 3
    assert body["timezone"] == "UTC"
    assert body["concurrency"] == body["max_active_tasks"]
    assert body["active_runs_count"] == 1
    assert body["is_favorite"] is False
    version = body["latest_dag_version"]
    assert (version["version_number"], version["dag_id"]) == (1, "etl_a")
    assert version["dag_display_name"] == "ETL A"
    assert dags.client("viewer").get("/api/v2/dags/nope/details").status_code == 404


def test_pausing_one_dag(dags: ApiTestEnv) -> None:
    from tradewind.db.models import DagModel, Log

    client = dags.client("user")
    response = client.patch("/api/v2/dags/etl_a", json={"is_paused": True})
    assert response.status_code == 200
    assert response.json()["is_paused"] is True and set(response.json()) == DAG_FIELDS
    masked = client.patch(
        "/api/v2/dags/etl_a", params={"update_mask": "is_paused"}, json={"is_paused": False}
    )
    assert masked.json()["is_paused"] is False
    with Session(dags.engine) as session:
        assert session.get(DagModel, "etl_a").is_paused is False  # type: ignore[union-attr]
        events = session.execute(
            select(Log.event, Log.owner).where(Log.dag_id == "etl_a").order_by(Log.id)
        ).all()
    assert [tuple(e) for e in events] == [("patch_dag", "user"), ("patch_dag", "user")]


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {"is_paused": True, "owner": "x"}}, 422),
        ({"json": {"is_paused": "sometimes"}}, 422),
        ({"json": {}}, 422),
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 422),
        ({"json": {"is_paused": True}, "params": {"update_mask": "description"}}, 400),
    ],
)
def test_bad_patches_change_nothing(dags: ApiTestEnv, kwargs: dict[str, Any], status: int) -> None:
    client = dags.client("admin")
    response = client.patch("/api/v2/dags/etl_a", **kwargs)
    assert response.status_code == status, response.text
    assert client.get("/api/v2/dags/etl_a").json()["is_paused"] is False


def test_patching_an_unknown_dag_is_404(dags: ApiTestEnv) -> None:
    response = dags.client("admin").patch("/api/v2/dags/nope", json={"is_paused": True})
    assert response.status_code == 404
    assert response.json()["detail"] == "Dag with id: nope was not found"


def test_pausing_many_dags(dags: ApiTestEnv) -> None:
    from tradewind.db.models import Log

    client = dags.client("user")
    response = client.patch(
        "/api/v2/dags", params={"dag_id_pattern": "etl", "limit": 1}, json={"is_paused": True}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["total_entries"] == 2
    assert [(d["dag_id"], d["is_paused"]) for d in body["dags"]] == [("etl_a", True)]
    assert ids(client.get("/api/v2/dags", params={"paused": True})) == [
        "etl_a",
        "etl_b",
        "report",
    ]
    none = client.patch("/api/v2/dags", json={"is_paused": False})
    assert none.json() == {"dags": [], "total_entries": 0}
    every = client.patch(
        "/api/v2/dags", params={"dag_id_pattern": "~", "tags": "etl"}, json={"is_paused": False}
    )
    assert every.json()["total_entries"] == 2
    assert ids(client.get("/api/v2/dags", params={"paused": True})) == ["report"]
    with Session(dags.engine) as session:
        audits = session.scalar(
            select(func.count()).select_from(Log).where(Log.event == "patch_dags")
        )
    assert audits == 4


def test_roles_decide_who_reads_and_who_pauses(dags: ApiTestEnv) -> None:
    assert dags.anonymous().get("/api/v2/dags").status_code == 401
    assert dags.anonymous().patch("/api/v2/dags/etl_a", json={"is_paused": True}).status_code == 401
    public = dags.client("public")
    for method, path in [
        ("GET", "/api/v2/dags"),
        ("GET", "/api/v2/dags/etl_a"),
        ("GET", "/api/v2/dags/etl_a/details"),
        ("GET", "/api/v1/dags"),
    ]:
        assert public.request(method, path).status_code == 403, path
    for role in ("viewer", "user", "op", "admin"):
        assert ids(dags.client(role).get("/api/v2/dags")) == ["etl_a", "etl_b", "report"]
    viewer = dags.client("viewer")
    assert viewer.patch("/api/v2/dags/etl_a", json={"is_paused": True}).status_code == 403
    every = {"dag_id_pattern": "~"}
    assert viewer.patch("/api/v2/dags", params=every, json={"is_paused": True}).status_code == 403
    assert viewer.delete("/api/v2/dags/etl_a").status_code == 403
    # Access is checked before existence: no probing for DAG ids.
    assert viewer.patch("/api/v2/dags/nope", json={"is_paused": True}).status_code == 403
    for role in ("user", "op", "admin"):
        response = dags.client(role).patch("/api/v2/dags/etl_b", json={"is_paused": True})
        assert response.status_code == 200, role


CUSTOM_ROLE_DAG = """
from tradewind.sdk import DAG, task

with DAG("team_dag", schedule=None, access_control={"team": {"can_read"}}):
    @task
    def t() -> None:
        pass

    t()
"""


def test_a_custom_role_sees_only_the_dags_it_is_given(
    dags: ApiTestEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tradewind.api.auth.principal as principal

    monkeypatch.setattr(principal, "ACCESS_INDEX_SECONDS", 0.0)
    dags.add_dag_file("team.py", CUSTOM_ROLE_DAG)
    dags.add_user("member", ["team"])
    client = dags.client("member")
    listing = client.get("/api/v2/dags").json()
    assert listing["total_entries"] == 1 and ids_of(listing) == ["team_dag"]
    assert client.get("/api/v2/dags/team_dag").status_code == 200
    assert client.get("/api/v2/dags/etl_a").status_code == 403
    assert client.patch("/api/v2/dags/team_dag", json={"is_paused": True}).status_code == 403
    dags.add_user("nobody", ["no-such-team"])
    assert dags.client("nobody").get("/api/v2/dags").status_code == 403


def ids_of(body: dict[str, Any]) -> list[str]:
    return [d["dag_id"] for d in body["dags"]]


def test_deleting_a_dag_removes_every_trace(dags: ApiTestEnv) -> None:
    from tradewind import config
    from tradewind.db.models import (
        DagCode,
        DagModel,
        DagRun,
        DagTag,
        Log,
        SerializedDagModel,
        TaskInstance,
        XComRow,
    )

    add_run(dags, "etl_a", "r1", "success", started=datetime.now(UTC), ti_state="success")
    with Session(dags.engine) as session, session.begin():
        session.add(
            XComRow(
                dag_id="etl_a",
                run_id="r1",
                task_id="one",
                key="return_value",
                value=b"1",
                timestamp=datetime.now(UTC),
            )
        )
    log_file = config.home() / "logs" / "dag_id=etl_a" / "run_id=r1" / "task_id=one" / "a.log"
    log_file.parent.mkdir(parents=True)
    log_file.write_text("hello")
    other_log = config.home() / "logs" / "dag_id=etl_b" / "x.log"
    other_log.parent.mkdir(parents=True)
    other_log.write_text("kept")

    response = dags.client("user").delete("/api/v2/dags/etl_a")
    assert response.status_code == 204 and response.content == b""
    with Session(dags.engine) as session:
        for model in (DagModel, DagRun, TaskInstance, XComRow, SerializedDagModel, DagCode, DagTag):
            count = select(func.count()).select_from(model).where(model.dag_id == "etl_a")
            assert session.scalar(count) == 0, model.__name__
        events = session.execute(select(Log.event, Log.owner).where(Log.dag_id == "etl_a")).all()
    assert [tuple(e) for e in events] == [("delete_dag", "user")]
    assert not log_file.parent.parent.parent.exists()
    assert other_log.exists()
    assert dags.client("viewer").get("/api/v2/dags/etl_a").status_code == 404
    assert ids(dags.client("viewer").get("/api/v2/dags")) == ["etl_b", "report"]
    again = dags.client("user").delete("/api/v2/dags/etl_a")
    assert again.status_code == 404
    assert again.json()["detail"] == "Dag with id: etl_a was not found"


def test_a_dag_with_a_running_task_is_not_deleted(dags: ApiTestEnv) -> None:
    add_run(dags, "etl_b", "r1", "running", started=datetime.now(UTC), ti_state="running")
    response = dags.client("admin").delete("/api/v2/dags/etl_b")
    assert response.status_code == 409
    assert response.json()["detail"] == "Task instances of dag with id: 'etl_b' are still running"
    assert dags.client("admin").get("/api/v2/dags/etl_b").status_code == 200
