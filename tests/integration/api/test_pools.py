"""Pools through a real server: slot usage, default_pool's rules, bulk, /api/v1."""

from __future__ import annotations

from datetime import UTC, datetime

from api_server import ApiTestEnv

V2 = "/api/v2/pools"
V1 = "/api/v1/pools"


def _task_instances(api: ApiTestEnv, rows: list[tuple[str, str | None, int]]) -> None:
    """Task instances in pools: ``(pool, state, pool_slots)`` each, in one run."""
    from sqlalchemy.orm import Session

    from tradewind.db.models import DagModel, DagRun, TaskInstance

    now = datetime.now(UTC)
    with Session(api.engine) as session, session.begin():
        session.add(DagModel(dag_id="pooled"))
        session.flush()
        session.add(
            DagRun(dag_id="pooled", run_id="r1", run_after=now, state="running", run_type="manual")
        )
        session.flush()
        for number, (pool, state, slots) in enumerate(rows):
            session.add(
                TaskInstance(
                    dag_id="pooled",
                    run_id="r1",
                    task_id=f"t{number}",
                    pool=pool,
                    state=state,
                    pool_slots=slots,
                )
            )


def _create(api: ApiTestEnv, name: str, slots: int, **extra: object) -> None:
    response = api.client("op").post(V2, json={"name": name, "slots": slots, **extra})
    assert response.status_code == 201, response.text


def test_pools_report_slot_usage_by_state(api: ApiTestEnv) -> None:
    _create(api, "etl", 10, description="loads")
    _create(api, "lazy", 5, include_deferred=True)
    _create(api, "unlimited", -1)
    _task_instances(
        api,
        [
            ("etl", "running", 2),
            ("etl", "running", 1),
            ("etl", "queued", 3),
            ("etl", "scheduled", 1),
            ("etl", "deferred", 2),
            ("etl", "success", 4),
            ("lazy", "deferred", 2),
            ("lazy", "running", 1),
            ("unlimited", "running", 7),
        ],
    )
    pools = {p["name"]: p for p in api.client("viewer").get(V2).json()["pools"]}
    assert pools["etl"] == {
        "name": "etl",
        "slots": 10,
        "description": "loads",
        "include_deferred": False,
        "occupied_slots": 6,
        "running_slots": 3,
        "queued_slots": 3,
        "scheduled_slots": 1,
        "open_slots": 4,
        "deferred_slots": 2,
        "team_name": None,
    }
    assert pools["lazy"]["occupied_slots"] == 3 and pools["lazy"]["open_slots"] == 2
    assert pools["unlimited"]["open_slots"] == -1
    assert pools["default_pool"]["open_slots"] == 128
    one = api.client("viewer").get(f"{V2}/etl").json()
    assert one == pools["etl"]
    v1 = api.client("viewer").get(f"{V1}/etl").json()
    assert v1 == {k: v for k, v in pools["etl"].items() if k != "team_name"}


def test_each_role_against_each_action(api: ApiTestEnv) -> None:
    _create(api, "shared", 3)
    for role, reads, writes in [
        ("admin", True, True),
        ("op", True, True),
        ("user", True, False),
        ("viewer", True, False),
        ("public", False, False),
    ]:
        client = api.client(role)
        assert client.get(V2).status_code == (200 if reads else 403), role
        assert client.get(f"{V2}/shared").status_code == (200 if reads else 403), role
        assert client.get(V1).status_code == (200 if reads else 403), role
        name = f"new-{role}"
        assert client.post(V2, json={"name": name, "slots": 1}).status_code == (
            201 if writes else 403
        ), role
        assert client.patch(f"{V2}/shared", json={"slots": 4}).status_code == (
            200 if writes else 403
        ), role
        bulk = {"actions": [{"action": "delete", "entities": [name]}]}
        assert client.patch(V2, json=bulk).status_code == (200 if writes else 403), role
        assert client.delete(f"{V2}/shared-x").status_code == (404 if writes else 403), role
    assert api.anonymous().get(V2).status_code == 401
    assert api.client("viewer").get(f"{V2}/absent").status_code == 404
    assert api.client("public").get(f"{V2}/absent").status_code == 403


