"""The default XCom backend against every kind of store over the network: a local folder,
an S3-compatible server (moto) and a GCS emulator, reached through a Tradewind connection as
a deployment would configure it: spilling, compression, encryption, files, purging, and
mapped copies pushing at once from separate processes."""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Iterator
from typing import Any

import pytest

from object_storage import S3_REGION, StoreUrl
from tradewind.exceptions import XComError
from tradewind.xcom.backend import XComResult, get_backend, reset_backend
from tradewind.xcom.encryption import XComEncryptionError, generate_key_entry
from tradewind.xcom.files import XComFile
from tradewind.xcom.object_storage_xcom import ObjectStorageXCom
from tradewind.xcom.reference import parse_ref


@pytest.fixture
def configured(object_store_url: StoreUrl, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Settings pointing XCom at the store, credentials in a connection; the store's kind."""
    url, options = object_store_url
    monkeypatch.setenv("TRADEWIND__XCOM__OBJECTSTORAGE_PATH", url)
    kind = url.split("://")[0]
    if kind == "s3":
        conn = {
            "conn_type": "aws",
            "login": options["key"],
            "password": options["secret"],
            "extra": {
                "endpoint_url": options["endpoint_url"],
                "region_name": options["client_kwargs"]["region_name"],
            },
        }
    elif kind == "gs":
        conn = {"conn_type": "google_cloud_platform", "extra": options}
    else:
        conn = None
    if conn is not None:
        monkeypatch.setenv("TRADEWIND_CONN_XCOM_STORE", json.dumps(conn))
        monkeypatch.setenv("TRADEWIND__XCOM__OBJECTSTORAGE_CONN_ID", "xcom_store")
    reset_backend()
    yield kind
    reset_backend()


def push(backend: Any, value: Any, key: str = "return_value", map_index: int = -1) -> XComResult:
    where = {"dag_id": "etl", "run_id": "manual__2024-01-01T00:00:00+00:00", "task_id": "t"}
    text = backend.serialize_value(value, key=key, map_index=map_index, **where)
    return XComResult(where["dag_id"], where["run_id"], "t", map_index, key, text)


def test_values_spill_read_back_and_purge(configured: str) -> None:
    backend = get_backend()
    assert isinstance(backend, ObjectStorageXCom) and backend.store is not None
    rows = {"rows": [{"id": i, "name": f"n{i}"} for i in range(5_000)]}
    row = push(backend, rows)
    ref = parse_ref(row.value)
    assert ref is not None and ref.url.startswith(backend.store.url + "/etl/")
    assert len(row.value.encode()) <= 512
    assert backend.deserialize_value(row) == rows
    data = push(backend, bytes(range(256)) * 4_000, key="data")
    assert backend.deserialize_value(data) == bytes(range(256)) * 4_000
    assert len(list(backend.store.list_objects())) == 2
    backend.purge_many([row, data])
    assert list(backend.store.list_objects()) == []
    with pytest.raises(XComError):
        backend.deserialize_value(row)


@pytest.mark.parametrize("compression", ["zstd", "gzip", "lz4"])
def test_compressed_and_encrypted_values_round_trip(
    configured: str, compression: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWIND__XCOM__COMPRESSION", compression)
    monkeypatch.setenv("TRADEWIND__XCOM__ENCRYPTION_KEYS", generate_key_entry("k1"))
    reset_backend()
    backend = get_backend()
    value = ["confidential row"] * 20_000
    row = push(backend, value)
    [stored] = list(backend.store.list_objects())  # type: ignore[union-attr]
    raw = backend.store.read_bytes(stored.url)  # type: ignore[union-attr]
    assert b"confidential" not in raw and stored.size < 60_000
    assert backend.deserialize_value(row) == value
    reset_backend()
    monkeypatch.setenv("TRADEWIND__XCOM__ENCRYPTION_KEYS", generate_key_entry("k1"))
    with pytest.raises(XComEncryptionError):
        get_backend().deserialize_value(row)  # same id, another key: refused


def test_files_stream_in_and_out(configured: str) -> None:
    backend = get_backend()
    content = b"".join(f"line {i}\n".encode() for i in range(300_000))  # ~3.5 MB
    pulled = backend.deserialize_value(push(backend, XComFile(_Chunky(content))))
    assert isinstance(pulled, XComFile) and pulled.size == len(content)
    with pulled.open() as stream:
        assert stream.readline() == b"line 0\n"
        assert stream.read(7) == b"line 1\n"
    assert pulled.read_bytes() == content


class _Chunky:
    """A readable binary object that is not a file (read in small pieces)."""

    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def read(self, size: int = -1) -> bytes:
        size = min(size if size >= 0 else len(self._data), 65_536)
        chunk = self._data[self._pos : self._pos + size]
        self._pos += len(chunk)
        return chunk

    def close(self) -> None:
        pass


def _push_copy(index: int) -> str:
    """A mapped copy in its own process: pushes its value, returns the row text."""
    backend = get_backend()
    return push(backend, [index] * 40_000, map_index=index).value


def test_mapped_copies_push_at_once_from_separate_processes(configured: str) -> None:
    backend = get_backend()
    backend.store  # noqa: B018 -- made before the fork, as in a worker
    with multiprocessing.get_context("fork").Pool(4) as pool:
        texts = pool.map(_push_copy, range(8))
    urls = {parse_ref(t).url for t in texts}  # type: ignore[union-attr]
    assert len(urls) == 8  # no two copies share an object
    for index, text in enumerate(texts):
        value = backend.deserialize_value(
            XComResult("etl", "manual__2024-01-01T00:00:00+00:00", "t", index, "return_value", text)
        )
        assert value == [index] * 40_000


def test_the_cli_reaches_storage_with_a_connection_kept_in_the_metadata_db(
    s3_store_url: StoreUrl, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.fernet import Fernet

    from tradewind.cli.main import main
    from tradewind.db import migrate
    from tradewind.db.session import get_engine
    from tradewind.scheduler.worker_services import DatabaseWorkerServices, service_secrets
    from tradewind.sdk.secrets_access import use_reader

    url, options = s3_store_url
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    db_url = f"sqlite:///{tmp_path / 'tw.db'}"
    monkeypatch.setenv("TRADEWIND__DATABASE__URL", db_url)
    monkeypatch.setenv("TRADEWIND__CORE__FERNET_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("TRADEWIND__XCOM__OBJECTSTORAGE_PATH", url)
    monkeypatch.setenv("TRADEWIND__XCOM__OBJECTSTORAGE_CONN_ID", "xcom_s3")
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    extra = {"endpoint_url": options["endpoint_url"], "region_name": S3_REGION}
    assert (
        main(
            [
                "connections",
                "add",
                "xcom_s3",
                "--conn-json",
                json.dumps(
                    {
                        "conn_type": "aws",
                        "login": options["key"],
                        "password": options["secret"],
                        "extra": extra,
                    }
                ),
            ]
        )
        == 0
    )
    reset_backend()
    backend = get_backend()
    services = DatabaseWorkerServices(engine, service_secrets(engine))
    with use_reader(services.secrets):  # as a task reads it, through the service
        row = push(backend, b"x" * 100_000)
    assert parse_ref(row.value) is not None
    stored = list(backend.store.list_objects())  # type: ignore[union-attr]
    assert len(stored) == 1
    reset_backend()
    # A fresh CLI process has only the DB's connection to reach the bucket with.
    _insert_row(engine, row)
    assert main(["xcom", "purge", "--older-than", "0s", "--yes"]) == 0
    reset_backend()
    with use_reader(services.secrets):
        assert list(get_backend().store.list_objects()) == []  # type: ignore[union-attr]
    services.close_connection()


def _insert_row(engine: Any, row: XComResult) -> None:
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from tradewind.db.models import DagModel, DagRun
    from tradewind.db.queries import xcom as xcom_queries
    from tradewind.xcom.base import XComKey

    with Session(engine) as s:
        s.add(DagModel(dag_id=row.dag_id))
        s.flush()
        s.add(
            DagRun(
                dag_id=row.dag_id,
                run_id=row.run_id,
                run_after=datetime.now(UTC),
                state="success",
                run_type="manual",
            )
        )
        s.flush()
        key = XComKey(row.dag_id, row.run_id, row.task_id, row.map_index, row.key)
        xcom_queries.set_encoded(s.connection(), key, row.value)
        s.commit()
