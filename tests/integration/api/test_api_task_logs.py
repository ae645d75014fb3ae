"""A try's log through a real server: structured JSON, NDJSON and plain text, continuation
tokens that follow a running try and page through a big log, Airflow 2's shape, who may read,
and 4xx for unknown tries and bad tokens."""

from __future__ import annotations

import json

import pytest
from test_task_instances_support import add_dags, archive, finish, make_run, set_ti, tis_url

from api_server import ApiTestEnv

RUN = "manual__2024-01-01T00:00:00+00:00"


def write_log(task_id: str, try_number: int, lines: list[str], *, map_index: int = -1) -> None:
    """Append ``lines`` to a try's log file, as a worker does."""
    from tradewind.task_logs import TryLogWriter, logs_folder, resolve_log_path, try_log_path

    path = resolve_log_path(logs_folder(), try_log_path("etl", RUN, task_id, map_index, try_number))
    with TryLogWriter(path) as log:
        for line in lines:
            log.write_line(line)


def stamped(level: str, message: str, second: int = 0) -> str:
    return f"[2024-01-01T00:00:{second:02d}.000Z] {level:<7} {message}"


@pytest.fixture
def logged(api: ApiTestEnv) -> ApiTestEnv:
    """``etl`` run ``RUN``: transform failed its first try and succeeded its second."""
    add_dags(api)
    make_run(api, run_id=RUN)
    finish(api, "transform", "failed", run_id=RUN)
    archive(api, "transform", run_id=RUN)
    finish(api, "transform", "success", run_id=RUN, try_number=2)
    write_log("transform", 1, [stamped("INFO", "starting"), stamped("ERROR", "boom\n  at line 3")])
    write_log("transform", 2, [stamped("INFO", "starting", 5), stamped("WARNING", "done", 6)])
    return api


def log_url(task_id: str = "transform", try_number: int = 1, version: str = "v2") -> str:
    return tis_url(RUN, version=version) + f"/{task_id}/logs/{try_number}"


def test_a_finished_try_reads_as_structured_messages(logged: ApiTestEnv) -> None:
    client = logged.client("viewer")
    first = client.get(log_url(), headers={"Accept": "application/json"})
    assert first.status_code == 200, first.text
    assert first.json() == {
        "content": [
            {"timestamp": "2024-01-01T00:00:00Z", "event": "starting", "level": "info"},
            {"timestamp": "2024-01-01T00:00:00Z", "event": "boom\n  at line 3", "level": "error"},
        ],
        "continuation_token": None,
    }
    second = client.get(log_url(try_number=2)).json()
    assert [m["event"] for m in second["content"]] == ["starting", "done"]
    assert second["content"][1]["level"] == "warning"


def test_plain_text_and_ndjson(logged: ApiTestEnv) -> None:
    client = logged.client("viewer")
    text = client.get(log_url(), headers={"Accept": "text/plain"})
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    assert text.text.splitlines()[0] == stamped("INFO", "starting")
    ndjson = client.get(log_url(), headers={"Accept": "application/x-ndjson"})
    assert ndjson.headers["content-type"].startswith("application/x-ndjson")
    events = [json.loads(line)["event"] for line in ndjson.text.splitlines()]
    assert events == ["starting", "boom\n  at line 3"]
    refused = client.get(log_url(), headers={"Accept": "image/png"})
    assert refused.status_code == 406
    preferred = client.get(log_url(), headers={"Accept": "text/html;q=0.9, text/*;q=0.8"})
    assert preferred.headers["content-type"].startswith("text/plain")


def test_a_token_follows_a_running_try(logged: ApiTestEnv) -> None:
    set_ti(logged, "load", run_id=RUN, state="running", try_number=1)
    client = logged.client("viewer")
    empty = client.get(log_url("load")).json()
    assert empty["content"] == [] and empty["continuation_token"]
    write_log("load", 1, [stamped("INFO", "one")])
    first = client.get(log_url("load"), params={"token": empty["continuation_token"]}).json()
    assert [m["event"] for m in first["content"]] == ["one"]
    write_log("load", 1, [stamped("INFO", "two"), stamped("INFO", "three")])
    second = client.get(log_url("load"), params={"token": first["continuation_token"]}).json()
    assert [m["event"] for m in second["content"]] == ["two", "three"]
    set_ti(logged, "load", run_id=RUN, state="success")
    last = client.get(log_url("load"), params={"token": second["continuation_token"]}).json()
    assert last == {"content": [], "continuation_token": None}
    plain = client.get(log_url("load"), headers={"Accept": "text/plain"})
    assert plain.text.count("\n") == 3 and "Airflow-Continuation-Token" not in plain.headers


