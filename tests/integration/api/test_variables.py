"""Variables through a real server: /api/v2 (with bulk and update_mask) and /api/v1."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from api_server import ApiTestEnv

V2 = "/api/v2/variables"
V1 = "/api/v1/variables"


@pytest.fixture(autouse=True)
def _fernet_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from tradewind.secrets.encryption import generate_key

    key = generate_key()
    monkeypatch.setenv("TRADEWIND__CORE__FERNET_KEY", key)
    yield key


def _stored(api: ApiTestEnv, key: str) -> tuple[str | None, str | None, bool]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from tradewind.db.models import Variable

    with Session(api.engine) as session:
        row = session.execute(
            select(Variable.val, Variable.description, Variable.is_encrypted).where(
                Variable.key == key
            )
        ).one()
    return row[0], row[1], bool(row[2])


def _create(api: ApiTestEnv, key: str, value: object, description: str | None = None) -> None:
    body = {"key": key, "value": value, "description": description}
    response = api.client("op").post(V2, json=body)
    assert response.status_code == 201, response.text


def test_op_creates_reads_updates_and_deletes_a_variable(api: ApiTestEnv) -> None:
    op = api.client("op")
    created = op.post(V2, json={"key": "region", "value": "eu-west-1", "description": "where"})
    assert created.status_code == 201
    assert created.json() == {
        "key": "region",
        "value": "eu-west-1",
        "description": "where",
        "is_encrypted": True,
        "team_name": None,
    }
    val, description, encrypted = _stored(api, "region")
    assert encrypted and val != "eu-west-1" and description == "where"

    assert op.get(f"{V2}/region").json()["value"] == "eu-west-1"
    patched = op.patch(f"{V2}/region", json={"key": "region", "value": "us-east-1"})
    assert patched.status_code == 200
    assert patched.json()["value"] == "us-east-1"
    assert patched.json()["description"] == "where"  # not sent: kept

    assert op.delete(f"{V2}/region").status_code == 204
    assert op.get(f"{V2}/region").status_code == 404
    assert op.delete(f"{V2}/region").status_code == 404


def test_json_values_are_stored_as_text_and_come_back_as_text(api: ApiTestEnv) -> None:
    _create(api, "limits", {"max": 3, "names": ["a"]})
    _create(api, "count", 7)
    op = api.client("op")
    assert json.loads(op.get(f"{V2}/limits").json()["value"]) == {"max": 3, "names": ["a"]}
    assert op.get(f"{V2}/count").json()["value"] == "7"


def test_each_role_against_each_action(api: ApiTestEnv) -> None:
    _create(api, "shared", "x")
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
        key = f"new-{role}"
        assert client.post(V2, json={"key": key, "value": "v"}).status_code == (
            201 if allowed else 403
        )
        assert client.patch(f"{V2}/shared", json={"key": "shared", "value": "y"}).status_code == (
            expected
        )
        bulk = {
            "actions": [
                {"action": "delete", "entities": ["nothing"], "action_on_non_existence": "skip"}
            ]
        }
        assert client.patch(V2, json=bulk).status_code == expected, role
        if allowed:
            assert client.delete(f"{V2}/{key}").status_code == 204
    # A caller without access learns nothing about existence: 403 before 404.
    assert api.client("viewer").get(f"{V2}/no-such-key").status_code == 403
    assert api.client("viewer").delete(f"{V2}/shared").status_code == 403
    assert api.anonymous().get(V2).status_code == 401
    assert api.anonymous().get(V1).status_code == 401


def test_sensitive_values_are_masked_in_every_answer(api: ApiTestEnv) -> None:
    secret = "hunter2-s3cr3t"
    op = api.client("op")
    bodies = [
        {"key": "db_password", "value": secret},
        {"key": "service_api_key", "value": secret},
        {"key": "settings", "value": {"token": secret, "region": "eu"}},
    ]
    texts = [op.post(V2, json=body).text for body in bodies]
    texts.append(op.get(V2).text)
    texts += [op.get(f"{V2}/{b['key']}").text for b in bodies]
    texts.append(op.get(f"{V1}/db_password").text)
    texts.append(op.patch(f"{V2}/db_password", json={"key": "db_password", "value": secret}).text)
    texts.append(op.post(V1, json={"key": "my_secret", "value": secret}).text)
    for text in texts:
        assert secret not in text
    assert op.get(f"{V2}/db_password").json()["value"] == "***"
    assert json.loads(op.get(f"{V2}/settings").json()["value"]) == {
        "token": "***",
        "region": "eu",
    }


def test_duplicate_bad_and_malformed_bodies(api: ApiTestEnv) -> None:
    _create(api, "taken", "1")
    op = api.client("op")
    duplicate = op.post(V2, json={"key": "taken", "value": "2"})
    assert duplicate.status_code == 409
    assert duplicate.json()["detail"] == "The Variable with key: `taken` already exists"
    assert _stored(api, "taken")[1] is None
    for body in [
        {"key": "bad key", "value": "x"},
        {"key": "../etc", "value": "x"},
        {"key": "x" * 251, "value": "x"},
        {"key": "ok"},
        {"key": "ok", "value": "x", "unknown": 1},
        {"key": 3, "value": "x"},
    ]:
        response = op.post(V2, json=body)
        assert response.status_code == 422, body
        assert isinstance(response.json()["detail"], list)
    malformed = op.post(V2, content=b"{nope", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 422
    assert op.get(V2).json()["total_entries"] == 1


def test_patch_with_update_mask_changes_only_the_named_fields(api: ApiTestEnv) -> None:
    _create(api, "conf", "old", "first")
    op = api.client("op")
    body = {"key": "conf", "value": "new", "description": "second"}
    only_description = op.patch(f"{V2}/conf", params={"update_mask": "description"}, json=body)
    assert only_description.status_code == 200
    assert only_description.json()["value"] == "old"
    assert only_description.json()["description"] == "second"
    both = op.patch(
        f"{V2}/conf",
        params=[("update_mask", "value"), ("update_mask", "description")],
        json={**body, "description": None},
    )
    assert both.json()["value"] == "new" and both.json()["description"] is None

    mismatch = op.patch(f"{V2}/conf", json={"key": "other", "value": "x"})
    assert mismatch.status_code == 400
    assert "doesn't match" in mismatch.json()["detail"]
    immutable = op.patch(f"{V2}/conf", params={"update_mask": "key"}, json=body)
    assert immutable.status_code == 400 and "immutable" in immutable.json()["detail"]
    unknown = op.patch(f"{V2}/conf", params={"update_mask": "colour"}, json=body)
    assert unknown.status_code == 400 and "colour" in unknown.json()["detail"]
    missing = op.patch(f"{V2}/nothing", json={"key": "nothing", "value": "x"})
    assert missing.status_code == 404
    assert op.get(f"{V2}/conf").json()["value"] == "new"


def test_list_pages_orders_and_filters(api: ApiTestEnv) -> None:
    for key in ["b_one", "a_two", "c_three", "a_four"]:
        _create(api, key, key)
    op = api.client("op")
    page = op.get(V2, params={"limit": 2, "offset": 1, "order_by": "key"}).json()
    assert page["total_entries"] == 4
    assert [v["key"] for v in page["variables"]] == ["a_two", "b_one"]
    desc = op.get(V2, params={"order_by": "-key"}).json()
    assert desc["variables"][0]["key"] == "c_three"
    found = op.get(V2, params={"variable_key_pattern": "A_"}).json()
    assert sorted(v["key"] for v in found["variables"]) == ["a_four", "a_two"]
    either = op.get(V2, params={"variable_key_pattern": "one|three"}).json()
    assert either["total_entries"] == 2
    assert op.get(V2, params={"variable_key_pattern": "~"}).json()["total_entries"] == 4
    for trick in ["%' OR '1'='1", "'; DROP TABLE variable; --", "../", "\\", "%"]:
        response = op.get(V2, params={"variable_key_pattern": trick})
        assert response.status_code == 200, trick
    assert op.get(V2, params={"variable_key_pattern": "x\x00"}).status_code == 400
    assert op.get(V2, params={"order_by": "nope"}).status_code == 400
    assert op.get(V2, params={"limit": -1}).status_code == 422
    assert op.get(f"{V2}/a%00b").status_code == 404
    v1 = op.get(V1, params={"order_by": "-key", "limit": 1}).json()
    assert v1 == {"variables": [{"key": "c_three", "description": None}], "total_entries": 4}


def test_bulk_creates_updates_and_deletes_each_action_whole(api: ApiTestEnv) -> None:
    _create(api, "keep", "1")
    _create(api, "gone", "1")
    op = api.client("op")
    body = {
        "actions": [
            {"action": "create", "entities": [{"key": "fresh", "value": {"a": 1}}]},
            {
                "action": "create",
                "entities": [{"key": "keep", "value": "2"}, {"key": "other", "value": "3"}],
            },
            {"action": "update", "entities": [{"key": "keep", "value": "9", "description": "d"}]},
            {"action": "delete", "entities": ["gone", "missing"]},
            {
                "action": "delete",
                "entities": ["gone", "missing"],
                "action_on_non_existence": "skip",
            },
        ]
    }
    result = op.patch(V2, json=body)
    assert result.status_code == 200, result.text
    answer = result.json()
    assert answer["create"]["success"] == ["fresh"]
    assert answer["create"]["errors"] == [
        {"error": "The variables with these keys: ['keep'] already exist.", "status_code": 409}
    ]
    assert answer["update"] == {"success": ["keep"], "errors": []}
    assert answer["delete"]["success"] == ["gone"]
    assert answer["delete"]["errors"][0]["status_code"] == 404
    assert op.get(f"{V2}/other").status_code == 404  # the failed action did nothing
    assert op.get(f"{V2}/keep").json()["value"] == "9"
    assert op.get(f"{V2}/gone").status_code == 404

    again = {
        "actions": [
            {
                "action": "create",
                "entities": [{"key": "keep", "value": "10"}, {"key": "new2", "value": "1"}],
                "action_on_existence": "overwrite",
            },
            {
                "action": "update",
                "entities": [{"key": "keep", "value": "x", "description": "only"}],
                "update_mask": ["description"],
            },
            {
                "action": "update",
                "entities": [{"key": "nope", "value": "x"}],
                "action_on_non_existence": "skip",
            },
        ]
    }
    answer = op.patch(V2, json=again).json()
    assert answer["create"]["success"] == ["keep", "new2"]
    assert answer["update"]["success"] == ["keep"]
    assert answer["delete"] is None
    keep = op.get(f"{V2}/keep").json()
    assert (keep["value"], keep["description"]) == ("10", "only")


def test_bulk_bodies_are_checked(api: ApiTestEnv) -> None:
    op = api.client("op")
    for body in [
        {"actions": [{"action": "explode", "entities": []}]},
        {"actions": [{"action": "create", "entities": [{"key": "bad key", "value": 1}]}]},
        {"actions": [{"action": "create", "entities": [], "extra": 1}]},
        {"actions": "nope"},
        {},
    ]:
        assert op.patch(V2, json=body).status_code == 422, body
    twice = {
        "actions": [
            {"action": "create", "entities": [{"key": "a", "value": 1}, {"key": "a", "value": 2}]}
        ]
    }
    answer = op.patch(V2, json=twice).json()
    assert answer["create"]["errors"][0]["status_code"] == 400
    assert op.get(V2).json()["total_entries"] == 0


def test_v1_variables_have_airflow_2_shapes(api: ApiTestEnv) -> None:
    op = api.client("op")
    created = op.post(V1, json={"key": "v1key", "value": "one", "description": "d"})
    assert created.status_code == 200
    assert created.json() == {"key": "v1key", "value": "one", "description": "d"}
    replaced = op.post(V1, json={"key": "v1key", "value": "two"})
    assert replaced.status_code == 200  # Airflow 2's POST sets the variable
    assert op.get(f"{V1}/v1key").json() == {"key": "v1key", "value": "two", "description": "d"}
    masked = op.patch(
        f"{V1}/v1key",
        params={"update_mask": "description"},
        json={"key": "v1key", "value": "ignored", "description": "new"},
    )
    assert masked.status_code == 200
    assert masked.json() == {"key": "v1key", "value": "two", "description": "new"}
    bad_mask = op.patch(
        f"{V1}/v1key", params={"update_mask": "key"}, json={"key": "v1key", "value": "x"}
    )
    assert bad_mask.status_code == 400
    assert op.patch(f"{V1}/other", json={"key": "v1key", "value": "x"}).status_code == 400
    assert op.patch(f"{V1}/absent", json={"key": "absent", "value": "x"}).status_code == 404
    assert op.post(V1, json={"key": "k", "value": 3}).status_code == 422
    assert op.delete(f"{V1}/v1key").status_code == 204
    assert op.get(f"{V1}/v1key").status_code == 404
    assert op.delete(f"{V1}/v1key").status_code == 404


def test_changes_are_in_the_event_log_without_values(api: ApiTestEnv) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from tradewind.db.models import Log

    op = api.client("op")
    op.post(V2, json={"key": "audited", "value": "very-secret-value"})
    op.patch(f"{V2}/audited", json={"key": "audited", "value": "very-secret-value"})
    op.delete(f"{V2}/audited")
    with Session(api.engine) as session:
        rows = session.execute(select(Log.event, Log.owner, Log.extra)).all()
    events = [(event, owner) for event, owner, _ in rows]
    assert ("post_variable", "op") in events
    assert ("patch_variable", "op") in events
    assert ("delete_variable", "op") in events
    assert all("very-secret-value" not in (extra or "") for _, _, extra in rows)


def test_without_a_fernet_key_writes_are_refused_and_nothing_is_stored(
    api: ApiTestEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRADEWIND__CORE__FERNET_KEY")
    op = api.client("op")
    response = op.post(V2, json={"key": "plain", "value": "x"})
    assert response.status_code == 503
    assert "Fernet key" in response.json()["detail"]
    assert op.get(V2).json()["total_entries"] == 0


def test_sending_back_what_a_read_showed_keeps_the_secrets(api: ApiTestEnv) -> None:
    from sqlalchemy.orm import Session

    from tradewind.db.queries.variables import get_variable
    from tradewind.secrets.encryption import load_encryptor

    _create(api, "db_password", "s3cret")
    _create(api, "settings", {"token": "t0k", "region": "eu"})
    op = api.client("op")
    for key in ("db_password", "settings"):
        read = op.get(f"{V2}/{key}").json()
        body = {"key": key, "value": read["value"], "description": "changed"}
        assert op.patch(f"{V2}/{key}", json=body).status_code == 200
    v1 = op.get(f"{V1}/db_password").json()
    assert op.patch(f"{V1}/db_password", json=v1).status_code == 200
    with Session(api.engine) as session:
        password = get_variable(session, "db_password", load_encryptor())
        settings = get_variable(session, "settings", load_encryptor())
    assert password is not None and password.val == "s3cret"
    assert settings is not None and json.loads(settings.val or "") == {
        "token": "t0k",
        "region": "eu",
    }
    assert settings.description == "changed"
