"""The configuration through a real server: secrets masked, JSON or text, expose_config."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from api_server import PASSWORD, ApiTestEnv

V2 = "/api/v2/config"
V1 = "/api/v1/config"
FERNET = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE="
DB_PASSWORD = "db-pa55word"


@pytest.fixture(autouse=True)
def _secret_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TRADEWIND__CORE__FERNET_KEY", FERNET)
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", f"postgresql://me:{DB_PASSWORD}@db:5432/tw")
    monkeypatch.setenv("TRADEWIND__API__SECRET_KEY", "jwt-signing-secret")
    monkeypatch.setenv("TRADEWIND__XCOM__ENCRYPTION_KEYS", "k1:c2VjcmV0LWtleQ==")
    monkeypatch.setenv("TRADEWIND__CORE__DAGS_FOLDER", "/srv/dags")
    yield


def _options(body: dict[str, object]) -> dict[tuple[str, str], str]:
    return {
        (section["name"], option["key"]): option["value"]
        for section in body["sections"]  # type: ignore[attr-defined]
        for option in section["options"]
    }


def test_every_setting_with_secrets_masked(api: ApiTestEnv) -> None:
    response = api.client("op").get(V2)
    assert response.status_code == 200
    assert "jwt-signing-secret" not in response.text
    assert DB_PASSWORD not in response.text and FERNET not in response.text
    assert "c2VjcmV0LWtleQ" not in response.text
    options = _options(response.json())
    assert options[("core", "dags_folder")] == "/srv/dags"
    assert options[("core", "fernet_key")] == "***"
    assert options[("api", "secret_key")] == "***"
    assert options[("xcom", "encryption_keys")] == "***"
    assert options[("database", "url")] == "postgresql://me:***@db:5432/tw"
    assert options[("api", "expose_config")] == "True"


def test_one_section_one_option_and_404s(api: ApiTestEnv) -> None:
    op = api.client("op")
    core = op.get(V2, params={"section": "core"}).json()
    assert [s["name"] for s in core["sections"]] == ["core"]
    missing = op.get(V2, params={"section": "nope"})
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Section nope not found."
    one = op.get(f"{V2}/section/core/option/dags_folder").json()
    assert one == {
        "sections": [{"name": "core", "options": [{"key": "dags_folder", "value": "/srv/dags"}]}]
    }
    secret = op.get(f"{V2}/section/core/option/fernet_key").json()
    assert secret["sections"][0]["options"][0]["value"] == "***"
    absent = op.get(f"{V2}/section/core/option/nope")
    assert absent.status_code == 404
    assert absent.json()["detail"] == "Option [core/nope] not found."
    assert op.get(f"{V2}/section/..%2F..%2Fetc/option/passwd").status_code == 404


def test_text_or_json_by_accept(api: ApiTestEnv) -> None:
    op = api.client("op")
    text = op.get(V2, params={"section": "core"}, headers={"Accept": "text/plain"})
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text.startswith("[core]\n")
    assert "dags_folder = /srv/dags" in text.text
    assert "fernet_key = ***" in text.text
    one = op.get(f"{V2}/section/core/option/dags_folder", headers={"Accept": "text/plain"})
    assert one.text == "[core]\ndags_folder = /srv/dags\n"
    assert op.get(V2, headers={"Accept": "application/json"}).status_code == 200
    refused = op.get(V2, headers={"Accept": "text/html"})
    assert refused.status_code == 406
    assert refused.json()["detail"] == "Only application/json or text/plain is supported"


def test_roles(api: ApiTestEnv) -> None:
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
        assert client.get(f"{V2}/section/core/option/dags_folder").status_code == expected
        assert client.get(V1).status_code == expected, role
    assert api.anonymous().get(V2).status_code == 401


def test_v1_config(api: ApiTestEnv) -> None:
    op = api.client("op")
    body = op.get(V1, params={"section": "core"}).json()
    assert _options(body)[("core", "fernet_key")] == "***"
    assert op.get(f"{V1}/section/core/option/dags_folder").status_code == 200
    assert op.get(V1, headers={"Accept": "text/plain"}).text.startswith("[")


def test_expose_config_false_hides_it(api: ApiTestEnv) -> None:
    from tradewind.api.server import ApiServer, bind
    from tradewind.api.settings import ApiSettings

    server = ApiServer(
        api.engine, bind("127.0.0.1", 0), ApiSettings(expose_config=False), access_log=False
    )
    thread = server.start_thread()
    try:
        deadline = time.monotonic() + 20
        while not server.server.started:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        base = f"http://127.0.0.1:{server.port}"
        for path in [V2, f"{V2}/section/core/option/dags_folder", V1]:
            response = httpx.get(base + path, auth=("admin", PASSWORD), timeout=30)
            assert response.status_code == 403, path
            assert "chose not to expose the configuration" in response.json()["detail"]
    finally:
        server.stop()
        thread.join(timeout=10)
