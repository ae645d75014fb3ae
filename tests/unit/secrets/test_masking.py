"""Which names are sensitive, and how their values are masked."""

from __future__ import annotations

import pytest

from tradewind.secrets.masking import (
    DEFAULT_SENSITIVE_FIELDS,
    PLACEHOLDER,
    is_sensitive,
    mask_uri,
    mask_variable,
    redact,
    sensitive_names,
)


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "DB_PASSWORD",
        "my-api-key",
        "aws.secret.access",
        "Authorization",
        "github token",
        "private_key_pem",
        "keyfile_dict",
        "slack_webhook_url",
    ],
)
def test_names_like_airflows_sensitive_fields_are_sensitive(name: str) -> None:
    assert is_sensitive(name)


@pytest.mark.parametrize("name", ["region", "host", "sslmode", "timeout", "", "key"])
def test_ordinary_names_are_not(name: str) -> None:
    assert not is_sensitive(name)


def test_non_strings_are_not_sensitive() -> None:
    assert not is_sensitive(None)
    assert not is_sensitive(3)


def test_the_list_is_airflows() -> None:
    assert {"password", "secret", "passwd", "authorization", "api_key", "apikey"} <= (
        DEFAULT_SENSITIVE_FIELDS
    )
    assert {"access_token", "private_key", "token", "dsn"} <= DEFAULT_SENSITIVE_FIELDS


def test_more_names_come_from_config(monkeypatch) -> None:
    assert not is_sensitive("tenant_pin")
    monkeypatch.setenv("TRADEWIND__CORE__SENSITIVE_VAR_CONN_NAMES", "Tenant-PIN, other")
    assert "tenant_pin" in sensitive_names()
    assert is_sensitive("my_tenant_pin")


def test_redact_hides_sensitive_keys_at_any_depth() -> None:
    value = {"region": "eu", "nested": [{"token": "t1"}, {"ok": 1}], "password": None}
    assert redact(value) == {
        "region": "eu",
        "nested": [{"token": PLACEHOLDER}, {"ok": 1}],
        "password": None,  # nothing to hide
    }
    assert redact("s3cret", name="db_password") == PLACEHOLDER
    assert redact({"k": "v"}, name="credentials_secret") == PLACEHOLDER
    assert redact("plain", name="host") == "plain"


def test_mask_variable_hides_sensitive_keys_and_sensitive_json_fields() -> None:
    assert mask_variable("smtp_password", "s3cret") == PLACEHOLDER
    assert mask_variable("region", "eu-west-1") == "eu-west-1"
    assert mask_variable("settings", '{"user": "u", "api_key": "k"}') == (
        '{"user": "u", "api_key": "***"}'
    )
    assert mask_variable("settings", '{"user": "u"}') == '{"user": "u"}'  # untouched
    assert mask_variable("broken", "{not json") == "{not json"
    assert mask_variable("anything", None) is None


@pytest.mark.parametrize(
    ("uri", "masked"),
    [
        ("postgres://me:pw@db:5432/sales", "postgres://me:***@db:5432/sales"),
        ("mysql://db/sales", "mysql://db/sales"),
        ("http://me@host/", "http://me@host/"),
        ("http://host/?region=eu&api_key=abc", "http://host/?region=eu&api_key=***"),
        ("http://host/?a=%2Fx", "http://host/?a=%2Fx"),  # untouched when nothing to hide
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("sqlite:////abs/tradewind.db", "sqlite:////abs/tradewind.db"),
        ("sqlite:////abs/x.db?token=t#f", "sqlite:////abs/x.db?token=***#f"),
        ("not a uri", PLACEHOLDER),
    ],
)
def test_mask_uri(uri: str, masked: str) -> None:
    assert mask_uri(uri) == masked


def test_mask_uri_redacts_inside_an_extra_json_parameter() -> None:
    from urllib.parse import parse_qs, urlsplit

    uri = 'gcp://?__extra__={"project": "p", "keyfile_dict": {"k": 1}}'
    query = parse_qs(urlsplit(mask_uri(uri)).query)
    assert query["__extra__"] == ['{"project": "p", "keyfile_dict": "***"}']