def test_create_patch_and_delete(api: ApiTestEnv) -> None:
    op = api.client("op")
    created = op.post(V2, json={"name": "p1", "slots": 2, "description": "d"})
    assert created.status_code == 201
    assert created.json()["open_slots"] == 2
    duplicate = op.post(V2, json={"name": "p1", "slots": 9})
    assert duplicate.status_code == 409
    assert op.get(f"{V2}/p1").json()["slots"] == 2

    patched = op.patch(f"{V2}/p1", json={"slots": 5, "include_deferred": True})
    assert patched.status_code == 200
    assert (patched.json()["slots"], patched.json()["description"]) == (5, "d")
    masked = op.patch(
        f"{V2}/p1", params={"update_mask": "description"}, json={"slots": 1, "description": "e"}
    )
    assert (masked.json()["slots"], masked.json()["description"]) == (5, "e")
    renamed = op.patch(f"{V2}/p1", json={"name": "p2"})
    assert renamed.status_code == 400 and "doesn't match" in renamed.json()["detail"]
    assert op.patch(f"{V2}/p1", json={"slots": None}).status_code == 400
    assert op.patch(f"{V2}/absent", json={"slots": 1}).status_code == 404
    assert op.patch(f"{V2}/p1", params={"update_mask": "colour"}, json={}).status_code == 400

    assert op.delete(f"{V2}/p1").status_code == 204
    assert op.get(f"{V2}/p1").status_code == 404
    assert op.delete(f"{V2}/p1").status_code == 404


def test_default_pool_keeps_its_name_and_cannot_be_deleted(api: ApiTestEnv) -> None:
    op = api.client("op")
    deleted = op.delete(f"{V2}/default_pool")
    assert deleted.status_code == 400
    assert deleted.json()["detail"] == "Default Pool can't be deleted"
    assert op.patch(f"{V2}/default_pool", json={"slots": 10}).status_code == 400
    described = op.patch(
        f"{V2}/default_pool", params={"update_mask": "description"}, json={"description": "x"}
    )
    assert described.status_code == 400
    resized = op.patch(
        f"{V2}/default_pool",
        params=[("update_mask", "slots"), ("update_mask", "include_deferred")],
        json={"slots": 10, "include_deferred": True},
    )
    assert resized.status_code == 200
    assert resized.json()["slots"] == 10
    assert op.delete(f"{V1}/default_pool").status_code == 400
    bulk = op.patch(V2, json={"actions": [{"action": "delete", "entities": ["default_pool"]}]})
    assert bulk.json()["delete"]["errors"][0]["status_code"] == 400
    renamed = op.patch(f"{V1}/default_pool", json={"name": "other", "slots": 3})
    assert renamed.status_code == 400
    assert op.get(f"{V2}/default_pool").json()["slots"] == 10


def test_bad_bodies_and_filters(api: ApiTestEnv) -> None:
    op = api.client("op")
    for body in [
        {"name": "x", "slots": -2},
        {"name": "x"},
        {"slots": 1},
        {"name": "bad name", "slots": 1},
        {"name": "x", "slots": "many"},
        {"name": "x", "slots": 1, "occupied_slots": 3},
    ]:
        assert op.post(V2, json=body).status_code == 422, body
    assert op.get(V2).json()["total_entries"] == 1
    for name in ["a_etl", "b_etl", "c_load"]:
        _create(api, name, 1)
    found = op.get(V2, params={"pool_name_pattern": "ETL"}).json()
    assert sorted(p["name"] for p in found["pools"]) == ["a_etl", "b_etl"]
    ordered = op.get(V2, params={"order_by": "-name", "limit": 2}).json()
    assert [p["name"] for p in ordered["pools"]] == ["default_pool", "c_load"]
    assert ordered["total_entries"] == 4
    assert op.get(V2, params={"order_by": "slots; DROP"}).status_code == 400
    for trick in ["%' OR 1=1 --", "../", "_"]:
        assert op.get(V2, params={"pool_name_pattern": trick}).status_code == 200
    assert op.get(f"{V2}/..%2F..%2Fetc").status_code == 404
    assert op.get(f"{V2}/a%00").status_code == 404


