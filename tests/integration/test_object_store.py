"""The XCom object store, the same behaviour on every kind of store: a local folder, S3 (moto
or the server in TRADEWIND_TEST_S3_ENDPOINT) and GCS (the emulator or
TRADEWIND_TEST_GCS_ENDPOINT). Fixtures: tests/object_storage.py."""

from __future__ import annotations

import hashlib
import json
import os
import traceback
import uuid
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from object_storage import S3_KEY, S3_REGION, S3_SECRET, StoreUrl
from tradewind import config
from tradewind.exceptions import XComError
from tradewind.xcom.object_store import (
    MissingObjectError,
    ObjectStore,
    escape_segment,
    store_from_config,
    unescape_segment,
)

MB = 2**20
# Ids that would escape or collide if written into a path as they are.
TRICKY_IDS = [
    "a/b",
    "a%2Fb",
    "..",
    ".",
    ".hidden",
    "scheduled__2024-01-01T00:00:00+00:00",
    "with space",
    "ünï/cødé",
    "日本語",
    "a\\b",
    "%",
    "-",
    "q?x#y",
]


def make_store(store_url: StoreUrl) -> ObjectStore:
    url, options = store_url
    return ObjectStore(url, storage_options=options)


def put(store: ObjectStore, data: bytes, *, dag: str = "d", run: str = "r", index: int = -1) -> str:
    url = store.object_url(dag, run, "t", index, "return_value")
    with store.open_write(url) as fh:
        fh.write(data)
    return url


def local_files(store: ObjectStore) -> list[Path]:
    root = Path(store.url.removeprefix("file://"))
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store(object_store_url: StoreUrl) -> ObjectStore:
    return make_store(object_store_url)


def test_a_value_streamed_in_chunks_reads_back_identical(store: ObjectStore) -> None:
    url = store.object_url("dag", "run", "task", -1, "return_value")
    written = hashlib.sha256()
    with store.open_write(url) as fh:
        for _ in range(48):  # 12 MB: several parts of a multipart upload on S3 and GCS
            chunk = os.urandom(256 * 1024)
            written.update(chunk)
            fh.write(chunk)
    read, total = hashlib.sha256(), 0
    with store.open_read(url) as fh:
        while chunk := fh.read(MB):
            read.update(chunk)
            total += len(chunk)
    assert (total, read.hexdigest()) == (12 * MB, written.hexdigest())
    assert hashlib.sha256(store.read_bytes(url)).hexdigest() == written.hexdigest()


def test_an_empty_value_round_trips(store: ObjectStore) -> None:
    assert store.read_bytes(put(store, b"")) == b""


@pytest.mark.parametrize("size", [100, 12 * MB], ids=["buffered", "multipart"])
def test_an_exception_inside_the_write_leaves_nothing(store: ObjectStore, size: int) -> None:
    url = store.object_url("d", "r", "t", -1, "return_value")
    with pytest.raises(RuntimeError, match="task failed"), store.open_write(url) as fh:
        fh.write(b"x" * size)
        raise RuntimeError("task failed mid-write")
    assert list(store.list_objects()) == []
    with pytest.raises(MissingObjectError):
        store.read_bytes(url)
    if store.is_local:
        assert local_files(store) == []  # no temporary file either
    if store.protocol == "s3":
        assert pending_s3_uploads(store) == []


def pending_s3_uploads(store: ObjectStore) -> list[Any]:
    import s3fs

    bucket = store.url.removeprefix("s3://").split("/")[0]
    options = store._explicit  # the fixture's options
    return list(
        s3fs.S3FileSystem(skip_instance_cache=True, **options).list_multipart_uploads(bucket)
    )


def test_a_storage_error_inside_the_write_becomes_an_xcom_error(store: ObjectStore) -> None:
    url = store.object_url("d", "r", "t", -1, "return_value")
    with (
        pytest.raises(XComError, match=r"writing .* failed: OSError: disk full"),
        store.open_write(url),
    ):
        raise OSError("disk full")
    assert list(store.list_objects()) == []


