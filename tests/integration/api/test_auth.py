"""Authentication through a real server: tokens, HTTP Basic, revocation, and what needs none."""

from __future__ import annotations

import base64

import pytest

from api_server import PASSWORD, ApiTestEnv


def _basic(username: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def test_health_needs_no_credentials_and_reports_each_service(api: ApiTestEnv) -> None:
    body = api.anonymous().get("/api/v2/monitor/health").json()
    assert body["metadatabase"] == {"status": "healthy"}
    assert body["scheduler"] == {"status": "unhealthy", "latest_scheduler_heartbeat": None}
    assert body["triggerer"]["status"] is None
    assert set(body["dag_processor"]) == {"status", "latest_dag_processor_heartbeat"}
    assert api.anonymous().get("/api/v1/health").status_code == 200


def test_a_running_scheduler_with_a_fresh_heartbeat_is_healthy(api: ApiTestEnv) -> None:
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from tradewind.db.models import Job

    now = datetime.now(UTC)
    with Session(api.engine) as session, session.begin():
        session.add(
            Job(job_type="SchedulerJob", state="running", start_date=now, latest_heartbeat=now)
        )
    body = api.anonymous().get("/api/v2/monitor/health").json()
    assert body["scheduler"]["status"] == "healthy"
    assert body["scheduler"]["latest_scheduler_heartbeat"] is not None


def test_everything_else_needs_credentials_with_a_problem_body(api: ApiTestEnv) -> None:
    response = api.anonymous().get("/api/v2/version")
    assert response.status_code == 401
    assert response.json() == {
        "detail": "Not authenticated",
        "status": 401,
        "title": "Unauthorized",
        "type": "about:blank",
    }


def test_a_token_from_the_login_route_authenticates(api: ApiTestEnv) -> None:
    response = api.anonymous().post(
        "/auth/token", json={"username": "viewer", "password": PASSWORD}
    )
    assert response.status_code == 201
    token = response.json()["access_token"]
    version = api.anonymous().get("/api/v2/version", headers={"Authorization": f"Bearer {token}"})
    assert version.status_code == 200
    assert set(version.json()) == {"version", "git_version"}


def test_a_wrong_password_or_unknown_user_gets_401(api: ApiTestEnv) -> None:
    for username, password in [("viewer", "not-the-password"), ("nobody", PASSWORD)]:
        response = api.anonymous().post(
            "/auth/token", json={"username": username, "password": password}
        )
        assert response.status_code == 401
        assert response.json()["detail"] == "Invalid username or password"


def test_login_bodies_are_checked(api: ApiTestEnv) -> None:
    client = api.anonymous()
    extra = client.post("/auth/token", json={"username": "a", "password": "b", "x": 1})
    assert extra.status_code == 422
    assert extra.json()["detail"][0]["loc"] == ["body", "x"]
    malformed = client.post(
        "/auth/token", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 422


def test_http_basic_is_accepted_for_scripts(api: ApiTestEnv) -> None:
    client = api.anonymous()
    assert client.get("/api/v2/version", headers=_basic("op", PASSWORD)).status_code == 200
    # Again: answered from the verified-credentials cache, still correct.
    assert client.get("/api/v2/version", headers=_basic("op", PASSWORD)).status_code == 200
    assert client.get("/api/v2/version", headers=_basic("op", "wrong-pass")).status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not.a.jwt",
        "Bearer",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Digest abc",
    ],
)
def test_malformed_credentials_get_401(api: ApiTestEnv, header: str) -> None:
    response = api.anonymous().get("/api/v2/version", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["detail"]


def test_a_token_signed_with_another_key_or_expired_is_refused(api: ApiTestEnv) -> None:
    import time

    import jwt

    now = int(time.time())
    claims = {"sub": "admin", "aud": "tradewind-api", "iat": now, "exp": now + 60}
    forged = jwt.encode(claims, "some-other-key-of-enough-length-123456", algorithm="HS256")
    response = api.anonymous().get("/api/v2/version", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401

    from sqlalchemy.orm import Session

    from tradewind.api.auth.tokens import read_or_create_key

    with Session(api.engine) as session, session.begin():
        key = read_or_create_key(session)
    expired = jwt.encode({**claims, "exp": now - 10}, key, algorithm="HS256")
    response = api.anonymous().get(
        "/api/v2/version", headers={"Authorization": f"Bearer {expired}"}
    )
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_revoking_tokens_refuses_every_token_issued_before(
    api: ApiTestEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.orm import Session

    import tradewind.api.auth.tokens as tokens

    monkeypatch.setattr(tokens, "KEY_REFRESH_SECONDS", 0.0)
    client = api.client("viewer")
    assert client.get("/api/v2/version").status_code == 200
    with Session(api.engine) as session, session.begin():
        tokens.replace_key(session)
    assert client.get("/api/v2/version").status_code == 401
    api._tokens.clear()
    assert api.client("viewer").get("/api/v2/version").status_code == 200


def test_a_deleted_user_loses_access_with_a_valid_token(
    api: ApiTestEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.orm import Session

    import tradewind.api.auth.authenticate as authenticate
    from tradewind.db.queries.users import delete_user

    monkeypatch.setattr(authenticate, "USER_CACHE_SECONDS", 0.0)
    api.add_user("temp-user", ["Viewer"])
    client = api.client("temp-user")
    assert client.get("/api/v2/version").status_code == 200
    with Session(api.engine) as session, session.begin():
        delete_user(session, "temp-user")
    assert client.get("/api/v2/version").status_code == 401


def test_an_oversize_body_gets_413_and_unknown_paths_a_problem_body(api: ApiTestEnv) -> None:
    client = api.client("admin")
    big = client.post(
        "/auth/token", content=b"x" * (1024 * 1024 + 1), headers={"Content-Type": "text/plain"}
    )
    assert big.status_code == 413
    assert "api.max_body_bytes" in big.json()["detail"]
    missing = client.get("/api/v2/no-such-thing")
    assert missing.status_code == 404
    assert missing.json()["title"] == "Not Found"


def test_openapi_and_docs_are_served_to_signed_in_users(api: ApiTestEnv) -> None:
    anonymous = api.anonymous().get("/docs")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="tradewind"'  # browsers ask
    assert api.anonymous().get("/openapi.json").status_code == 401
    spec = api.client("public").get("/openapi.json").json()
    assert "/api/v2/monitor/health" in spec["paths"]
    docs = api.anonymous().get("/docs", headers=_basic("viewer", PASSWORD))
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_a_rejected_non_finite_number_gets_a_422_not_a_500(api: ApiTestEnv) -> None:
    response = api.anonymous().post(
        "/auth/token",
        content=b'{"username": NaN, "password": Infinity}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert {e["input"] for e in response.json()["detail"]} == {"nan", "inf"}
