"""XCom entries through a real server: listing, reading (preview, whole, object storage,
never importing user code), adding and editing, the scheduler's prefetch, roles, /api/v1."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from api_server import ApiTestEnv, wait_for

DAGS = """
from datetime import datetime
from tradewind.sdk import DAG, task

with DAG("etl", start_date=datetime(2024, 1, 1), schedule=None, dag_display_name="ETL flow"):
    @task(task_display_name="Make rows")
    def produce() -> list:
        return [1, 2]

    @task
    def consume(x: int) -> int:
        return x

    consume.expand(x=produce())

with DAG("team_dag", schedule=None, access_control={"team": {"can_read"}}):
    @task
    def alone() -> int:
        return 1

    alone()
"""

RUN = "manual__1"
ENTRIES = "/api/v2/dags/etl/dagRuns/manual__1/taskInstances/produce/xcomEntries"
V1_ENTRIES = ENTRIES.replace("/api/v2/", "/api/v1/")


def _run(api: ApiTestEnv, dag_id: str, run_id: str, state: str = "success") -> None:
    from tradewind.db.models import DagRun
    from tradewind.db.queries.dagruns import create_dag_run
    from tradewind.db.queries.dags import latest_version, load_serialized_dag

    with Session(api.engine) as session, session.begin():
        dag = load_serialized_dag(session, dag_id)
        version = latest_version(session, dag_id)
        assert dag is not None and version is not None
        create_dag_run(
            session,
            dag,
            run_id=run_id,
            run_type="manual",
            run_after=datetime.now(UTC),
            logical_date=datetime(2024, 5, 1, tzinfo=UTC) if run_id == RUN else None,
            dag_version_id=version.id,
        )
        session.execute(
            update(DagRun)
            .where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
            .values(state=state)
        )


def _push(api: ApiTestEnv, task_id: str, key: str, value: Any, **where: Any) -> None:
    from tradewind.db.queries.xcom import set_value
    from tradewind.xcom.base import XComKey

    dag_id, run_id = where.get("dag_id", "etl"), where.get("run_id", RUN)
    with Session(api.engine) as session, session.begin():
        xkey = XComKey(dag_id, run_id, task_id, where.get("map_index", -1), key)
        set_value(session.connection(), xkey, value)


def _push_text(api: ApiTestEnv, key: str, text: str) -> None:
    from tradewind.db.queries.xcom import set_encoded
    from tradewind.xcom.base import XComKey

    with Session(api.engine) as session, session.begin():
        set_encoded(session.connection(), XComKey("etl", RUN, "produce", -1, key), text)


@pytest.fixture
def xapi(api: ApiTestEnv) -> ApiTestEnv:
    api.add_dag_file("dags.py", DAGS)
    _run(api, "etl", RUN)
    return api


def test_list_entries_without_values(xapi: ApiTestEnv) -> None:
    _push(xapi, "produce", "return_value", [1, 2])
    _push(xapi, "produce", "extra", {"a": 1})
    _push(xapi, "consume", "return_value", 1, map_index=0)
    _push(xapi, "consume", "return_value", 2, map_index=1)
    viewer = xapi.client("viewer")
    response = viewer.get(ENTRIES)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total_entries"] == 2
    first = body["xcom_entries"][0]
    assert first == {
        "key": "extra",
        "timestamp": first["timestamp"],
        "logical_date": "2024-05-01T00:00:00Z",
        "map_index": -1,
        "task_id": "produce",
        "dag_id": "etl",
        "run_id": RUN,
        "dag_display_name": "ETL flow",
        "task_display_name": "Make rows",
    }
    every = viewer.get("/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries").json()
    assert [(e["task_id"], e["map_index"], e["key"]) for e in every["xcom_entries"]] == [
        ("consume", 0, "return_value"),
        ("consume", 1, "return_value"),
        ("produce", -1, "extra"),
        ("produce", -1, "return_value"),
    ]
    any_task = "/api/v2/dags/etl/dagRuns/manual__1/taskInstances/~/xcomEntries"
    assert viewer.get(any_task, params={"map_index": 1}).json()["total_entries"] == 1
    assert viewer.get(any_task, params={"xcom_key": "extra"}).json()["total_entries"] == 1
    assert viewer.get(any_task, params={"xcom_key_pattern": "RETURN"}).json()["total_entries"] == 3
    page = viewer.get(any_task, params={"limit": 1, "offset": 3}).json()
    assert page["total_entries"] == 4 and len(page["xcom_entries"]) == 1
    for trick in ["%' OR 1=1 --", "../..", "x'; DROP TABLE xcom; --"]:
        assert viewer.get(any_task, params={"xcom_key": trick}).json()["total_entries"] == 0
    assert viewer.get(any_task, params={"map_index": -2}).status_code == 422
    assert viewer.get(any_task, params={"xcom_key": "a\x00"}).status_code == 400
    absent = "/api/v2/dags/etl/dagRuns/nope/taskInstances/produce/xcomEntries"
    assert viewer.get(absent).json() == {"xcom_entries": [], "total_entries": 0}
    v1 = viewer.get(V1_ENTRIES).json()
    assert v1["total_entries"] == 2
    assert set(v1["xcom_entries"][0]) == {
        "key",
        "timestamp",
        "execution_date",
        "map_index",
        "task_id",
        "dag_id",
    }


def test_read_one_entry_native_stringified_and_whole(xapi: ApiTestEnv) -> None:
    from tradewind.serialization.codec import encode

    value = {"when": date(2024, 1, 2), "pair": (1, 2), "raw": b"hi", "n": [1.5, None]}
    _push_text(xapi, "typed", encode(value))
    _push(xapi, "produce", "long", "x" * 1000)
    viewer = xapi.client("viewer")
    native = viewer.get(f"{ENTRIES}/typed").json()
    assert native["value"] == {
        "when": "2024-01-02",
        "pair": [1, 2],
        "raw": "b'hi'",
        "n": [1.5, None],
    }
    assert native["key"] == "typed" and native["task_display_name"] == "Make rows"
    text = viewer.get(f"{ENTRIES}/typed", params={"stringify": True}).json()["value"]
    assert text.startswith("{'when': datetime.date(2024, 1, 2)")
    preview = viewer.get(f"{ENTRIES}/long").json()["value"]
    assert preview.endswith("... (1002 characters)") and len(preview) < 300
    whole = viewer.get(f"{ENTRIES}/long", params={"deserialize": True}).json()["value"]
    assert whole == "x" * 1000
    v1 = viewer.get(f"{V1_ENTRIES}/typed").json()
    assert isinstance(v1["value"], str) and v1["execution_date"] == "2024-05-01T00:00:00Z"
    assert (
        viewer.get(f"{V1_ENTRIES}/typed", params={"stringify": False}).json()["value"]
        == (native["value"])
    )
    missing = viewer.get(f"{ENTRIES}/nope")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "XCom entry with key: `nope` not found"
    assert viewer.get(f"{ENTRIES}/typed", params={"map_index": 3}).status_code == 404
    assert viewer.get(f"{ENTRIES}/a%00b").status_code == 404


def test_values_naming_classes_are_described_never_imported(xapi: ApiTestEnv) -> None:
    module = "tradewind_user_code_never_imported"
    _push_text(
        xapi,
        "obj",
        '{"__tw__":"dataclass","v":["' + module + ':Row",{"a":1}]}',
    )
    _push_text(xapi, "pickled", '{"__tw__":"pickle","v":"gASVAAAAAAAAAACMBHRlc3SULg=="}')
    viewer = xapi.client("viewer")
    for deserialize in (False, True):
        got = viewer.get(f"{ENTRIES}/obj", params={"deserialize": deserialize}).json()
        assert got["value"] == f"{module}:Row(a=1)"
    pickled = viewer.get(f"{ENTRIES}/pickled", params={"deserialize": True}).json()["value"]
    assert "not unpickled" in pickled
    assert module not in sys.modules


def test_each_role_against_each_action(xapi: ApiTestEnv) -> None:
    _push(xapi, "produce", "return_value", [1, 2])
    xapi.add_user("teamer", ["team"])
    _run(xapi, "team_dag", "t1")
    _push(xapi, "alone", "return_value", 1, dag_id="team_dag", run_id="t1")
    for role, reads, writes in [
        ("admin", True, True),
        ("op", True, True),
        ("user", True, False),
        ("viewer", True, False),
        ("public", False, False),
        ("teamer", False, False),
    ]:
        client = xapi.client(role)
        expected = 200 if reads else 403
        assert client.get(ENTRIES).status_code == expected, role
        assert client.get(f"{ENTRIES}/return_value").status_code == expected, role
        assert client.get(f"{ENTRIES}/absent").status_code == (404 if reads else 403), role
        assert client.get(V1_ENTRIES).status_code == expected, role
        created = client.post(ENTRIES, json={"key": f"k-{role}", "value": 1})
        assert created.status_code == (201 if writes else 403), role
        edited = client.patch(f"{ENTRIES}/return_value", json={"value": [3]})
        assert edited.status_code == (200 if writes else 403), role
    team = xapi.client("teamer")
    listed = team.get("/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries").json()
    assert {e["dag_id"] for e in listed["xcom_entries"]} == {"team_dag"}
    team_entry = "/api/v2/dags/team_dag/dagRuns/t1/taskInstances/alone/xcomEntries/return_value"
    assert team.get(team_entry).status_code == 200
    public = xapi.client("public").get("/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries")
    assert public.status_code == 403
    assert xapi.anonymous().get(ENTRIES).status_code == 401


def test_add_an_entry(xapi: ApiTestEnv) -> None:
    op = xapi.client("op")
    created = op.post(ENTRIES, json={"key": "note", "value": {"rows": 3}})
    assert created.status_code == 201
    assert created.json()["value"] == {"rows": 3}
    assert created.json()["map_index"] == -1 and created.json()["run_id"] == RUN
    assert op.get(f"{ENTRIES}/note").json()["value"] == {"rows": 3}
    mapped = op.post(ENTRIES, json={"key": "note", "value": 1, "map_index": 2})
    assert mapped.status_code == 201
    duplicate = op.post(ENTRIES, json={"key": "note", "value": 2})
    assert duplicate.status_code == 409
    assert "already exists" in duplicate.json()["detail"]
    assert op.get(f"{ENTRIES}/note").json()["value"] == {"rows": 3}
    base = "/api/v2/dags/{}/dagRuns/{}/taskInstances/{}/xcomEntries"
    for path, detail in [
        (base.format("nodag", RUN, "produce"), "Dag with ID: `nodag` was not found"),
        (base.format("etl", RUN, "notask"), "Task with ID: `notask` not found in dag: `etl`"),
        (
            base.format("etl", "norun", "produce"),
            "Dag Run with ID: `norun` not found for dag: `etl`",
        ),
    ]:
        response = op.post(path, json={"key": "k", "value": 1})
        assert response.status_code == 404 and response.json()["detail"] == detail
    for body in [
        {"key": "k"},
        {"value": 1},
        {"key": "", "value": 1},
        {"key": "k", "value": 1, "map_index": -2},
        {"key": "k", "value": 1, "extra": True},
        {"key": "a\x00b", "value": 1},
        {"key": "k" * 513, "value": 1},
    ]:
        assert op.post(ENTRIES, json=body).status_code == 422, body
    assert op.get(ENTRIES).json()["total_entries"] == 2  # note at -1 and at 2


def test_edit_an_entry(xapi: ApiTestEnv) -> None:
    _push(xapi, "produce", "return_value", [1, 2])
    op = xapi.client("op")
    edited = op.patch(f"{ENTRIES}/return_value", json={"value": [7, 8, 9]})
    assert edited.status_code == 200
    assert edited.json()["value"] == [7, 8, 9]
    assert op.get(f"{ENTRIES}/return_value").json()["value"] == [7, 8, 9]
    missing = op.patch(f"{ENTRIES}/absent", json={"value": 1})
    assert missing.status_code == 404
    assert op.patch(f"{ENTRIES}/return_value", json={"value": 1, "map_index": 4}).status_code == 404
    assert op.patch(f"{ENTRIES}/return_value", json={}).status_code == 422
    assert op.patch(f"{ENTRIES}/return_value", json={"value": 1, "x": 1}).status_code == 422


def test_edits_of_a_value_mapped_copies_expand_over_wait_for_the_run_to_end(
    xapi: ApiTestEnv,
) -> None:
    """The scheduler sends the upstream's value along with every mapped copy it queues,
    read once per run: changing it mid-run would feed copies different inputs."""
    from tradewind.db.models import DagRun

    _run(xapi, "etl", "live", state="running")
    _push(xapi, "produce", "return_value", [1, 2], run_id="live")
    _push(xapi, "produce", "other", 1, run_id="live")
    op = xapi.client("op")
    live = "/api/v2/dags/etl/dagRuns/live/taskInstances/produce/xcomEntries"
    refused = op.patch(f"{live}/return_value", json={"value": [5]})
    assert refused.status_code == 409
    assert "consume" in refused.json()["detail"]
    assert op.get(f"{live}/return_value").json()["value"] == [1, 2]
    # Values no mapped task expands over, and new entries, are safe to write.
    assert op.patch(f"{live}/other", json={"value": 2}).status_code == 200
    assert op.post(live, json={"key": "fresh", "value": 1}).status_code == 201
    with Session(xapi.engine) as session, session.begin():
        session.execute(update(DagRun).where(DagRun.run_id == "live").values(state="success"))
    assert op.patch(f"{live}/return_value", json={"value": [5]}).status_code == 200


def test_big_values_go_through_object_storage(
    xapi: ApiTestEnv, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tradewind.xcom.backend import reset_backend

    monkeypatch.setenv("TRADEWIND__XCOM__OBJECTSTORAGE_PATH", f"file://{tmp_path}")
    monkeypatch.setenv("TRADEWIND__XCOM__OBJECTSTORAGE_THRESHOLD", "64")
    reset_backend()
    try:
        op = xapi.client("op")
        big = ["row"] * 100
        assert op.post(ENTRIES, json={"key": "big", "value": big}).status_code == 201
        stored = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert len(stored) == 1
        preview = op.get(f"{ENTRIES}/big").json()["value"]
        assert preview.startswith("<value of") and "object storage" in preview
        assert op.get(f"{ENTRIES}/big", params={"deserialize": True}).json()["value"] == big
        assert op.patch(f"{ENTRIES}/big", json={"value": ["new"] * 50}).status_code == 200
        wait_for(lambda: not stored[0].exists())  # removed once the edit was committed
        assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == 1
        again = op.get(f"{ENTRIES}/big", params={"deserialize": True}).json()["value"]
        assert again == ["new"] * 50
        for path in tmp_path.rglob("*"):
            if path.is_file():
                path.unlink()
        gone = op.get(f"{ENTRIES}/big", params={"deserialize": True})
        assert gone.status_code == 400
        assert "gone" in gone.json()["detail"]
    finally:
        reset_backend()


def test_changes_are_in_the_event_log(xapi: ApiTestEnv) -> None:
    from sqlalchemy import select

    from tradewind.db.models import Log

    op = xapi.client("op")
    op.post(ENTRIES, json={"key": "audited", "value": "v"})
    op.patch(f"{ENTRIES}/audited", json={"value": "w"})
    with Session(xapi.engine) as session:
        rows = session.execute(select(Log.event, Log.dag_id, Log.task_id, Log.owner)).all()
    assert ("create_xcom_entry", "etl", "produce", "op") in rows
    assert ("update_xcom_entry", "etl", "produce", "op") in rows