def test_a_big_log_comes_in_pages_or_whole(logged: ApiTestEnv) -> None:
    from tradewind.task_logs.reader import MAX_CHUNK

    line = stamped("INFO", "x" * 200)
    count = MAX_CHUNK // (len(line) + 1) + 50
    write_log("extract", 1, [line] * count)
    finish(logged, "extract", "success", run_id=RUN)
    client = logged.client("viewer")
    first = client.get(log_url("extract")).json()
    assert first["continuation_token"] and 0 < len(first["content"]) < count
    rest = client.get(log_url("extract"), params={"token": first["continuation_token"]}).json()
    assert len(first["content"]) + len(rest["content"]) == count
    assert rest["continuation_token"] is None
    whole = client.get(log_url("extract"), params={"full_content": True}).json()
    assert len(whole["content"]) == count and whole["continuation_token"] is None


def test_unknown_tries_and_bad_tokens(logged: ApiTestEnv) -> None:
    client = logged.client("admin")
    missing = client.get(log_url(try_number=3))
    assert missing.status_code == 404 and missing.json()["detail"] == "TaskInstance not found"
    assert client.get(log_url("nope")).status_code == 404
    assert client.get(tis_url("nope") + "/transform/logs/1").status_code == 404
    assert client.get(log_url(), params={"map_index": 4}).status_code == 404
    assert client.get(log_url(try_number=0)).status_code == 422
    assert client.get(log_url(), params={"map_index": "x"}).status_code == 422
    for token in ("not-a-token", "eyJsb2dfcG9zIjogLTF9", "W10", "%00"):
        bad = client.get(log_url(), params={"token": token})
        assert bad.status_code in (400, 422), token
    assert client.get(log_url(), params={"token": "xyz"}).json()["detail"] == (
        "Bad Signature. Please use only the tokens provided by the API."
    )


def test_a_try_without_a_log_file_says_so(logged: ApiTestEnv) -> None:
    finish(logged, "square", "success", run_id=RUN, map_index=2)
    body = logged.client("viewer").get(log_url("square"), params={"map_index": 2}).json()
    assert body["continuation_token"] is None
    assert body["content"][0]["event"].startswith("*** Log file does not exist: dag_id=etl/")
    assert "map_index=2/attempt=1.log" in body["content"][0]["event"]
    write_log("square", 1, [stamped("INFO", "mapped")], map_index=2)
    found = logged.client("viewer").get(log_url("square"), params={"map_index": 2}).json()
    assert found["content"][0]["event"] == "mapped"


@pytest.mark.parametrize(
    ("user", "status"),
    [("admin", 200), ("op", 200), ("user", 200), ("viewer", 200), ("public", 403)],
)
def test_who_may_read_logs(logged: ApiTestEnv, user: str, status: int) -> None:
    client = logged.client(user)
    assert client.get(log_url()).status_code == status
    assert client.get(log_url(version="v1")).status_code == status
    assert client.get(log_url(try_number=9)).status_code == (404 if status == 200 else 403)
    assert logged.anonymous().get(log_url()).status_code == 401


def test_airflow_2_log_shape(logged: ApiTestEnv) -> None:
    client = logged.client("viewer")
    body = client.get(log_url(version="v1"), headers={"Accept": "application/json"})
    assert body.status_code == 200, body.text
    data = body.json()
    assert set(data) == {"continuation_token", "content"}
    assert data["content"].splitlines()[0] == stamped("INFO", "starting")
    assert data["continuation_token"]
    more = client.get(
        log_url(version="v1"),
        params={"token": data["continuation_token"]},
        headers={"Accept": "application/json"},
    ).json()
    assert more["content"] == ""
    text = client.get(log_url(version="v1"), headers={"Accept": "text/plain"})
    assert text.headers["content-type"].startswith("text/plain")
    assert "boom" in text.text and text.headers["Airflow-Continuation-Token"]
    assert client.get(log_url(try_number=5, version="v1")).status_code == 404
    assert client.get(log_url(version="v1"), params={"token": "!!"}).status_code == 400
