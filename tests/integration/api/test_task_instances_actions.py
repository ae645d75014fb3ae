"""Marking task instances with a state and clearing them, through a real server (``/api/v2``
and ``/api/v1``): who may, what changes (and what a dry run or bad input leaves alone), the
audit rows, and Airflow's answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_task_instances_support import (
    T0,
    add_dags,
    audit_events,
    finish,
    make_run,
    run_state,
    set_ti,
    states,
    tis_url,
)

from api_server import ApiTestEnv

CLEAR = "/api/v2/dags/etl/clearTaskInstances"
CLEAR_V1 = "/api/v1/dags/etl/clearTaskInstances"


@pytest.fixture
def failed_run(api: ApiTestEnv) -> ApiTestEnv:
    """``etl`` run ``r1`` that failed: extract succeeded, transform failed, load did not run."""
    add_dags(api)
    make_run(api, state="failed")
    finish(api, "extract", "success")
    finish(api, "transform", "failed", try_number=3)
    set_ti(api, "load", state="upstream_failed")
    for i in range(3):
        finish(api, "square", "success", map_index=i)
    return api


def test_marking_a_failed_task_success_resumes_what_failed_after_it(failed_run: ApiTestEnv) -> None:
    response = failed_run.client("user").patch(
        tis_url() + "/transform", json={"new_state": "success"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total_entries"] == 1
    marked = body["task_instances"][0]
    assert marked["state"] == "success" and marked["try_number"] == 3
    assert marked["end_date"] is not None
    after = states(failed_run)
    # load was upstream-failed: cleared to run again, and the run is queued again.
    assert after["transform"] == "success" and after["load"] is None
    assert run_state(failed_run) == "queued"
    assert ("patch_task_instance", "user") in audit_events(failed_run)
    again = failed_run.client("user").patch(tis_url() + "/transform", json={"new_state": "SUCCESS"})
    assert again.status_code == 409
    assert again.json()["detail"] == "Task id transform is already in success state"


def test_a_dry_run_lists_what_would_change_and_changes_nothing(failed_run: ApiTestEnv) -> None:
    client = failed_run.client("user")
    before = states(failed_run)
    response = client.patch(
        tis_url() + "/extract/dry_run",
        json={"new_state": "failed", "include_downstream": True},
    )
    assert response.status_code == 200, response.text
    would = sorted(t["task_id"] for t in response.json()["task_instances"])
    # transform is failed already; extract and load would move.
    assert would == ["extract", "load"]
    assert states(failed_run) == before and audit_events(failed_run) == []


def test_marking_reaches_relatives_and_other_runs_when_asked(failed_run: ApiTestEnv) -> None:
    make_run(failed_run, run_id="r0", logical_date=T0 - timedelta(days=1))
    make_run(failed_run, run_id="r2", logical_date=T0 + timedelta(days=1))
    make_run(failed_run, run_id="manual", logical_date=None)
    client = failed_run.client("user")
    response = client.patch(
        tis_url() + "/extract",
        json={"new_state": "skipped", "include_downstream": True, "include_past": True},
    )
    assert response.status_code == 200, response.text
    for run_id in ("r0", "r1"):
        marked = states(failed_run, run_id)
        assert [marked[t] for t in ("extract", "transform", "load")] == ["skipped"] * 3
        assert marked["square[0]"] in (None, "success")
    assert states(failed_run, "r2")["extract"] is None
    no_date = client.patch(
        tis_url("manual") + "/extract", json={"new_state": "failed", "include_future": True}
    )
    assert no_date.status_code == 400 and "logical_date" in no_date.json()["detail"]


def test_one_map_index_and_notes(failed_run: ApiTestEnv) -> None:
    client = failed_run.client("user")
    one = client.patch(tis_url() + "/square/1", json={"new_state": "failed", "note": "bad input"})
    assert one.status_code == 200, one.text
    assert [(t["map_index"], t["state"], t["note"]) for t in one.json()["task_instances"]] == [
        (1, "failed", "bad input")
    ]
    assert states(failed_run)["square[0]"] == "success"
    # Only the note (update_mask leaves new_state out), on every map index.
    noted = client.patch(
        tis_url() + "/square",
        params={"update_mask": "note"},
        json={"new_state": "skipped", "note": "checked"},
    )
    assert noted.status_code == 200
    assert {t["note"] for t in noted.json()["task_instances"]} == {"checked"}
    assert states(failed_run)["square[1]"] == "failed"
    cleared = client.patch(tis_url() + "/square/1", json={"note": None})
    assert cleared.json()["task_instances"][0]["note"] is None


def test_a_live_try_moves_only_by_the_transition_table(failed_run: ApiTestEnv) -> None:
    set_ti(failed_run, "load", state="queued", try_number=1)
    client = failed_run.client("user")
    refused = client.patch(tis_url() + "/load", json={"new_state": "success"})
    assert refused.status_code == 409
    assert "queued" in refused.json()["detail"] and states(failed_run)["load"] == "queued"
    assert client.patch(tis_url() + "/load", json={"new_state": "failed"}).status_code == 200
    set_ti(failed_run, "extract", state="running", try_number=2, end_date=None)
    running = client.patch(tis_url() + "/extract", json={"new_state": "success"})
    assert running.status_code == 200 and states(failed_run)["extract"] == "success"
    # A mark that reaches a live try changes nothing at all.
    set_ti(failed_run, "load", state="queued")
    before = states(failed_run)
    both = client.patch(
        tis_url() + "/transform", json={"new_state": "success", "include_downstream": True}
    )
    assert both.status_code == 409 and states(failed_run) == before


def test_bad_patches_get_4xx_and_change_nothing(failed_run: ApiTestEnv) -> None:
    client = failed_run.client("admin")
    before = states(failed_run)
    for body in (
        {"new_state": "running"},
        {"new_state": None},
        {"new_state": 3},
        {"new_state": "success", "force": True},
        {"note": "x" * 1001},
        {"include_upstream": "sometimes"},
    ):
        response = client.patch(tis_url() + "/transform", json=body)
        assert response.status_code == 422, (body, response.text)
    malformed = client.patch(
        tis_url() + "/transform",
        content=b'{"new_state": ',
        headers={"Content-Type": "application/json"},
    )
    assert malformed.status_code == 422
    for url, detail in (
        (tis_url("r1", "nope") + "/transform", "The Dag with ID: `nope` was not found"),
        (tis_url() + "/nope", "Task 'nope' not found in DAG 'etl'"),
        (tis_url("nope") + "/transform", "run_id: `nope`"),
        (tis_url() + "/transform/5", "map_index: `5`"),
    ):
        response = client.patch(url, json={"new_state": "success"})
        assert response.status_code == 404, url
        assert detail in response.json()["detail"]
    assert states(failed_run) == before and audit_events(failed_run) == []


@pytest.mark.parametrize(
    ("user", "status"),
    [("admin", 200), ("op", 200), ("user", 200), ("viewer", 403), ("public", 403)],
)
def test_who_may_mark_and_clear(failed_run: ApiTestEnv, user: str, status: int) -> None:
    client = failed_run.client(user)
    before = states(failed_run)
    mark = client.patch(tis_url() + "/transform/dry_run", json={"new_state": "success"})
    assert mark.status_code == status
    assert client.post(CLEAR, json={"dry_run": True}).status_code == status
    assert client.post(CLEAR_V1, json={}).status_code == status
    assert states(failed_run) == before
    # Access is checked before existence.
    missing = client.post("/api/v2/dags/nope/clearTaskInstances", json={})
    assert missing.status_code == (404 if status == 200 else 403)
    anonymous = failed_run.anonymous()
    assert anonymous.patch(tis_url() + "/transform", json={}).status_code == 401
    assert anonymous.post(CLEAR, json={}).status_code == 401


def test_clearing_lists_first_then_resets_failed_instances(failed_run: ApiTestEnv) -> None:
    client = failed_run.client("user")
    dry = client.post(CLEAR, json={})
    assert dry.status_code == 200, dry.text
    assert sorted(t["task_id"] for t in dry.json()["task_instances"]) == ["load", "transform"]
    assert states(failed_run)["transform"] == "failed" and audit_events(failed_run) == []
    done = client.post(CLEAR, json={"dry_run": False, "task_ids": ["transform"]})
    assert done.status_code == 200, done.text
    cleared = done.json()["task_instances"]
    assert [(t["task_id"], t["state"]) for t in cleared] == [("transform", None)]
    # The cleared try is kept; the instance gets its retries again.
    assert cleared[0]["max_tries"] == 3 + 2
    tries = client.get(tis_url() + "/transform/tries").json()
    assert [(t["try_number"], t["state"]) for t in tries["task_instances"]] == [(3, "failed")]
    assert states(failed_run)["load"] == "upstream_failed" and run_state(failed_run) == "queued"
    assert ("post_clear_task_instances", "user") in audit_events(failed_run)


def test_clearing_without_reset_dag_runs_keeps_the_run_finished(failed_run: ApiTestEnv) -> None:
    body = {"dry_run": False, "task_ids": ["transform"], "reset_dag_runs": False}
    done = failed_run.client("user").post(CLEAR, json=body)
    assert done.status_code == 200, done.text
    assert [(t["task_id"], t["state"]) for t in done.json()["task_instances"]] == [
        ("transform", None)
    ]
    assert run_state(failed_run) == "failed"


def test_clearing_with_relatives_runs_and_every_state(failed_run: ApiTestEnv) -> None:
    make_run(failed_run, run_id="r2", logical_date=T0 + timedelta(days=1), state="success")
    finish(failed_run, "extract", "success", run_id="r2")
    client = failed_run.client("user")

    def cleared(**body: object) -> list[str]:
        response = client.post(CLEAR, json={"dry_run": True, **body})
        assert response.status_code == 200, response.text
        return sorted(
            f"{t['dag_run_id']}:{t['task_id']}" for t in response.json()["task_instances"]
        )

    assert cleared(task_ids=["extract"], only_failed=False) == ["r1:extract", "r2:extract"]
    assert cleared(task_ids=["extract"], only_failed=False, dag_run_id="r2") == ["r2:extract"]
    assert cleared(
        task_ids=["extract"], only_failed=False, dag_run_id="r1", include_future=True
    ) == ["r1:extract", "r2:extract"]
    assert cleared(task_ids=["extract"], only_failed=False, start_date="2024-01-01T12:00:00Z") == [
        "r2:extract"
    ]
    assert cleared(task_ids=["extract"], include_downstream=True) == ["r1:load", "r1:transform"]
    assert cleared(task_ids=["load"], include_upstream=True, dag_run_id="r2") == []
    done = client.post(
        CLEAR, json={"dry_run": False, "task_ids": ["extract"], "only_failed": False}
    )
    assert len(done.json()["task_instances"]) == 2
    assert states(failed_run, "r2")["extract"] is None and run_state(failed_run, "r2") == "queued"


def test_bad_clears_get_4xx_and_change_nothing(failed_run: ApiTestEnv) -> None:
    client = failed_run.client("admin")
    before = states(failed_run)
    for body in (
        {"dry_run": False, "only_failed": True, "only_running": True},
        {"dry_run": False, "start_date": "2024-02-01T00:00:00Z", "end_date": "2024-01-01T00:00Z"},
        {"dry_run": False, "dag_run_id": "r1", "start_date": "2024-01-01T00:00:00Z"},
        {"dry_run": False, "task_ids": []},
        {"dry_run": False, "task_ids": [["square", "one"]]},
        {"dry_run": False, "start_date": "2024-01-01T00:00:00"},
        {"dry_run": False, "bogus": 1},
        {"dry_run": "please"},
    ):
        response = client.post(CLEAR, json=body)
        assert response.status_code == 422, (body, response.text)
    running = client.post(
        CLEAR, json={"dry_run": False, "only_failed": False, "only_running": True}
    )
    assert running.status_code == 400 and "only_running" in running.json()["detail"]
    pair = client.post(CLEAR, json={"dry_run": False, "task_ids": [["square", 1]]})
    assert pair.status_code == 400 and "square[1]" in pair.json()["detail"]
    missing_run = client.post(CLEAR, json={"dry_run": False, "dag_run_id": "nope"})
    assert missing_run.status_code == 404
    assert missing_run.json()["detail"] == "Dag Run id nope not found in dag etl"
    make_run(failed_run, run_id="manual", logical_date=None)
    no_date = client.post(CLEAR, json={"dag_run_id": "manual", "include_past": True})
    assert no_date.status_code == 400
    assert client.post("/api/v2/dags/nope/clearTaskInstances", json={}).status_code == 404
    assert states(failed_run) == before and audit_events(failed_run) == []


def test_airflow_2_marks_and_clears_are_dry_runs_unless_told(failed_run: ApiTestEnv) -> None:
    client = failed_run.client("user")
    url = tis_url(version="v1") + "/transform"
    dry = client.patch(url, json={"new_state": "success"})
    assert dry.status_code == 200, dry.text
    assert dry.json() == {
        "task_id": "transform",
        "dag_id": "etl",
        "execution_date": dry.json()["execution_date"],
        "dag_run_id": "r1",
    }
    assert states(failed_run)["transform"] == "failed"
    done = client.patch(url, json={"new_state": "success", "dry_run": False})
    assert done.status_code == 200 and states(failed_run)["transform"] == "success"
    # Airflow 2 answers a repeated mark as a success.
    assert client.patch(url, json={"new_state": "success", "dry_run": False}).status_code == 200
    assert client.patch(url, json={"dry_run": False}).status_code == 422
    mapped = client.patch(
        tis_url(version="v1") + "/square/0", json={"new_state": "failed", "dry_run": False}
    )
    assert mapped.status_code == 200 and states(failed_run)["square[0]"] == "failed"
    listed = client.post(CLEAR_V1, json={"only_failed": True})
    assert listed.status_code == 200
    assert sorted(t["task_id"] for t in listed.json()["task_instances"]) == ["square"]
    assert set(listed.json()) == {"task_instances"}
    cleared = client.post(CLEAR_V1, json={"dry_run": False, "task_ids": ["square"]})
    assert [t["task_id"] for t in cleared.json()["task_instances"]] == ["square"]
    assert states(failed_run)["square[0]"] is None
    assert client.post(CLEAR_V1, json={"task_ids": []}).status_code == 422
