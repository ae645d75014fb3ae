"""``Variable`` and ``Connection`` read from ``TRADEWIND_VAR_*`` / ``TRADEWIND_CONN_*``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tradewind.exceptions import ConnectionNotFound, VariableNotFound
from tradewind.sdk import Connection, Variable
from tradewind.sdk.secrets_access import use_reader

# -- Variable -----------------------------------------------------------------------------


def test_a_variable_is_read_from_the_environment_with_its_key_upper_cased(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADEWIND_VAR_REGION", "eu-west-1")
    assert Variable.get("region") == "eu-west-1"
    assert Variable.get("REGION") == "eu-west-1"


def test_a_lower_case_environment_name_is_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND_VAR_region", "x")
    with pytest.raises(VariableNotFound):
        Variable.get("region")


def test_a_json_variable_is_decoded_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND_VAR_SETTINGS", '{"batch": 10, "tags": ["a"]}')
    assert Variable.get("settings") == '{"batch": 10, "tags": ["a"]}'
    assert Variable.get("settings", deserialize_json=True) == {"batch": 10, "tags": ["a"]}


def test_a_variable_that_is_not_json_fails_clearly_when_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADEWIND_VAR_BROKEN", "{not json")
    with pytest.raises(ValueError, match="Variable 'broken' is not valid JSON"):
        Variable.get("broken", deserialize_json=True)


def test_a_missing_variable_gives_the_default() -> None:
    assert Variable.get("missing", default_var="fallback") == "fallback"
    assert Variable.get("missing", default_var=None) is None
    assert Variable.get("missing", default_var={"a": 1}, deserialize_json=True) == {"a": 1}


def test_a_missing_variable_without_default_raises_naming_it() -> None:
    with pytest.raises(VariableNotFound) as err:
        Variable.get("missing_key")
    assert str(err.value) == "Variable 'missing_key' does not exist"
    assert isinstance(err.value, KeyError)


def test_an_empty_variable_is_a_value_not_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND_VAR_EMPTY", "")
    assert Variable.get("empty", default_var="d") == ""


class StubReader:
    def __init__(self, variables: dict[str, str], connections: dict[str, Any]) -> None:
        self.variables = variables
        self.connections = connections

    def get_variable(self, key: str) -> str | None:
        return self.variables.get(key)

    def get_connection(self, conn_id: str) -> Any:
        return self.connections.get(conn_id)


def test_a_running_task_reads_through_its_reader_not_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADEWIND_VAR_K", "from env")
    conn = Connection(conn_id="db", conn_type="postgres")
    with use_reader(StubReader({"k": "from reader"}, {"db": conn})):
        assert Variable.get("k") == "from reader"
        assert Connection.get("db") is conn
    assert Variable.get("k") == "from env"


# -- Connection from the environment ------------------------------------------------------


def test_a_connection_uri_is_parsed_into_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "TRADEWIND_CONN_MY_DB", "postgres://me:s%40fe%2Fpw@db.local:5432/sales?sslmode=require"
    )
    c = Connection.get("my_db")
    assert c.conn_id == "my_db"
    assert (c.conn_type, c.login, c.password) == ("postgres", "me", "s@fe/pw")
    assert (c.host, c.port, c.schema) == ("db.local", 5432, "sales")
    assert c.extra_dejson == {"sslmode": "require"}


def test_query_parameters_become_extra() -> None:
    c = Connection.from_uri("x", "http://host?a=1&b=two%20words&empty=")
    assert c.extra_dejson == {"a": "1", "b": "two words", "empty": ""}
    assert json.loads(c.extra or "") == c.extra_dejson


def test_extra_given_as_json_in_the_uri_keeps_its_types() -> None:
    extra = json.dumps({"retries": 3, "nested": {"on": True}})
    from urllib.parse import quote

    c = Connection.from_uri("x", f"http://host?__extra__={quote(extra)}")
    assert c.extra_dejson == {"retries": 3, "nested": {"on": True}}


def test_dashes_in_the_scheme_become_underscores_and_postgresql_is_postgres() -> None:
    assert Connection.from_uri("x", "google-cloud-platform://").conn_type == (
        "google_cloud_platform"
    )
    assert Connection.from_uri("x", "postgresql://h/db").conn_type == "postgres"


def test_the_host_keeps_its_case_and_quoted_characters() -> None:
    assert Connection.from_uri("x", "mysql://u:p@MyHost:3306/db").host == "MyHost"
    socket = Connection.from_uri("x", "postgres://u@%2Fvar%2Frun%2FPg/db")
    assert socket.host == "/var/run/Pg"
    assert socket.login == "u"
    ipv6 = Connection.from_uri("x", "http://[::1]:8080")
    assert (ipv6.host, ipv6.port) == ("::1", 8080)


def test_a_uri_without_parts_leaves_them_none() -> None:
    c = Connection.from_uri("x", "http://")
    assert (c.host, c.login, c.password, c.port, c.schema, c.extra) == (None,) * 6
    assert c.extra_dejson == {}


def test_a_connection_can_be_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "TRADEWIND_CONN_API",
        json.dumps(
            {
                "conn_type": "http",
                "host": "api.example.com",
                "login": "bot",
                "password": "pw",
                "port": "443",
                "schema": "https",
                "extra": {"timeout": 5},
                "description": "the API",
            }
        ),
    )
    c = Connection.get("api")
    assert (c.conn_type, c.host, c.login, c.password) == ("http", "api.example.com", "bot", "pw")
    assert (c.port, c.schema, c.description) == (443, "https", "the API")
    assert c.extra_dejson == {"timeout": 5}


def test_json_with_extra_as_a_string_is_kept() -> None:
    c = Connection.from_json("x", '{"conn_type": "http", "extra": "{\\"a\\": 1}"}')
    assert c.extra_dejson == {"a": 1}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{broken", "connection 'bad': invalid JSON"),
        ("no-scheme-here", "is not a URI \\(no scheme\\)"),
        ("http://host:port", "port in 'http://host:port' is not a number"),
    ],
)
def test_a_malformed_connection_fails_clearly(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Connection.from_env_value("bad", raw)


def test_json_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(ValueError, match="JSON must be an object"):
        Connection.from_json("bad", "[1, 2]")


def test_a_missing_connection_raises_naming_it() -> None:
    with pytest.raises(ConnectionNotFound) as err:
        Connection.get("nowhere")
    assert str(err.value) == "The conn_id `nowhere` isn't defined"
    assert isinstance(err.value, KeyError)


def test_the_password_is_not_in_the_repr() -> None:
    c = Connection(conn_id="x", password="secret")
    assert "secret" not in repr(c)


# -- get_uri ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "postgres://me:s%40fe%2Fpw@db.local:5432/sales?sslmode=require",
        "http://host",
        "mysql://user@host/db",
        "google-cloud-platform://?project=p&key_path=%2Fa%2Fb.json",
        "http://%2Fvar%2Frun%2FPg/db",
    ],
)
def test_get_uri_round_trips_a_uri(uri: str) -> None:
    c = Connection.from_uri("x", uri)
    again = Connection.from_uri("x", c.get_uri())
    assert again == c


@pytest.mark.parametrize(
    "fields",
    [
        {"conn_type": "postgres", "login": "a b", "password": "p@ss:w/rd?", "host": "h"},
        {"conn_type": "http", "host": "MyHost", "port": 8080, "schema": "a/b c"},
        {"conn_type": "http", "host": "h", "extra": json.dumps({"a": {"b": 1}, "c": 2})},
        {"conn_type": "http", "host": "h", "extra": json.dumps({"q": "x&y=z", "e": ""})},
        {"conn_type": "aws", "extra": json.dumps({"region_name": "eu-west-1"})},
        {"conn_type": "http", "host": "::1", "port": 80},
    ],
)
def test_get_uri_round_trips_a_connection(fields: dict[str, Any]) -> None:
    c = Connection(conn_id="x", **fields)
    again = Connection.from_uri("x", c.get_uri())
    assert again.conn_type == c.conn_type
    assert again.host == c.host
    assert again.login == c.login
    assert again.password == c.password
    assert again.port == c.port
    assert again.schema == c.schema
    assert again.extra_dejson == c.extra_dejson


def test_get_uri_flattens_string_extras_into_the_query() -> None:
    c = Connection(conn_id="x", conn_type="my_type", host="h", extra='{"a": "1"}')
    assert c.get_uri() == "my-type://h?a=1"


def test_get_uri_keeps_non_string_extras_as_json() -> None:
    c = Connection(conn_id="x", conn_type="http", host="h", extra='{"n": 1}')
    assert c.get_uri() == "http://h?__extra__=%7B%22n%22%3A+1%7D"
