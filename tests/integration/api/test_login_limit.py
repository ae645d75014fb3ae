"""Failed logins are rate-limited per user name and per client."""

from __future__ import annotations

from api_server import PASSWORD, ApiTestEnv
from tradewind.api.settings import ApiSettings

API_SETTINGS = ApiSettings(failed_login_limit=3, failed_login_window=60)


def test_repeated_failures_get_429_with_retry_after_even_for_the_right_password(
    api: ApiTestEnv,
) -> None:
    client = api.anonymous()
    for _ in range(3):
        wrong = client.post("/auth/token", json={"username": "op", "password": "guess-1234"})
        assert wrong.status_code == 401
    blocked = client.post("/auth/token", json={"username": "op", "password": PASSWORD})
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 60
    assert "Too many failed logins" in blocked.json()["detail"]
