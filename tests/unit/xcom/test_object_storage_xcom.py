"""The default XCom backend: small values in the row, large ones in object storage (a local
folder here; S3 and GCS in tests/integration/test_xcom_backends.py), compressed and
encrypted as configured, with clear errors for what cannot be stored."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tradewind import config
from tradewind.exceptions import XComError
from tradewind.xcom.backend import BaseXCom, XComResult, get_backend, load_backend, reset_backend
from tradewind.xcom.encryption import XComEncryptionError, generate_key_entry
from tradewind.xcom.files import XComFile
from tradewind.xcom.object_storage_xcom import ObjectStorageXCom
from tradewind.xcom.reference import parse_ref

WHERE: dict[str, Any] = {"dag_id": "d", "run_id": "manual__1", "task_id": "t", "map_index": -1}


@pytest.fixture(autouse=True)
def _fresh_backend() -> Iterator[None]:
    reset_backend()
    yield
    reset_backend()


def push(backend: BaseXCom, value: Any, key: str = "return_value") -> XComResult:
    text = backend.serialize_value(value, key=key, **WHERE)
    return XComResult(WHERE["dag_id"], WHERE["run_id"], WHERE["task_id"], -1, key, text)


def stored_files() -> list[Path]:
    root = config.home() / "xcom"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_small_values_stay_in_the_row_and_large_ones_spill_to_the_home_folder() -> None:
    backend = get_backend()
    assert isinstance(backend, ObjectStorageXCom)
    small = push(backend, {"rows": (1, 2)})
    assert parse_ref(small.value) is None and stored_files() == []
    big_value = {"rows": list(range(20_000))}
    big = push(backend, big_value)
    assert len(big.value.encode()) <= 512
    assert [p.name.startswith("return_value-") for p in stored_files()] == [True]
    assert backend.deserialize_value(big) == big_value
    assert backend.deserialize_value(small) == {"rows": (1, 2)}


def test_bytes_are_stored_as_they_are_and_come_back_as_bytes() -> None:
    backend = get_backend()
    data = bytes(range(256)) * 1000
    row = push(backend, data)
    [path] = stored_files()
    assert path.stat().st_size < len(data) + 64  # raw, not base64 text
    assert backend.deserialize_value(row) == data


def test_files_move_by_streaming_and_come_back_as_readable_files(tmp_path: Path) -> None:
    source = tmp_path / "export.csv"
    source.write_bytes(b"a,b\n" + b"1,2\n" * 10_000)
    backend = get_backend()
    pulled = backend.deserialize_value(push(backend, XComFile(source)))
    assert isinstance(pulled, XComFile) and pulled.size == source.stat().st_size
    with pulled.open() as stream:
        assert stream.readline() == b"a,b\n"
    assert pulled.read_bytes() == source.read_bytes()
    # An open binary file works as well, even a small one (files always go to storage).
    again = backend.deserialize_value(push(backend, io.BytesIO(b"tiny"), key="other"))
    assert again.read_text() == "tiny"
    # A pulled file pushed again is copied.
    copied = backend.deserialize_value(push(backend, pulled, key="copy"))
    assert copied.read_bytes() == source.read_bytes() and copied.url != pulled.url


def test_without_object_storage_a_value_over_the_db_limit_fails_naming_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADEWIND__XCOM__OBJECTSTORAGE_PATH", "")
    monkeypatch.setenv("TRADEWIND__XCOM__MAX_DB_BYTES", "1000")
    backend = get_backend()
    push(backend, "x" * 900)
    with pytest.raises(XComError) as err:
        push(backend, "x" * 2000)
    message = str(err.value)
    assert "xcom.max_db_bytes" in message and "xcom.objectstorage_path" in message
    assert "'t'" in message and "'return_value'" in message
    with pytest.raises(XComError, match=r"xcom.objectstorage_path is empty"):
        push(backend, io.BytesIO(b"data"))


def test_the_threshold_decides_what_spills(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND__XCOM__OBJECTSTORAGE_THRESHOLD", "100")
    backend = get_backend()
    assert parse_ref(push(backend, "x" * 50).value) is None
    assert parse_ref(push(backend, "x" * 500).value) is not None


@pytest.mark.parametrize("compression", ["gzip", "zstd", "lz4"])
def test_compressed_values_are_smaller_in_storage_and_read_back(
    monkeypatch: pytest.MonkeyPatch, compression: str
) -> None:
    monkeypatch.setenv("TRADEWIND__XCOM__COMPRESSION", compression)
    backend = get_backend()
    value = ["the same words again"] * 20_000
    row = push(backend, value)
    [path] = stored_files()
    assert path.stat().st_size < 100_000
    assert backend.deserialize_value(row) == value


def test_bad_settings_are_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND__XCOM__COMPRESSION", "brotli")
    with pytest.raises(ValueError, match=r"xcom.compression"):
        get_backend()
    reset_backend()
    monkeypatch.setenv("TRADEWIND__XCOM__COMPRESSION", "none")
    monkeypatch.setenv("TRADEWIND__XCOM__MAX_DB_BYTES", "lots")
    with pytest.raises(XComError, match=r"xcom.max_db_bytes"):
        get_backend()
    reset_backend()
    monkeypatch.setenv("TRADEWIND__XCOM__MAX_DB_BYTES", "1000")
    monkeypatch.setenv("TRADEWIND__XCOM__ENCRYPTION_KEYS", "k1:not-a-key")
    with pytest.raises(ValueError, match=r"xcom.encryption_keys") as err:
        get_backend()
    assert "not-a-key" not in str(err.value)


def test_encrypted_values_hold_no_plaintext_in_the_row_or_the_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADEWIND__XCOM__ENCRYPTION_KEYS", generate_key_entry("k1"))
    backend = get_backend()
    small = push(backend, "secret-token-123")
    assert "secret-token-123" not in small.value
    assert backend.deserialize_value(small) == "secret-token-123"
    big = push(backend, ["secret-token-123"] * 10_000, key="big")
    [path] = stored_files()
    assert b"secret-token-123" not in path.read_bytes()
    assert backend.deserialize_value(big) == ["secret-token-123"] * 10_000
    # A tampered object fails authentication; it never decodes to garbage.
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(XComEncryptionError):
        backend.deserialize_value(big)
    # Another deployment's key cannot read it.
    reset_backend()
    monkeypatch.setenv("TRADEWIND__XCOM__ENCRYPTION_KEYS", generate_key_entry("k2"))
    with pytest.raises(XComEncryptionError, match="k1"):
        get_backend().deserialize_value(small)


def test_purge_removes_the_stored_object_and_refuses_references_outside_the_store(
    tmp_path: Path,
) -> None:
    backend = get_backend()
    row = push(backend, b"x" * 100_000)
    assert len(stored_files()) == 1
    backend.purge(row)
    assert stored_files() == []
    backend.purge(row)  # already gone: fine
    outside = tmp_path / "elsewhere"
    outside.write_bytes(b"private")
    forged = row.value.replace(parse_ref(row.value).url, f"file://{outside}")  # type: ignore[union-attr]
    with pytest.raises(XComError, match=r"outside xcom\.objectstorage_path"):
        backend.deserialize_value(XComResult("d", "r", "t", -1, "k", forged))
    backend.purge(XComResult("d", "r", "t", -1, "k", forged))
    assert outside.exists()


def test_the_disk_read_cache_serves_hot_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND__XCOM__CACHE", "disk")
    backend = get_backend()
    value = list(range(30_000))
    row = push(backend, value)
    assert backend.deserialize_value(row) == value
    [path] = stored_files()
    path.unlink()  # the cache has it now
    assert backend.deserialize_value(row) == value
    backend.purge(row)  # and purging drops it from the cache too
    with pytest.raises(XComError):
        backend.deserialize_value(row)


class Shouting(BaseXCom):
    def serialize_value(self, value: Any, **where: Any) -> str:
        return super().serialize_value(str(value).upper(), **where)


def test_a_custom_backend_is_chosen_by_class_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND__XCOM__BACKEND", f"{__name__}.Shouting")
    backend = get_backend()
    assert isinstance(backend, Shouting)
    assert backend.deserialize_value(push(backend, "hi")) == "HI"
    with pytest.raises(XComError, match="cannot be imported"):
        load_backend("no_such_module.Backend")
    with pytest.raises(XComError, match="not a subclass"):
        load_backend("collections.OrderedDict")
    with pytest.raises(XComError, match="class path"):
        load_backend("Backend")


def test_previews_never_download_stored_values() -> None:
    backend = get_backend()
    row = push(backend, b"x" * 100_000)
    [path] = stored_files()
    path.unlink()
    preview = backend.orm_deserialize_value(row)
    assert "100000 bytes" in preview and "object storage" in preview
    assert backend.orm_deserialize_value(push(backend, [1, 2])) == [1, 2]