def test_bulk_pools(api: ApiTestEnv) -> None:
    _create(api, "keep", 1)
    op = api.client("op")
    body = {
        "actions": [
            {"action": "create", "entities": [{"name": "n1", "slots": 3}]},
            {
                "action": "create",
                "entities": [{"name": "keep", "slots": 9}, {"name": "n2", "slots": 1}],
            },
            {
                "action": "create",
                "entities": [{"name": "keep", "slots": 7, "description": "over"}],
                "action_on_existence": "overwrite",
            },
            {
                "action": "update",
                "entities": [{"name": "n1", "slots": 4, "description": "x"}],
                "update_mask": ["slots"],
            },
            {"action": "delete", "entities": ["nope"], "action_on_non_existence": "skip"},
        ]
    }
    answer = op.patch(V2, json=body).json()
    assert answer["create"]["success"] == ["n1", "keep"]
    assert answer["create"]["errors"][0]["status_code"] == 409
    assert answer["update"] == {"success": ["n1"], "errors": []}
    assert answer["delete"] == {"success": [], "errors": []}
    assert op.get(f"{V2}/n2").status_code == 404
    assert op.get(f"{V2}/keep").json()["slots"] == 7
    n1 = op.get(f"{V2}/n1").json()
    assert (n1["slots"], n1["description"]) == (4, None)


def test_v1_pools(api: ApiTestEnv) -> None:
    op = api.client("op")
    created = op.post(V1, json={"name": "v1pool", "slots": 3})
    assert created.status_code == 200
    assert created.json()["open_slots"] == 3 and created.json()["name"] == "v1pool"
    missing = op.post(V1, json={"name": "x"})
    assert missing.status_code == 400
    assert missing.json()["detail"] == "Missing required property(ies): ['slots']"
    assert op.post(V1, json={"name": "v1pool", "slots": 1}).status_code == 409
    assert op.post(V1, json={"name": "bad name", "slots": 1}).status_code == 400

    read = op.get(f"{V1}/v1pool").json()
    read["slots"] = 8
    updated = op.patch(f"{V1}/v1pool", params={"update_mask": "slots"}, json=read)
    assert updated.status_code == 200 and updated.json()["slots"] == 8
    assert op.patch(f"{V1}/v1pool", params={"update_mask": "x"}, json=read).status_code == 400
    assert op.patch(f"{V1}/v1pool", json={"slots": 2}).status_code == 400  # name missing
    renamed = op.patch(f"{V1}/v1pool", json={"name": "v1renamed", "slots": 2})
    assert renamed.status_code == 200 and renamed.json()["name"] == "v1renamed"
    _create(api, "taken", 1)
    assert op.patch(f"{V1}/v1renamed", json={"name": "taken", "slots": 2}).status_code == 409
    assert op.get(f"{V1}/v1pool").status_code == 404
    listed = op.get(V1, params={"order_by": "slots"}).json()
    assert [p["name"] for p in listed["pools"]] == ["taken", "v1renamed", "default_pool"]
    assert op.delete(f"{V1}/v1renamed").status_code == 204
    gone = op.delete(f"{V1}/v1renamed")
    assert (
        gone.status_code == 404 and gone.json()["detail"] == "Pool with name:'v1renamed' not found"
    )


def test_changes_are_in_the_event_log(api: ApiTestEnv) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from tradewind.db.models import Log

    op = api.client("op")
    op.post(V2, json={"name": "logged", "slots": 1})
    op.patch(f"{V2}/logged", json={"slots": 2})
    op.delete(f"{V2}/logged")
    with Session(api.engine) as session:
        events = set(session.scalars(select(Log.event)))
    assert {"post_pool", "patch_pool", "delete_pool"} <= events