def test_every_id_is_escaped_into_exactly_one_segment() -> None:
    escaped = [escape_segment(value) for value in TRICKY_IDS]
    assert len(set(escaped)) == len(TRICKY_IDS)  # no two ids share a folder
    assert [unescape_segment(segment) for segment in escaped] == TRICKY_IDS
    for segment in escaped:
        assert set(segment) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-%"
        )
        assert not segment.startswith(".")
    with pytest.raises(ValueError, match="must not be empty"):
        escape_segment("")


def test_tricky_ids_stay_inside_their_own_folders(store: ObjectStore) -> None:
    for value in TRICKY_IDS:
        url = store.object_url(value, value, value, 3, value)
        parts = url.removeprefix(store.url + "/").split("/")
        assert store.owns(url) and len(parts) == 5 and parts[3] == "3"
        assert [unescape_segment(p) for p in parts[:3]] == [value] * 3
        key, _, suffix = parts[4].rpartition("-")
        assert unescape_segment(key) == value and len(suffix) == 32
        with store.open_write(url) as fh:
            fh.write(value.encode())
    for value in TRICKY_IDS:
        found = list(store.list_objects(store.prefix_url(value, value)))
        assert [store.read_bytes(obj.url) for obj in found] == [value.encode()]
    if store.is_local:
        root = Path(store.url.removeprefix("file://")).resolve()
        assert len(local_files(store)) == len(TRICKY_IDS)
        assert all(root in p.resolve().parents for p in local_files(store))


def test_each_object_url_is_new() -> None:
    store = ObjectStore("s3://bucket/xcom")
    urls = {store.object_url("d", "r", "t", 0, "k") for _ in range(100)}
    assert len(urls) == 100


def outside(store: ObjectStore) -> list[str]:
    base = store.url
    return [
        base + "/",
        base + "x/d/r/t/-1/k",
        base + "/../x",
        base + "/d/../../x",
        base + "/d/./r",
        base + "//d",
        base + "/d/\x00",
        "file:///etc/passwd",
        "/etc/passwd",
        "s3://another-bucket/xcom/d",
        "gs://another-bucket/xcom/d",
        "",
    ]


def test_urls_outside_the_store_are_refused(store: ObjectStore) -> None:
    kept = put(store, b"kept")
    actions: list[Callable[[str], object]] = [
        store.read_bytes,
        store.open_read,
        lambda url: store.delete([url]),
        store.delete_prefix,
        store.list_objects,
        lambda url: store.open_write(url).__enter__(),
    ]
    assert not store.owns(store.url)
    for url in outside(store):
        assert not store.owns(url), url
        for action in actions:
            with pytest.raises(XComError, match="refusing to"):
                action(url)
    with pytest.raises(XComError, match="refusing to delete"):
        store.delete_prefix(store.url)
    with pytest.raises(XComError, match="refusing to delete"):
        store.delete([kept, store.url + "/../x"])
    assert store.read_bytes(kept) == b"kept"  # a batch with one bad URL deletes nothing


def test_reading_a_missing_object_names_it(store: ObjectStore) -> None:
    url = store.object_url("d", "r", "t", -1, "gone")
    with pytest.raises(MissingObjectError, match="no such object") as info:
        store.read_bytes(url)
    assert url in str(info.value)
    with pytest.raises(MissingObjectError):
        store.open_read(url)


def test_delete_removes_those_objects_and_ignores_missing_ones(store: ObjectStore) -> None:
    a, b, c = (put(store, b"v", index=i) for i in range(3))
    missing = store.object_url("d", "r", "t", 9, "never")
    store.delete([a, missing, b])
    assert [obj.url for obj in store.list_objects()] == [c]
    store.delete([missing])
    store.delete([])
    with pytest.raises(MissingObjectError):
        store.read_bytes(a)


