"""What the API tells about DAGs besides their rows, through a real server: source files,
run counts by state, versions, import errors and the event log (v2 and v1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from api_server import ApiTestEnv

SOURCE_V1 = """
from tradewind.sdk import DAG, task

with DAG("versioned", schedule=None, dag_display_name="Versioned"):
    @task
    def first() -> None:
        pass

    first()
"""

SOURCE_V2 = SOURCE_V1.replace("first", "second")


@pytest.fixture
def versioned(api: ApiTestEnv) -> ApiTestEnv:
    api.add_dag_file("versioned.py", SOURCE_V1)
    api.add_dag_file("versioned.py", SOURCE_V2)
    return api


def test_dag_source_as_json_or_text(versioned: ApiTestEnv) -> None:
    client = versioned.client("viewer")
    body = client.get("/api/v2/dagSources/versioned").json()
    assert body == {
        "content": SOURCE_V2,
        "dag_id": "versioned",
        "version_number": 2,
        "dag_display_name": "Versioned",
    }
    text = client.get("/api/v2/dagSources/versioned", headers={"Accept": "text/plain"})
    assert text.status_code == 200 and text.text == SOURCE_V2
    assert text.headers["content-type"].startswith("text/plain")
    older = client.get("/api/v2/dagSources/versioned", params={"version_number": 1}).json()
    assert (older["version_number"], older["content"]) == (1, None)  # only the latest is kept
    refused = client.get("/api/v2/dagSources/versioned", headers={"Accept": "image/png"})
    assert refused.status_code == 406
    for path in ("/api/v2/dagSources/nope", "/api/v2/dagSources/%00"):
        assert client.get(path).status_code == 404, path
    missing = client.get("/api/v2/dagSources/versioned", params={"version_number": 9})
    assert missing.status_code == 404
    assert missing.json()["detail"] == (
        "The source code of the DAG versioned, version_number 9 was not found"
    )
    not_a_number = client.get("/api/v2/dagSources/versioned", params={"version_number": "x"})
    assert not_a_number.status_code == 422
    assert versioned.client("public").get("/api/v2/dagSources/versioned").status_code == 403
    assert versioned.anonymous().get("/api/v2/dagSources/versioned").status_code == 401


def test_v1_source_by_file_token(versioned: ApiTestEnv) -> None:
    client = versioned.client("viewer")
    token = client.get("/api/v1/dags/versioned").json()["file_token"]
    assert token == client.get("/api/v2/dags/versioned").json()["file_token"]
    text = client.get(f"/api/v1/dagSources/{token}")
    assert text.status_code == 200 and text.text == SOURCE_V2
    as_json = client.get(f"/api/v1/dagSources/{token}", headers={"Accept": "application/json"})
    assert as_json.json() == {"content": SOURCE_V2}
    for bad in ("not-a-token", "..%2F..%2Fetc", "Zm9v"):  # the last one names DAG "foo"
        assert client.get(f"/api/v1/dagSources/{bad}").status_code == 404, bad
    assert versioned.client("public").get(f"/api/v1/dagSources/{token}").status_code == 403


def test_dag_versions(versioned: ApiTestEnv) -> None:
    from tradewind.api.schemas.dag_versions import DAGVersionCollectionResponse

    client = versioned.client("viewer")
    body = client.get("/api/v2/dags/versioned/dagVersions").json()
    DAGVersionCollectionResponse.model_validate(body)
    assert body["total_entries"] == 2
    assert [v["version_number"] for v in body["dag_versions"]] == [1, 2]
    first = body["dag_versions"][0]
    assert first["dag_display_name"] == "Versioned" and first["bundle_name"] == "dags-folder"
    newest_first = client.get(
        "/api/v2/dags/versioned/dagVersions", params={"order_by": "-version_number"}
    ).json()
    assert [v["version_number"] for v in newest_first["dag_versions"]] == [2, 1]
    only = client.get("/api/v2/dags/versioned/dagVersions", params={"version_number": 2}).json()
    assert only["total_entries"] == 1
    every = client.get("/api/v2/dags/~/dagVersions").json()
    assert every["total_entries"] == 2
    one = client.get("/api/v2/dags/versioned/dagVersions/2").json()
    assert one["version_number"] == 2 and one["id"] == newest_first["dag_versions"][0]["id"]
    missing = client.get("/api/v2/dags/versioned/dagVersions/7")
    assert missing.status_code == 404
    assert "version_number: `7`" in missing.json()["detail"]
    assert client.get("/api/v2/dags/nope/dagVersions").status_code == 404
    # Numbers beyond the database's integers are refused, not a database error.
    assert client.get("/api/v2/dags/versioned/dagVersions/99999999999").status_code == 422
    assert client.get("/api/v2/dags/%00/dagVersions/1").status_code == 404
    bad_order = client.get("/api/v2/dags/versioned/dagVersions", params={"order_by": "data"})
    assert bad_order.status_code == 400
    other = client.get("/api/v2/dags/versioned/dagVersions", params={"bundle_name": "other"})
    assert other.json()["total_entries"] == 0
    public = versioned.client("public")
    assert public.get("/api/v2/dags/versioned/dagVersions").status_code == 403
    assert public.get("/api/v2/dags/~/dagVersions").status_code == 403


def test_dag_stats_count_runs_by_state(versioned: ApiTestEnv) -> None:
    from tradewind.db.queries.dagruns import create_dag_run
    from tradewind.db.queries.dags import load_serialized_dag

    now = datetime.now(UTC)
    with Session(versioned.engine) as session, session.begin():
        dag = load_serialized_dag(session, "versioned")
        for n, state in enumerate(["success", "success", "failed", "running"]):
            run = create_dag_run(
                session, dag, run_id=f"r{n}", run_type="manual", run_after=now + timedelta(n)
            )
            run.state = state
    client = versioned.client("viewer")
    body = client.get("/api/v2/dagStats").json()
    assert body == {
        "dags": [
            {
                "dag_id": "versioned",
                "dag_display_name": "Versioned",
                "stats": [
                    {"state": "queued", "count": 0},
                    {"state": "running", "count": 1},
                    {"state": "success", "count": 2},
                    {"state": "failed", "count": 1},
                ],
            }
        ],
        "total_entries": 1,
    }
    assert client.get("/api/v2/dagStats", params={"dag_ids": ["versioned", "x"]}).json() == body
    for other in ("nope", "%", "\x00"):
        empty = client.get("/api/v2/dagStats", params={"dag_ids": other}).json()
        assert empty == {"dags": [], "total_entries": 0}
    assert versioned.client("public").get("/api/v2/dagStats").status_code == 403


def test_import_errors(api: ApiTestEnv) -> None:
    from tradewind.api.schemas.import_errors import ImportErrorCollectionResponse

    # (A file is parsed only if it mentions DAGs.)
    api.add_dag_file("broken.py", "# a DAG\nraise ValueError('this file is broken')\n")
    api.add_dag_file("also_broken.py", "# a DAG\nimport no_such_module_here\n")
    client = api.client("viewer")
    body = client.get("/api/v2/importErrors").json()
    ImportErrorCollectionResponse.model_validate(body)
    assert body["total_entries"] == 2
    first = body["import_errors"][0]
    assert set(first) == {"import_error_id", "timestamp", "filename", "bundle_name", "stack_trace"}
    by_name = client.get("/api/v2/importErrors", params={"order_by": "-filename"}).json()
    assert [e["filename"].rsplit("/", 1)[-1] for e in by_name["import_errors"]] == [
        "broken.py",
        "also_broken.py",
    ]
    matching = client.get("/api/v2/importErrors", params={"filename_pattern": "also"}).json()
    assert matching["total_entries"] == 1
    assert "no_such_module_here" in matching["import_errors"][0]["stack_trace"]
    one_id = matching["import_errors"][0]["import_error_id"]
    one = client.get(f"/api/v2/importErrors/{one_id}").json()
    assert one == matching["import_errors"][0]
    missing = client.get("/api/v2/importErrors/999999")
    assert missing.status_code == 404
    assert missing.json()["detail"] == (
        "The ImportError with import_error_id: `999999` was not found"
    )
    assert client.get("/api/v2/importErrors/abc").status_code == 422
    assert client.get("/api/v2/importErrors/99999999999").status_code == 422
    assert client.get("/api/v2/importErrors", params={"order_by": "nope"}).status_code == 400
    v1 = client.get("/api/v1/importErrors", params={"order_by": "-import_error_id"}).json()
    assert v1["total_entries"] == 2
    assert set(v1["import_errors"][0]) == {
        "import_error_id",
        "timestamp",
        "filename",
        "stack_trace",
    }
    assert client.get(f"/api/v1/importErrors/{one_id}").json()["import_error_id"] == one_id
    assert client.get("/api/v1/importErrors/999999").status_code == 404
    public = api.client("public")
    assert public.get("/api/v2/importErrors").status_code == 403
    assert public.get(f"/api/v1/importErrors/{one_id}").status_code == 403


def _log(api: ApiTestEnv, **kwargs: Any) -> None:
    from tradewind.db.models import Log

    with Session(api.engine) as session, session.begin():
        session.add(Log(dttm=kwargs.pop("dttm", datetime.now(UTC)), **kwargs))


def test_event_logs(versioned: ApiTestEnv) -> None:
    from tradewind.api.schemas.event_logs import EventLogCollectionResponse

    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    _log(versioned, dttm=t0, event="trigger", dag_id="versioned", run_id="r1", owner="ann")
    _log(versioned, dttm=t0 + timedelta(hours=1), event="cli_check", owner="bob", extra="{}")
    _log(
        versioned,
        dttm=t0 + timedelta(hours=2),
        event="clear",
        dag_id="versioned",
        run_id="r1",
        task_id="second",
        map_index=-1,
        try_number=2,
        owner="ann",
    )
    client = versioned.client("viewer")

    def events(version: str = "v2", **params: Any) -> list[str]:
        response = client.get(f"/api/{version}/eventLogs", params=params)
        assert response.status_code == 200, response.text
        return [e["event"] for e in response.json()["event_logs"]]

    body = client.get("/api/v2/eventLogs").json()
    EventLogCollectionResponse.model_validate(body)
    assert body["total_entries"] == 3
    clear = body["event_logs"][2]
    assert clear["when"].startswith("2024-03-01T02:00:00")
    assert clear["dag_display_name"] == "Versioned" and clear["try_number"] == 2
    assert events(dag_id="versioned") == ["trigger", "clear"]
    assert events(owner="ann", task_id="second") == ["clear"]
    assert events(included_events=["trigger", "clear"]) == ["trigger", "clear"]
    assert events(excluded_events=["trigger"]) == ["cli_check", "clear"]
    assert events(after="2024-03-01T00:30:00Z", before="2024-03-01T01:30:00") == ["cli_check"]
    assert events(event_pattern="cl") == ["cli_check", "clear"]
    assert events(order_by="-when") == ["clear", "cli_check", "trigger"]
    assert events(map_index=-1, try_number=2) == ["clear"]
    assert events(dag_id="\x00", owner="'") == []
    assert client.get("/api/v2/eventLogs", params={"order_by": "nope"}).status_code == 400
    assert client.get("/api/v2/eventLogs", params={"before": "soon"}).status_code == 422
    assert client.get("/api/v2/eventLogs", params={"map_index": 2**40}).status_code == 422
    assert client.get("/api/v2/eventLogs/99999999999").status_code == 422
    one_id = body["event_logs"][0]["event_log_id"]
    assert client.get(f"/api/v2/eventLogs/{one_id}").json() == body["event_logs"][0]
    missing = client.get("/api/v2/eventLogs/999999")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "The Event Log with id: `999999` not found"
    # Airflow 2: comma-separated event lists, execution_date.
    assert events("v1", included_events="trigger,clear", order_by="-event_log_id") == [
        "clear",
        "trigger",
    ]
    assert events("v1", excluded_events="trigger, clear") == ["cli_check"]
    v1_one = client.get(f"/api/v1/eventLogs/{one_id}").json()
    assert v1_one["execution_date"] is None and v1_one["event_log_id"] == one_id
    assert client.get("/api/v1/eventLogs", params={"order_by": "dttm"}).status_code == 400
    assert versioned.client("public").get("/api/v2/eventLogs").status_code == 403
    assert versioned.anonymous().get("/api/v1/eventLogs").status_code == 401


def test_api_actions_are_in_the_event_log(versioned: ApiTestEnv) -> None:
    versioned.client("user").patch("/api/v2/dags/versioned", json={"is_paused": True})
    logged = versioned.client("viewer").get(
        "/api/v2/eventLogs", params={"dag_id": "versioned", "event": "patch_dag"}
    )
    (entry,) = logged.json()["event_logs"]
    assert entry["owner"] == "user"
    assert '"is_paused": true' in entry["extra"]
