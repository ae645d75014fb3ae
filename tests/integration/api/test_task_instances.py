"""Reading task instances through a real server: lists and their filters, one instance,
mapped instances, tries, the batch list; Airflow 3 (``/api/v2``) and Airflow 2 (``/api/v1``)
shapes; who may read; 4xx for bad input, never a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_task_instances_support import (
    T0,
    add_dags,
    archive,
    finish,
    make_run,
    set_ti,
    tis_url,
)

from api_server import ApiTestEnv

V2_FIELDS = {
    "id",
    "task_id",
    "dag_id",
    "dag_run_id",
    "map_index",
    "logical_date",
    "run_after",
    "start_date",
    "end_date",
    "duration",
    "state",
    "try_number",
    "max_tries",
    "task_display_name",
    "dag_display_name",
    "hostname",
    "unixname",
    "pool",
    "pool_slots",
    "queue",
    "priority_weight",
    "operator",
    "operator_name",
    "queued_when",
    "scheduled_when",
    "pid",
    "executor",
    "executor_config",
    "note",
    "rendered_map_index",
    "rendered_fields",
    "trigger",
    "triggerer_job",
    "dag_version",
}


@pytest.fixture
def etl(api: ApiTestEnv) -> ApiTestEnv:
    """``etl`` with run ``r1``: extract succeeded, transform failed on its second try."""
    add_dags(api)
    make_run(api)
    finish(api, "extract", "success")
    finish(api, "transform", "failed", try_number=2, values={"duration": 90.0})
    set_ti(api, "load", state="upstream_failed")
    return api


def _ids(body: dict) -> list[str]:
    return [
        t["task_id"] if t["map_index"] < 0 else f"{t['task_id']}[{t['map_index']}]"
        for t in body["task_instances"]
    ]


def test_a_runs_task_instances_have_airflow_3_fields(etl: ApiTestEnv) -> None:
    response = etl.client("viewer").get(tis_url())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total_entries"] == 6
    # Airflow's default order: by map index (then id).
    assert sorted(_ids(body)[:3]) == ["extract", "load", "transform"]
    assert _ids(body)[3:] == ["square[0]", "square[1]", "square[2]"]
    transform = next(t for t in body["task_instances"] if t["task_id"] == "transform")
    assert set(transform) == V2_FIELDS
    assert transform["state"] == "failed"
    assert transform["try_number"] == 2 and transform["max_tries"] == 2
    assert transform["dag_run_id"] == "r1" and transform["dag_display_name"] == "ETL jobs"
    assert transform["logical_date"].startswith("2024-01-01T00:00:00")
    assert transform["operator"] == "PythonDecoratedOperator"
    assert transform["task_display_name"] == "transform"
    assert transform["executor_config"] == "{}" and transform["rendered_fields"] == {}
    assert transform["dag_version"]["version_number"] == 1
    assert transform["dag_version"]["dag_id"] == "etl"
    assert transform["hostname"] == "worker-1" and transform["duration"] == 90.0


def test_filters_narrow_the_list(etl: ApiTestEnv) -> None:
    client = etl.client("viewer")

    def ids(**params: object) -> list[str]:
        response = client.get(tis_url(), params=params)
        assert response.status_code == 200, response.text
        return sorted(_ids(response.json()))

    assert ids(state=["failed", "upstream_failed"]) == ["load", "transform"]
    assert ids(state="no_status") == ["square[0]", "square[1]", "square[2]"]
    assert ids(task_id="extract") == ["extract"]
    assert ids(map_index=[0, 2]) == ["square[0]", "square[2]"]
    assert ids(pool="slow_pool", queue="cpu") == ["square[0]", "square[1]", "square[2]"]
    assert ids(try_number=2) == ["transform"]
    assert ids(duration_gte=60) == ["transform"]
    assert ids(duration_gte=10, duration_lt=60) == ["extract"]
    start = (T0 + timedelta(minutes=2)).isoformat()
    assert ids(start_date_gte=start, state="failed") == ["transform"]
    assert ids(task_display_name_pattern="squ") == ["square[0]", "square[1]", "square[2]"]
    assert ids(dag_id_pattern="nothing") == []
    assert ids(operator="PythonDecoratedOperator", version_number=1, state="success") == ["extract"]
    ordered = client.get(tis_url(), params={"order_by": "-try_number", "limit": 2}).json()
    assert _ids(ordered) == ["transform", "extract"] and ordered["total_entries"] == 6
    page = client.get(tis_url(), params={"order_by": "map_index", "offset": 5}).json()
    assert _ids(page) == ["square[2]"]


def test_tilde_lists_every_run_and_dag_a_caller_may_read(
    api: ApiTestEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradewind.api.auth import principal

    monkeypatch.setattr(principal, "ACCESS_INDEX_SECONDS", 0.0)
    add_dags(api, team=True)
    make_run(api, run_id="r1")
    make_run(api, run_id="r2", logical_date=T0 + timedelta(days=1))
    make_run(api, "team_dag", run_id="t1")
    admin = api.client("admin")
    assert admin.get(tis_url("~", "~")).json()["total_entries"] == 13
    assert admin.get(tis_url("~", "etl")).json()["total_entries"] == 12
    assert admin.get(tis_url("t1", "~")).json()["total_entries"] == 1
    api.add_user("teamer", ["team"])
    team = api.client("teamer")
    body = team.get(tis_url("~", "~")).json()
    assert body["total_entries"] == 1 and body["task_instances"][0]["dag_id"] == "team_dag"
    assert team.get(tis_url("t1", "team_dag")).status_code == 200
    assert team.get(tis_url("r1", "etl")).status_code == 403
    batch = team.post(tis_url("~", "~") + "/list", json={"dag_ids": ["etl", "team_dag"]}).json()
    assert [t["dag_id"] for t in batch["task_instances"]] == ["team_dag"]


def test_unknown_ids_are_404_and_bad_filters_are_4xx_never_500(etl: ApiTestEnv) -> None:
    client = etl.client("admin")
    missing_dag = client.get(tis_url("r1", "nope"))
    assert missing_dag.status_code == 404
    assert missing_dag.json()["detail"] == "The Dag with ID: `nope` was not found"
    missing_run = client.get(tis_url("nope"))
    assert missing_run.status_code == 404 and "nope" in missing_run.json()["detail"]
    assert client.get(tis_url("nope", "~")).status_code == 404
    bad_order = client.get(tis_url(), params={"order_by": "password"})
    assert bad_order.status_code == 400 and "password" in bad_order.json()["detail"]
    bad_state = client.get(tis_url(), params={"state": "sleeping"})
    assert bad_state.status_code == 422
    assert bad_state.json()["detail"][0]["loc"] == ["query", "state", 0]
    for params in (
        {"start_date_gte": "yesterday"},
        {"map_index": "x"},
        {"map_index": str(2**70)},
        {"task_id": "a\x00b"},
        {"limit": "-1"},
        {"start_date_gte": "9999-12-31T23:00:00-05:00"},
    ):
        response = client.get(tis_url(), params=params)
        assert response.status_code == 422, (params, response.text)
    for value in ("%", "'", "../", "' OR 1=1 --", "%00"):
        for name in ("task_id", "pool", "queue", "dag_id_pattern", "operator"):
            response = client.get(tis_url(), params={name: value})
            assert response.status_code == 200, (name, value, response.text)
            expected = 6 if name == "dag_id_pattern" and value == "%" else 0
            assert response.json()["total_entries"] == expected, (name, value)
    assert client.get(tis_url("..", "..")).status_code == 404
    assert client.get(tis_url("r1") + "/..%2F..%2Fetc").status_code == 404


def test_one_instance_and_the_mapped_ones(etl: ApiTestEnv) -> None:
    client = etl.client("viewer")
    one = client.get(tis_url() + "/transform")
    assert one.status_code == 200 and one.json()["state"] == "failed"
    mapped = client.get(tis_url() + "/square")
    assert mapped.status_code == 404
    assert mapped.json()["detail"] == "Task instance is mapped, add the map_index value to the URL"
    second = client.get(tis_url() + "/square/1")
    assert second.status_code == 200 and second.json()["map_index"] == 1
    assert client.get(tis_url() + "/square/7").status_code == 404
    assert client.get(tis_url() + "/square/x").status_code == 404
    # A map index is a number: other routes under an instance are not taken for one.
    assert client.get(tis_url() + "/square/xcomEntries").status_code != 422
    missing = client.get(tis_url() + "/nope")
    assert missing.status_code == 404
    assert "task_id: `nope`" in missing.json()["detail"]
    listed = client.get(tis_url() + "/square/listMapped", params={"order_by": "-map_index"})
    assert listed.status_code == 200
    assert [t["map_index"] for t in listed.json()["task_instances"]] == [2, 1, 0]
    assert listed.json()["total_entries"] == 3
    filtered = client.get(tis_url() + "/square/listMapped", params={"map_index": 1}).json()
    assert filtered["total_entries"] == 1
    not_mapped = client.get(tis_url() + "/extract/listMapped")
    assert not_mapped.status_code == 404
    assert not_mapped.json()["detail"] == "Task id extract is not mapped"
    unknown = client.get(tis_url() + "/nope/listMapped")
    assert unknown.status_code == 404 and unknown.json()["detail"] == "Task id nope not found"


def test_every_try_of_an_instance_after_retries(api: ApiTestEnv) -> None:
    from dbdriver import drive
    from tradewind.sdk import DAG, task

    with DAG("flaky_dag") as dag:

        @task(retries=2, retry_delay=timedelta(seconds=0.01))
        def flaky(ti=None):  # type: ignore[no-untyped-def]
            if ti.try_number < 3:
                raise RuntimeError(f"try {ti.try_number} fails")
            return ti.try_number

        flaky()
    assert drive(api.engine, dag)[0] == "success"
    client = api.client("viewer")
    run_id = client.get(tis_url("~", "flaky_dag")).json()["task_instances"][0]["dag_run_id"]
    tries = client.get(tis_url(run_id, "flaky_dag") + "/flaky/tries")
    assert tries.status_code == 200, tries.text
    body = tries.json()
    assert body["total_entries"] == 3
    assert [(t["try_number"], t["state"]) for t in body["task_instances"]] == [
        (1, "up_for_retry"),
        (2, "up_for_retry"),
        (3, "success"),
    ]
    assert "id" not in body["task_instances"][0]
    second = client.get(tis_url(run_id, "flaky_dag") + "/flaky/tries/2")
    assert second.status_code == 200 and second.json()["state"] == "up_for_retry"
    assert client.get(tis_url(run_id, "flaky_dag") + "/flaky/tries/4").status_code == 404
    assert client.get(tis_url(run_id, "flaky_dag") + "/flaky/tries/0").status_code == 422
    assert client.get(tis_url(run_id, "flaky_dag") + "/nope/tries").status_code == 404


def test_a_cleared_instance_lists_its_archived_try_once(etl: ApiTestEnv) -> None:
    finish(etl, "square", "failed", map_index=1)
    archive(etl, "square", map_index=1)
    set_ti(etl, "square", map_index=1, state=None)
    client = etl.client("viewer")
    tries = client.get(tis_url() + "/square/1/tries").json()
    assert [t["try_number"] for t in tries["task_instances"]] == [1]
    assert client.get(tis_url() + "/square/1/tries/1").status_code == 200
    fresh = client.get(tis_url() + "/square/2/tries").json()
    assert [(t["try_number"], t["state"]) for t in fresh["task_instances"]] == [(0, None)]


def test_the_batch_list_filters_by_its_body(etl: ApiTestEnv) -> None:
    make_run(etl, run_id="r2", logical_date=T0 + timedelta(days=1))
    client = etl.client("viewer")
    url = tis_url("~", "~") + "/list"
    body = client.post(url, json={"dag_run_ids": ["r2"], "task_ids": ["load"]}).json()
    assert body["total_entries"] == 1 and body["task_instances"][0]["dag_run_id"] == "r2"
    failed = client.post(url, json={"state": ["failed", None], "page_limit": 2}).json()
    assert failed["total_entries"] == 10 and len(failed["task_instances"]) == 2
    ranged = client.post(url, json={"logical_date_gte": "2024-01-02T00:00:00Z"}).json()
    assert ranged["total_entries"] == 6
    ordered = client.post(url, json={"order_by": "-duration", "page_limit": 1}).json()
    assert ordered["task_instances"][0]["task_id"] == "transform"
    for bad in (
        {"unknown": 1},
        {"state": ["sleeping"]},
        {"page_limit": -1},
        {"dag_ids": "etl"},
        {"logical_date_gte": "2024-01-02T00:00:00"},
    ):
        assert client.post(url, json=bad).status_code == 422, bad
    malformed = client.post(url, content=b"{nope", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 422
    assert client.post(tis_url("r1", "etl") + "/list", json={}).status_code == 422
    assert client.post(url, json={"order_by": "note"}).status_code == 400


@pytest.mark.parametrize(
    ("user", "status"),
    [("admin", 200), ("op", 200), ("user", 200), ("viewer", 200), ("public", 403)],
)
def test_who_may_read_task_instances(etl: ApiTestEnv, user: str, status: int) -> None:
    client = etl.client(user)
    assert client.get(tis_url()).status_code == status
    assert client.get(tis_url() + "/extract").status_code == status
    assert client.get(tis_url() + "/square/listMapped").status_code == status
    assert client.get(tis_url() + "/extract/tries").status_code == status
    assert client.post(tis_url("~", "~") + "/list", json={}).status_code == status
    assert client.get(tis_url(version="v1")).status_code == status
    # Access is checked before existence: no leak of what exists.
    assert client.get(tis_url("r1", "nope")).status_code == (404 if status == 200 else 403)


def test_credentials_are_needed(etl: ApiTestEnv) -> None:
    anonymous = etl.anonymous()
    assert anonymous.get(tis_url()).status_code == 401
    assert anonymous.get(tis_url(version="v1") + "/extract").status_code == 401
    assert anonymous.post(tis_url("~", "~") + "/list", json={}).status_code == 401


def test_airflow_2_shapes_under_v1(etl: ApiTestEnv) -> None:
    client = etl.client("viewer")
    listed = client.get(tis_url(version="v1"), params={"state": ["failed", "none"]})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total_entries"] == 4
    square = next(t for t in body["task_instances"] if t["task_id"] == "square")
    assert square["execution_date"].startswith("2024-01-01")
    assert square["sla_miss"] is None and square["hostname"] == "" and square["state"] is None
    assert "id" not in square and "logical_date" not in square
    one = client.get(tis_url(version="v1") + "/transform")
    assert one.status_code == 200 and one.json()["try_number"] == 2
    assert client.get(tis_url(version="v1") + "/nope").status_code == 404
    assert client.get(tis_url(version="v1") + "/square/2").json()["map_index"] == 2
    mapped = client.get(tis_url(version="v1") + "/square/listMapped").json()
    assert mapped["total_entries"] == 3
    batch = client.post(
        tis_url("~", "~", "v1") + "/list", json={"task_ids": ["extract"], "state": ["success"]}
    )
    assert batch.status_code == 200 and batch.json()["total_entries"] == 1
    ranged = client.get(
        tis_url(version="v1"), params={"execution_date_gte": "2024-01-02T00:00:00Z"}
    ).json()
    assert ranged["total_entries"] == 0
    assert client.post(tis_url("~", "~", "v1") + "/list", json={"x": 1}).status_code == 422
