"""``/api/v2`` changes to DAG runs through a real server: marking success, failed or queued
(task instances marked as Airflow marks them), notes with ``update_mask``, deleting with
every trace, clearing (dry run by default), and who may do what."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from api_server import ApiTestEnv, wait_for

DAGS = """
from datetime import datetime
from tradewind.sdk import DAG, task, teardown

with DAG("etl", schedule=None):
    @task
    def a() -> int:
        return 1

    @task
    def b() -> None:
        pass

    @task
    def c() -> None:
        pass

    a() >> b() >> c()

with DAG("guarded", schedule=None):
    @task
    def work() -> None:
        pass

    @teardown
    def cleanup() -> None:
        pass

    work() >> cleanup()
"""


@pytest.fixture
def dags(api: ApiTestEnv) -> ApiTestEnv:
    api.add_dag_file("dags.py", DAGS)
    return api


def make_run(
    api: ApiTestEnv, dag_id: str, run_id: str, run_state: str, **ti_states: str | None
) -> None:
    """A run of ``dag_id`` in ``run_state``, its task instances in ``ti_states``."""
    from tradewind.db.models import DagRun, TaskInstance
    from tradewind.db.queries.dagruns import create_dag_run
    from tradewind.db.queries.dags import latest_version, load_serialized_dag

    now = datetime.now(UTC)
    with Session(api.engine) as session, session.begin():
        dag = load_serialized_dag(session, dag_id)
        version = latest_version(session, dag_id)
        assert version is not None
        create_dag_run(
            session,
            dag,
            run_id=run_id,
            run_type="manual",
            run_after=now,
            dag_version_id=version.id,
        )
        session.execute(
            update(DagRun)
            .where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
            .values(state=run_state, start_date=now)
        )
        for task_id, state in ti_states.items():
            session.execute(
                update(TaskInstance)
                .where(
                    TaskInstance.dag_id == dag_id,
                    TaskInstance.run_id == run_id,
                    TaskInstance.task_id == task_id,
                )
                .values(state=state, try_number=1 if state else 0)
            )


def ti_states(api: ApiTestEnv, dag_id: str, run_id: str) -> dict[str, str | None]:
    from tradewind.db.models import TaskInstance

    with Session(api.engine) as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.state).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id
            )
        )
        return {task_id: state for task_id, state in rows}


def audit_events(api: ApiTestEnv) -> list[tuple[str, str | None, str | None]]:
    from tradewind.db.models import Log

    with Session(api.engine) as session:
        rows = session.execute(select(Log.event, Log.run_id, Log.owner).order_by(Log.id))
        return [(e, r, o) for e, r, o in rows]


def patch(api: ApiTestEnv, path: str, body: Any, user: str = "user", **params: Any) -> Any:
    return api.client(user).patch(f"/api/v2/dags/{path}", json=body, params=params)


# -- mark ------------------------------------------------------------------------------------


def test_marking_success_marks_every_unfinished_or_failed_task_success(dags: ApiTestEnv) -> None:
    make_run(dags, "etl", "r", "running", a="failed", b="running", c=None)
    response = patch(dags, "etl/dagRuns/r", {"state": "success"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "success" and body["end_date"] is not None
    assert ti_states(dags, "etl", "r") == {"a": "success", "b": "success", "c": "success"}
    assert audit_events(dags) == [("patch_dag_run", "r", "user")]


def test_marking_failed_fails_running_tasks_and_skips_the_rest(dags: ApiTestEnv) -> None:
    make_run(dags, "etl", "r", "running", a="success", b="running", c=None)
    body = patch(dags, "etl/dagRuns/r", {"state": "failed"}).json()
    assert body["state"] == "failed"
    assert ti_states(dags, "etl", "r") == {"a": "success", "b": "failed", "c": "skipped"}


def test_teardowns_still_to_run_are_left_alone_and_keep_the_run_open(dags: ApiTestEnv) -> None:
    make_run(dags, "guarded", "s", "running", work="running", cleanup=None)
    assert patch(dags, "guarded/dagRuns/s", {"state": "success"}).json()["state"] == "running"
    assert ti_states(dags, "guarded", "s") == {"work": "success", "cleanup": None}
    make_run(dags, "guarded", "f", "running", work="running", cleanup=None)
    assert patch(dags, "guarded/dagRuns/f", {"state": "failed"}).json()["state"] == "running"
    assert ti_states(dags, "guarded", "f") == {"work": "failed", "cleanup": None}


def test_queued_notes_and_update_mask(dags: ApiTestEnv) -> None:
    make_run(dags, "etl", "r", "failed", a="success", b="failed", c="upstream_failed")
    body = patch(dags, "etl/dagRuns/r", {"state": "queued", "note": "again"}).json()
    assert (body["state"], body["note"]) == ("queued", "again")
    assert ti_states(dags, "etl", "r")["b"] == "failed"  # queued changes only the run
    masked = patch(dags, "etl/dagRuns/r", {"state": "success", "note": "x"}, update_mask="note")
    assert (masked.json()["state"], masked.json()["note"]) == ("queued", "x")
    cleared = patch(dags, "etl/dagRuns/r", {"note": None}).json()
    assert cleared["note"] is None and cleared["state"] == "queued"
    ignored = patch(dags, "etl/dagRuns/r", {"state": "failed"}, update_mask="random")
    assert ignored.json()["state"] == "queued"


@pytest.mark.parametrize(
    "body",
    [{"state": "running"}, {"state": 1}, {"note": "x" * 1001}, {"colour": "red"}, [], "x"],
)
def test_bad_patch_bodies_get_422_and_change_nothing(dags: ApiTestEnv, body: Any) -> None:
    make_run(dags, "etl", "r", "running", a="running")
    assert patch(dags, "etl/dagRuns/r", body).status_code == 422
    assert ti_states(dags, "etl", "r")["a"] == "running"


def test_who_may_mark(dags: ApiTestEnv) -> None:
    make_run(dags, "etl", "r", "running")
    for user in ("viewer", "public"):
        assert patch(dags, "etl/dagRuns/r", {"state": "failed"}, user).status_code == 403
        assert patch(dags, "etl/dagRuns/missing", {"state": "failed"}, user).status_code == 403
    response = dags.anonymous().patch("/api/v2/dags/etl/dagRuns/r", json={"state": "failed"})
    assert response.status_code == 401
    missing = patch(dags, "etl/dagRuns/missing", {"state": "failed"})
    assert missing.status_code == 404
    assert missing.json()["detail"] == (
        "The DagRun with dag_id: `etl` and run_id: `missing` was not found"
    )
    for user in ("op", "admin"):
        assert patch(dags, "etl/dagRuns/r", {"note": user}, user).json()["note"] == user


# -- delete ----------------------------------------------------------------------------------


def test_deleting_a_run_removes_every_trace(dags: ApiTestEnv) -> None:
    from tradewind.db.models import DagRun, TaskInstance, TaskInstanceHistory, XComRow
    from tradewind.task_logs.paths import logs_folder

    make_run(dags, "etl", "r", "success", a="success", b="success", c="success")
    make_run(dags, "etl", "keep", "success", a="success")
    with Session(dags.engine) as session, session.begin():
        for run_id in ("r", "keep"):
            session.add(
                XComRow(
                    dag_id="etl",
                    run_id=run_id,
                    task_id="a",
                    map_index=-1,
                    key="return_value",
                    value=b"1",
                    timestamp=datetime.now(UTC),
                )
            )
    folder = logs_folder() / "dag_id=etl" / "run_id=r" / "task_id=a"
    folder.mkdir(parents=True)
    (folder / "attempt=1.log").write_text("log")
    response = dags.client("user").delete("/api/v2/dags/etl/dagRuns/r")
    assert response.status_code == 204 and response.content == b""
    with Session(dags.engine) as session:
        for model in (DagRun, TaskInstance, TaskInstanceHistory, XComRow):
            left = session.scalar(
                select(func.count()).select_from(model).where(model.run_id == "r")
            )
            assert left == 0, model
        assert session.scalar(select(func.count()).select_from(DagRun)) == 1
        assert session.scalar(select(func.count()).select_from(XComRow)) == 1
    # Files go after the commit, once the answer is sent.
    wait_for(lambda: not (logs_folder() / "dag_id=etl" / "run_id=r").exists())
    assert audit_events(dags) == [("delete_dag_run", "r", "user")]
    again = dags.client("user").delete("/api/v2/dags/etl/dagRuns/r")
    assert again.status_code == 404


def test_a_running_run_cannot_be_deleted_and_viewers_cannot_delete(dags: ApiTestEnv) -> None:
    make_run(dags, "etl", "r", "running", a="running")
    response = dags.client("user").delete("/api/v2/dags/etl/dagRuns/r")
    assert response.status_code == 400
    assert "Cannot delete DagRun in state running" in response.json()["detail"]
    assert dags.client("viewer").delete("/api/v2/dags/etl/dagRuns/r").status_code == 403
    assert dags.client("viewer").delete("/api/v2/dags/etl/dagRuns/nope").status_code == 403
    assert ti_states(dags, "etl", "r")["a"] == "running"


# -- clear -----------------------------------------------------------------------------------


def test_clear_is_a_dry_run_unless_told_otherwise(dags: ApiTestEnv) -> None:
    make_run(dags, "etl", "r", "failed", a="success", b="failed", c="upstream_failed")
    client = dags.client("user")
    dry = client.post("/api/v2/dags/etl/dagRuns/r/clear", json={})
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["total_entries"] == 3
    assert [(t["task_id"], t["state"]) for t in body["task_instances"]] == [
        ("a", "success"),
        ("b", "failed"),
        ("c", "upstream_failed"),
    ]
    only_failed = client.post(
        "/api/v2/dags/etl/dagRuns/r/clear", json={"dry_run": True, "only_failed": True}
    ).json()
    assert [t["task_id"] for t in only_failed["task_instances"]] == ["b", "c"]
    assert ti_states(dags, "etl", "r") == {"a": "success", "b": "failed", "c": "upstream_failed"}
    assert audit_events(dags) == []
    run = client.post(
        "/api/v2/dags/etl/dagRuns/r/clear", json={"dry_run": False, "only_failed": True}
    )
    assert run.status_code == 200
    assert run.json()["state"] == "queued" and run.json()["dag_run_id"] == "r"
    assert ti_states(dags, "etl", "r") == {"a": "success", "b": None, "c": None}
    assert audit_events(dags) == [("clear_dag_run", "r", "user")]


def test_clear_needs_a_body_access_and_a_run(dags: ApiTestEnv) -> None:
    make_run(dags, "etl", "r", "success", a="success")
    client = dags.client("user")
    assert client.post("/api/v2/dags/etl/dagRuns/r/clear").status_code == 422
    assert client.post("/api/v2/dags/etl/dagRuns/r/clear", json={"dry_run": "x"}).status_code == 422
    assert client.post("/api/v2/dags/etl/dagRuns/nope/clear", json={}).status_code == 404
    viewer = dags.client("viewer").post("/api/v2/dags/etl/dagRuns/r/clear", json={})
    assert viewer.status_code == 403
    assert ti_states(dags, "etl", "r")["a"] == "success"