def test_delete_prefix_of_a_run_removes_only_that_run(store: ObjectStore) -> None:
    put(store, b"1", dag="dag", run="run1")
    put(store, b"2", dag="dag", run="run1", index=2)
    same_dag = {put(store, b"3", dag="dag", run="run10"), put(store, b"4", dag="dag", run="run1/x")}
    other_dag = put(store, b"5", dag="dag2", run="run1")
    store.delete_prefix(store.prefix_url("dag", "run1"))
    assert {obj.url for obj in store.list_objects()} == {*same_dag, other_dag}
    store.delete_prefix(store.prefix_url("dag", "never-ran"))
    store.delete_prefix(store.prefix_url("dag"))
    assert [obj.url for obj in store.list_objects()] == [other_dag]
    if store.is_local:  # no empty folders left behind
        assert not Path(store.prefix_url("dag").removeprefix("file://")).exists()


def test_list_objects_reports_sizes_and_utc_times(store: ObjectStore) -> None:
    assert list(store.list_objects()) == []  # nothing written yet (a local folder: not made)
    before = datetime.now(UTC) - timedelta(minutes=5)
    sizes = {put(store, b"x" * size, index=i): size for i, size in enumerate([0, 1, 1000, 300_000])}
    elsewhere = put(store, b"other", dag="other")
    found = {obj.url: obj for obj in store.list_objects()}
    assert {url: obj.size for url, obj in found.items()} == {**sizes, elsewhere: 5}
    for obj in found.values():
        assert obj.modified is not None and obj.modified.utcoffset() == timedelta(0)
        assert before < obj.modified < datetime.now(UTC) + timedelta(minutes=5)
    assert {obj.url for obj in store.list_objects(store.prefix_url("d"))} == set(sizes)


def test_check_passes_on_a_working_store(store: ObjectStore) -> None:
    store.check()
    assert list(store.list_objects()) == []  # the probe is gone


@pytest.mark.parametrize("kind", ["s3", "gcs"])
def test_check_names_a_missing_bucket(kind: str, request: pytest.FixtureRequest) -> None:
    url, options = request.getfixturevalue(f"{kind}_store_url")
    bucket = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    store = ObjectStore(f"{url.split('://')[0]}://{bucket}/xcom", storage_options=options)
    with pytest.raises(XComError, match="the bucket does not exist") as info:
        store.check()
    assert bucket in str(info.value)


def test_check_reports_a_folder_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    store = ObjectStore(f"file://{tmp_path}/a-file/xcom")
    with pytest.raises(XComError, match="is unreachable or not writable"):
        store.check()


# -- settings ---------------------------------------------------------------------------------


def test_the_default_store_is_the_xcom_folder_in_tradewind_home() -> None:
    store = store_from_config()
    assert store is not None and store.is_local
    assert store.url == f"file://{config.home().absolute() / 'xcom'}"


def test_an_empty_path_means_no_object_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND__XCOM__OBJECTSTORAGE_PATH", "")
    assert store_from_config() is None


def test_the_path_may_come_from_tradewind_toml() -> None:
    (config.home() / "tradewind.toml").write_text('[xcom]\nobjectstorage_path = "s3://b/p/"\n')
    store = store_from_config()
    assert store is not None and (store.url, store.protocol) == ("s3://b/p", "s3")


def test_a_plain_absolute_path_is_a_local_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRADEWIND__XCOM__OBJECTSTORAGE_PATH", f"{tmp_path}/values/")
    store = store_from_config()
    assert store is not None and store.url == f"file://{tmp_path}/values"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("xcom/values", "not an absolute path"),
        ("file://xcom/values", "not an absolute path"),
        ("nosuchproto://bucket/x", "unknown storage protocol 'nosuchproto'"),
        ("s3://", "names no bucket"),
        ("s3://bucket/../x", "'..'"),
    ],
)
def test_bad_paths_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, reason: str
) -> None:
    monkeypatch.setenv("TRADEWIND__XCOM__OBJECTSTORAGE_PATH", value)
    with pytest.raises(XComError, match=r"xcom\.objectstorage_path") as info:
        store_from_config()
    assert reason in str(info.value)


def test_credentials_in_the_url_are_refused_without_echoing_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for url in ["s3://AKIAKEY:top-secret@bucket/x", "simplecache::s3://AKIAKEY:top-secret@b"]:
        monkeypatch.setenv("TRADEWIND__XCOM__OBJECTSTORAGE_PATH", url)
        with pytest.raises(XComError, match="put credentials in a connection") as info:
            store_from_config()
        assert "top-secret" not in str(info.value)


