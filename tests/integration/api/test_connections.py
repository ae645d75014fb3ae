"""Connections through a real server: secrets never answered in clear, stored encrypted,
update_mask, bulk, the test route's switch, and /api/v1."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from api_server import ApiTestEnv

V2 = "/api/v2/connections"
V1 = "/api/v1/connections"
SECRET = "pa55-w0rd-n0t-for-eyes"
TOKEN = "t0ken-n0t-for-eyes"


@pytest.fixture(autouse=True)
def _fernet_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from tradewind.secrets.encryption import generate_key

    monkeypatch.setenv("TRADEWIND__CORE__FERNET_KEY", generate_key())
    yield


def _body(conn_id: str = "warehouse", **extra: object) -> dict[str, object]:
    return {
        "connection_id": conn_id,
        "conn_type": "postgres",
        "host": "db.example.com",
        "login": "etl",
        "password": SECRET,
        "schema": "sales",
        "port": 5432,
        "extra": json.dumps({"sslmode": "require", "api_token": TOKEN}),
        **extra,
    }


def _stored(api: ApiTestEnv, conn_id: str) -> dict[str, object]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from tradewind.db.models import Connection

    with Session(api.engine) as session:
        row = session.scalars(select(Connection).where(Connection.conn_id == conn_id)).one()
        return {c: getattr(row, c) for c in ("password", "extra", "is_encrypted", "host")}


def _clear(api: ApiTestEnv, conn_id: str) -> tuple[str | None, str | None]:
    from sqlalchemy.orm import Session

    from tradewind.db.queries.connections import get_connection
    from tradewind.secrets.encryption import load_encryptor

    with Session(api.engine) as session:
        record = get_connection(session, conn_id, load_encryptor())
    assert record is not None
    return record.password, record.extra


def test_create_read_and_delete_with_secrets_masked_and_encrypted(api: ApiTestEnv) -> None:
    op = api.client("op")
    created = op.post(V2, json=_body())
    assert created.status_code == 201, created.text
    answer = created.json()
    assert answer == {
        "connection_id": "warehouse",
        "conn_type": "postgres",
        "description": None,
        "host": "db.example.com",
        "login": "etl",
        "schema": "sales",
        "port": 5432,
        "password": "***",
        "extra": json.dumps({"sslmode": "require", "api_token": "***"}),
        "team_name": None,
    }
    stored = _stored(api, "warehouse")
    assert stored["is_encrypted"] and SECRET not in str(stored["password"])
    assert TOKEN not in str(stored["extra"])
    assert _clear(api, "warehouse")[0] == SECRET

    texts = [created.text, op.get(V2).text, op.get(f"{V2}/warehouse").text]
    texts += [op.get(V1).text, op.get(f"{V1}/warehouse").text]
    for text in texts:
        assert SECRET not in text and TOKEN not in text
    assert "password" not in op.get(f"{V1}/warehouse").json()

    assert op.delete(f"{V2}/warehouse").status_code == 204
    assert op.get(f"{V2}/warehouse").status_code == 404
    assert op.delete(f"{V2}/warehouse").status_code == 404


def test_each_role_against_each_action(api: ApiTestEnv) -> None:
    api.client("op").post(V2, json=_body("shared"))
    for role, allowed in [
        ("admin", True),
        ("op", True),
        ("user", False),
        ("viewer", False),
        ("public", False),
    ]:
        client = api.client(role)
        expected = 200 if allowed else 403
        assert client.get(V2).status_code == expected, role
        assert client.get(f"{V2}/shared").status_code == expected, role
        assert client.get(V1).status_code == expected, role
        assert client.post(V2, json=_body(f"c-{role}")).status_code == (201 if allowed else 403), (
            role
        )
        patch = {"connection_id": "shared", "conn_type": "postgres", "host": f"h-{role}"}
        assert client.patch(f"{V2}/shared", json=patch).status_code == expected, role
        bulk = {"actions": [{"action": "delete", "entities": [f"c-{role}"]}]}
        assert client.patch(V2, json=bulk).status_code == expected, role
        assert client.post(f"{V2}/test", json=_body()).status_code == 403, role
        assert client.post(f"{V2}/defaults").status_code == (204 if allowed else 403), role
    assert api.client("viewer").get(f"{V2}/absent").status_code == 403
    assert api.anonymous().get(V2).status_code == 401


def test_patch_keeps_masked_secrets_and_honours_update_mask(api: ApiTestEnv) -> None:
    op = api.client("op")
    op.post(V2, json=_body())
    read = op.get(f"{V2}/warehouse").json()
    read.pop("team_name")
    read["host"] = "db2.example.com"
    patched = op.patch(f"{V2}/warehouse", json=read)  # sends back "***": secrets kept
    assert patched.status_code == 200, patched.text
    assert patched.json()["host"] == "db2.example.com"
    password, extra = _clear(api, "warehouse")
    assert password == SECRET
    assert json.loads(extra or "{}") == {"sslmode": "require", "api_token": TOKEN}

    body = _body(host="ignored", login="other", password="new-pass")
    only_login = op.patch(f"{V2}/warehouse", params={"update_mask": "login"}, json=body)
    assert only_login.json()["login"] == "other"
    assert only_login.json()["host"] == "db2.example.com"
    assert _clear(api, "warehouse")[0] == SECRET
    new_password = op.patch(f"{V2}/warehouse", params={"update_mask": "password"}, json=body)
    assert new_password.status_code == 200
    assert _clear(api, "warehouse")[0] == "new-pass"
    cleared = op.patch(
        f"{V2}/warehouse",
        params={"update_mask": "password"},
        json={"connection_id": "warehouse", "conn_type": "postgres", "password": None},
    )
    assert cleared.json()["password"] is None
    assert _clear(api, "warehouse")[0] is None

    mismatch = op.patch(f"{V2}/warehouse", json=_body("other"))
    assert mismatch.status_code == 400
    immutable = op.patch(f"{V2}/warehouse", params={"update_mask": "connection_id"}, json=body)
    assert immutable.status_code == 400
    assert op.patch(f"{V2}/absent", json=_body("absent")).status_code == 404


def test_bad_bodies_change_nothing(api: ApiTestEnv) -> None:
    op = api.client("op")
    op.post(V2, json=_body())
    duplicate = op.post(V2, json=_body())
    assert duplicate.status_code == 409
    for body in [
        _body("bad id"),
        _body("../x"),
        _body(extra="not json"),
        _body(extra="[1, 2]"),
        _body(port=70000),
        _body(port="many"),
        _body(conn_type="has space"),
        _body(unknown=1),
        {"connection_id": "x"},
    ]:
        response = op.post(V2, json=body)
        assert response.status_code == 422, body
    assert op.get(V2).json()["total_entries"] == 1
    bad_extra = op.patch(f"{V2}/warehouse", json=_body(extra="{nope"))
    assert bad_extra.status_code == 422
    assert _clear(api, "warehouse")[0] == SECRET


def test_list_orders_filters_and_refuses_tricks(api: ApiTestEnv) -> None:
    op = api.client("op")
    for conn_id in ["b_db", "a_db", "c_http"]:
        op.post(V2, json=_body(conn_id))
    listed = op.get(V2, params={"order_by": "-connection_id", "limit": 2}).json()
    assert [c["connection_id"] for c in listed["connections"]] == ["c_http", "b_db"]
    assert listed["total_entries"] == 3
    found = op.get(V2, params={"connection_id_pattern": "_DB"}).json()
    assert sorted(c["connection_id"] for c in found["connections"]) == ["a_db", "b_db"]
    assert op.get(V2, params={"order_by": "password"}).status_code == 400
    for trick in ["%' OR '1'='1", "'; DELETE FROM connection; --", "../.."]:
        assert op.get(V2, params={"connection_id_pattern": trick}).json()["total_entries"] == 0
    assert op.get(f"{V2}/a%00b").status_code == 404
    v1 = op.get(V1, params={"order_by": "connection_id"}).json()
    assert [c["connection_id"] for c in v1["connections"]] == ["a_db", "b_db", "c_http"]
    assert "extra" not in v1["connections"][0] and "password" not in v1["connections"][0]


def test_bulk_connections(api: ApiTestEnv) -> None:
    op = api.client("op")
    op.post(V2, json=_body("keep"))
    body = {
        "actions": [
            {"action": "create", "entities": [_body("n1"), _body("keep")]},
            {"action": "create", "entities": [_body("n2")]},
            {
                "action": "update",
                "entities": [_body("keep", host="new-host", password="***")],
                "update_mask": ["host", "password"],
            },
            {"action": "delete", "entities": ["n2", "absent"]},
        ]
    }
    answer = op.patch(V2, json=body).json()
    assert answer["create"]["success"] == ["n2"]
    assert answer["create"]["errors"][0]["status_code"] == 409
    assert answer["update"] == {"success": ["keep"], "errors": []}
    assert answer["delete"]["errors"][0]["status_code"] == 404
    assert op.get(f"{V2}/n1").status_code == 404
    assert op.get(f"{V2}/n2").status_code == 200
    assert op.get(f"{V2}/keep").json()["host"] == "new-host"
    assert _clear(api, "keep")[0] == SECRET
    assert SECRET not in json.dumps(answer)


def test_the_test_route_is_off_by_default_and_probes_the_host_when_on(
    api: ApiTestEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    op = api.client("op")
    off = op.post(f"{V2}/test", json=_body())
    assert off.status_code == 403
    assert "api.test_connection" in off.json()["detail"]
    assert op.post(f"{V1}/test", json=_body()).status_code == 403

    monkeypatch.setenv("TRADEWIND__API__TEST_CONNECTION", "Enabled")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        ok = op.post(f"{V2}/test", json=_body(host="127.0.0.1", port=port))
        assert ok.json() == {"status": True, "message": "Connection successfully tested"}
        op.post(V2, json=_body("stored", host="127.0.0.1", port=port))
        from_stored = op.post(
            f"{V1}/test", json={"connection_id": "stored", "conn_type": "postgres"}
        )
        assert from_stored.json()["status"] is True
    finally:
        listener.close()
    closed = op.post(f"{V2}/test", json=_body(host="127.0.0.1", port=port))
    assert closed.json()["status"] is False
    assert "Could not reach" in closed.json()["message"]
    no_host = op.post(f"{V2}/test", json={"connection_id": "x", "conn_type": "http"})
    assert no_host.json()["status"] is False


def test_v1_connections(api: ApiTestEnv) -> None:
    op = api.client("op")
    created = op.post(V1, json=_body("v1conn"))
    assert created.status_code == 200
    assert created.json()["extra"] == json.dumps({"sslmode": "require", "api_token": "***"})
    assert "password" not in created.json()
    duplicate = op.post(V1, json=_body("v1conn"))
    assert duplicate.status_code == 409
    assert duplicate.json()["detail"] == "Connection already exist. ID: v1conn"
    assert op.post(V1, json={"conn_type": "http"}).status_code == 400
    assert op.post(V1, json=_body("bad id")).status_code == 400

    patched = op.patch(f"{V1}/v1conn", json={"host": "h2"})
    assert patched.status_code == 200 and patched.json()["host"] == "h2"
    masked = op.patch(f"{V1}/v1conn", params={"update_mask": "port"}, json={"port": 1, "host": "x"})
    assert (masked.json()["port"], masked.json()["host"]) == (1, "h2")
    assert op.patch(f"{V1}/v1conn", params={"update_mask": "login"}, json={}).status_code == 400
    renamed = op.patch(f"{V1}/v1conn", json={"connection_id": "other"})
    assert renamed.status_code == 400
    assert op.patch(f"{V1}/absent", json={"host": "x"}).status_code == 404
    assert _clear(api, "v1conn")[0] == SECRET
    assert op.delete(f"{V1}/v1conn").status_code == 204
    assert op.delete(f"{V1}/v1conn").status_code == 404


def test_without_a_fernet_key_secrets_are_refused(
    api: ApiTestEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRADEWIND__CORE__FERNET_KEY")
    op = api.client("op")
    refused = op.post(V2, json=_body())
    assert refused.status_code == 503
    plain = op.post(V2, json={"connection_id": "plain", "conn_type": "http", "host": "h"})
    assert plain.status_code == 201
    assert op.get(V2).json()["total_entries"] == 1


def test_changes_are_in_the_event_log_without_secrets(api: ApiTestEnv) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from tradewind.db.models import Log

    op = api.client("op")
    op.post(V2, json=_body())
    op.patch(f"{V2}/warehouse", json=_body())
    op.delete(f"{V2}/warehouse")
    with Session(api.engine) as session:
        rows = session.execute(select(Log.event, Log.extra)).all()
    assert {"post_connection", "patch_connection", "delete_connection"} <= {e for e, _ in rows}
    assert all(SECRET not in (extra or "") for _, extra in rows)