# -- connections ------------------------------------------------------------------------------


def aws_connection(form: str, endpoint: str) -> str:
    extra = {"endpoint_url": endpoint, "region_name": S3_REGION}
    if form == "uri":
        return f"aws://{quote(S3_KEY, safe='')}:{quote(S3_SECRET, safe='')}@/?{urlencode(extra)}"
    conn = {"conn_type": "aws", "login": S3_KEY, "password": S3_SECRET, "extra": extra}
    return json.dumps(conn)


@pytest.fixture
def no_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials and endpoint can only come from the connection."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@pytest.mark.parametrize("form", ["uri", "json"])
@pytest.mark.usefixtures("no_aws_environment")
def test_a_connection_supplies_s3_credentials_and_endpoint(
    form: str, s3_store_url: StoreUrl, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, options = s3_store_url
    monkeypatch.setenv("TRADEWIND_CONN_XCOM_S3", aws_connection(form, options["endpoint_url"]))
    store = ObjectStore(url, conn_id="xcom_s3")
    store.check()
    assert store.read_bytes(put(store, b"through the connection")) == b"through the connection"


@pytest.mark.usefixtures("no_aws_environment")
def test_the_configured_connection_is_used(
    s3_store_url: StoreUrl, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, options = s3_store_url
    monkeypatch.setenv("TRADEWIND_CONN_MY_S3", aws_connection("uri", options["endpoint_url"]))
    monkeypatch.setenv("TRADEWIND__XCOM__OBJECTSTORAGE_PATH", url)
    monkeypatch.setenv("TRADEWIND__XCOM__OBJECTSTORAGE_CONN_ID", "my_s3")
    store = store_from_config()
    assert store is not None
    assert store.read_bytes(put(store, b"configured")) == b"configured"


@pytest.mark.usefixtures("no_aws_environment")
def test_storage_options_win_over_the_connection(
    s3_store_url: StoreUrl, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, options = s3_store_url
    monkeypatch.setenv("TRADEWIND_CONN_XCOM_S3", aws_connection("uri", "http://127.0.0.1:9"))
    store = ObjectStore(
        url, conn_id="xcom_s3", storage_options={"endpoint_url": options["endpoint_url"]}
    )
    assert store.read_bytes(put(store, b"override")) == b"override"


def test_an_undefined_connection_is_named() -> None:
    store = ObjectStore("s3://bucket/xcom", conn_id="nowhere")
    with pytest.raises(XComError, match="connection 'nowhere' is not defined") as info:
        store.check()
    assert "TRADEWIND_CONN_NOWHERE" in str(info.value)


def test_a_connection_of_the_wrong_type_is_refused_without_its_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADEWIND_CONN_PG", "postgres://me:hunter2@db:5432/x")
    store = ObjectStore("s3://bucket/xcom", conn_id="pg")
    with pytest.raises(XComError, match="conn_type 'postgres'; s3 storage needs 'aws'") as info:
        store.check()
    assert "hunter2" not in str(info.value)


def test_a_local_folder_takes_no_connection(tmp_path: Path) -> None:
    with pytest.raises(XComError, match="connections work for s3 and gs"):
        ObjectStore(f"file://{tmp_path}", conn_id="anything")


# -- fork -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "s3", "gcs"])
def test_a_store_made_in_the_parent_works_in_a_forked_child(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store = make_store(request.getfixturevalue(f"{kind}_store_url"))
    from_parent = put(store, b"from the parent")  # builds the parent's filesystem first
    from_child = store.object_url("d", "r", "t", 1, "return_value")
    report = tmp_path / "child-error.txt"
    with warnings.catch_warnings():  # Python 3.12+ warns about forking with threads running
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            with store.open_write(from_child) as fh:
                fh.write(b"from the child")
            assert store.read_bytes(from_child) == b"from the child"
            assert store.read_bytes(from_parent) == b"from the parent"
            code = 0
        except BaseException:
            report.write_text(traceback.format_exc())
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, report.read_text() if report.exists() else ""
    assert store.read_bytes(from_child) == b"from the child"  # the parent's store still works
