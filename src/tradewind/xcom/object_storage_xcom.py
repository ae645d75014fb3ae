"""The default XCom backend: small values in the metadata DB, larger ones in object storage.

A value whose encoded text is over ``xcom.objectstorage_threshold`` bytes (default: the DB
limit, ``xcom.max_db_bytes``) is written to ``xcom.objectstorage_path`` (default
``file://$TRADEWIND_HOME/xcom``; any URL fsspec speaks) under a key built from its DAG, run,
task, map index and XCom key plus a unique suffix, and the row keeps a reference of a few
hundred bytes. ``bytes`` values are stored as they are, not as text, and files
(:class:`~tradewind.xcom.files.XComFile`, open binary files) always go to storage, streamed.

Stored data is compressed with ``xcom.compression`` (none, gzip, zstd, lz4) and, with
``xcom.encryption_keys`` set, sealed with AES-256-GCM; so are values kept in the DB. With
``xcom.objectstorage_path`` empty, nothing spills: a value over the DB limit fails at push
time, naming the setting. Reads of stored data may go through a read cache
(:mod:`tradewind.xcom.cache`).

>>> backend = ObjectStorageXCom()
>>> text = backend.serialize_value(b"x" * 100_000, key="k", task_id="t", dag_id="d", run_id="r")
>>> len(text) < 512 and backend.deserialize_value(XComResult("d", "r", "t", -1, "k", text))[:3]
b'xxx'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from tradewind import config
from tradewind.exceptions import XComError
from tradewind.serialization import codec
from tradewind.xcom import blob
from tradewind.xcom.backend import (
    BaseXCom,
    XComResult,
    int_setting,
    utf8_length,
)
from tradewind.xcom.cache import ReadCache, cache_from_config
from tradewind.xcom.compression import check_compression
from tradewind.xcom.encryption import XComKeyring
from tradewind.xcom.files import CHUNK_BYTES, XComFile, as_xcom_file, is_file_value
from tradewind.xcom.object_store import MissingObjectError, ObjectStore, store_from_config
from tradewind.xcom.reference import REF_START, StoredRef, parse_ref, parse_sealed, sealed_text

THRESHOLD_SETTING = "xcom.objectstorage_threshold"


class ObjectStorageXCom(BaseXCom):
    """Spills values over a threshold to object storage; compresses and encrypts what it
    stores. See the module's description for the settings."""

    def __init__(self) -> None:
        super().__init__()
        self._store: ObjectStore | None = None
        self._store_made = False
        threshold = int_setting(
            THRESHOLD_SETTING, config.get("xcom", "objectstorage_threshold"), self.max_db_bytes
        )
        #: A value over the DB limit never stays in the DB, whatever the threshold says.
        self.threshold = min(threshold, self.max_db_bytes)
        self.compression = check_compression(str(config.get("xcom", "compression") or "none"))
        self.keyring = XComKeyring.from_setting(config.get("xcom", "encryption_keys"))
        self.cache: ReadCache | None = cache_from_config()

    @property
    def store(self) -> ObjectStore | None:
        """Where values over the threshold go (``None``: nowhere). Made when first needed:
        it brings fsspec with it, which most task processes never need."""
        if not self._store_made:
            self._store = store_from_config()
            self._store_made = True
        return self._store

    # -- push -------------------------------------------------------------------------

    def serialize_value(
        self,
        value: Any,
        *,
        key: str | None = None,
        task_id: str | None = None,
        dag_id: str | None = None,
        run_id: str | None = None,
        map_index: int | None = None,
    ) -> str:
        where = _Where(
            dag_id or "",
            run_id or "",
            task_id or "",
            -1 if map_index is None else map_index,
            key or "",
        )
        if is_file_value(value):
            pushed = as_xcom_file(value)
            return self._write(where, "file", pushed.chunks())
        if type(value) is bytes and len(value) > self.threshold and self.store is not None:
            return self._write(where, "bytes", _slices(memoryview(value)))
        text = codec.encode(value)
        size = utf8_length(text)
        if size > self.threshold and self.store is not None:
            return self._write(where, "value", _text_chunks(text))
        if self.keyring is not None:
            text = sealed_text(blob.seal_bytes(text.encode(), keyring=self.keyring))
            size = len(text)
        self.check_db_size(size, key, task_id)
        return text

    def _write(self, where: _Where, kind: str, chunks: Iterable[bytes]) -> str:
        if self.store is None:
            raise XComError(
                f"cannot push a file as XCom {where.key!r} of task {where.task_id!r}: files go "
                "to object storage, and xcom.objectstorage_path is empty"
            )
        url = self.store.object_url(
            where.dag_id, where.run_id, where.task_id, where.map_index, where.key
        )
        counted = _Counted(chunks)
        with self.store.open_write(url) as out:
            for part in blob.seal_stream(
                counted, compression=self.compression, keyring=self.keyring
            ):
                out.write(part)
        return StoredRef(url, counted.size, kind).to_text()  # type: ignore[arg-type]

    # -- pull -------------------------------------------------------------------------

    def deserialize_value(self, result: XComResult) -> Any:
        ref = parse_ref(result.value)
        if ref is not None:
            try:
                return self._load(ref)
            except MissingObjectError:
                raise XComError(
                    f"XCom {result.key!r} of task {result.task_id!r} in run {result.run_id!r} "
                    f"refers to {ref.url}, which is gone from object storage"
                ) from None
        sealed = parse_sealed(result.value)
        if sealed is not None:
            return codec.decode(blob.open_bytes(sealed, keyring=self.keyring))
        return codec.decode(result.value)

    def _load(self, ref: StoredRef) -> Any:
        if ref.kind == "file":
            return XComFile.stored(ref.url, ref.size, lambda: self._open_stored(ref.url))
        data = self._read_stored(ref)
        if ref.kind == "bytes":
            return data if isinstance(data, bytes) else bytes(data)
        return codec.decode(data)  # type: ignore[arg-type]  # any buffer parses

    def _open_stored(self, url: str) -> BinaryIO:
        return blob.open_blob(self.store_for(url).open_read(url), keyring=self.keyring)

    def _read_stored(self, ref: StoredRef) -> bytes | bytearray:
        """A stored value's content. The cache keeps what is stored (encrypted, when it
        is), by URL: stored objects never change."""
        url = ref.url
        store = self.store_for(url)
        if self.cache is None:
            with blob.open_blob(store.open_read(url), keyring=self.keyring) as stream:
                if store.is_local:
                    return stream.read()  # a plain local value: read in one allocation
                return _read_exactly(stream, ref.size, url)
        raw = self.cache.get(url)
        if raw is None:
            raw = store.read_bytes(url)
            self.cache.put(url, raw)
        return blob.open_bytes(raw, keyring=self.keyring)

    def store_for(self, url: str) -> ObjectStore:
        """The store, when ``url`` lies in it: a row can never make a reader open anything
        outside ``xcom.objectstorage_path``."""
        if self.store is None:
            raise XComError(
                f"this XCom value is in object storage ({url}), but xcom.objectstorage_path "
                "is empty here"
            )
        if not self.store.owns(url):
            raise XComError(
                f"this XCom value is stored at {url}, outside xcom.objectstorage_path "
                f"({self.store.url}); refusing to read it"
            )
        return self.store

    def orm_deserialize_value(self, result: XComResult) -> Any:
        ref = parse_ref(result.value)
        if ref is not None:
            return f"<{ref.kind} of {ref.size} bytes in object storage: {ref.url}>"
        sealed = parse_sealed(result.value)
        if sealed is not None:  # previewed as the text it seals
            text = blob.open_bytes(sealed, keyring=self.keyring).decode()
            return super().orm_deserialize_value(dataclasses.replace(result, value=text))
        return super().orm_deserialize_value(result)

    # -- purge ------------------------------------------------------------------------

    purged_prefix = REF_START.encode()

    @property
    def purges(self) -> bool:
        return self.store is not None

    def purge(self, result: XComResult) -> None:
        self.purge_many([result])

    def purge_many(self, results: Iterable[XComResult]) -> None:
        """Delete the stored data of these rows, in one batch."""
        urls = [ref.url for r in results if (ref := parse_ref(r.value)) is not None]
        if not urls or self.store is None:
            return
        owned = [u for u in urls if self.store.owns(u)]
        self.store.delete(owned)
        if self.cache is not None:
            for url in owned:
                self.cache.discard(url)


class _Where:
    __slots__ = ("dag_id", "key", "map_index", "run_id", "task_id")

    def __init__(self, dag_id: str, run_id: str, task_id: str, map_index: int, key: str) -> None:
        self.dag_id, self.run_id, self.task_id = dag_id, run_id, task_id
        self.map_index, self.key = map_index, key


class _Counted:
    """Chunks passed on as they are, counting their bytes."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.size += len(chunk)
            yield chunk


def _read_exactly(stream: BinaryIO, size: int, url: str) -> bytearray:
    """All of ``stream``, which the reference says is ``size`` bytes, read into one buffer
    of that size: remote readers build a whole read from pieces (a second copy of a big
    value), while this holds the value once plus a chunk."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    done = 0
    while done < size:
        got = stream.readinto(view[done : done + CHUNK_BYTES])  # type: ignore[attr-defined]
        if not got:
            break
        done += got
    view.release()
    if done != size or stream.read(1):
        raise XComError(f"the XCom value at {url} is not the {size} bytes its reference says")
    return buffer


def _slices(data: memoryview) -> Iterator[bytes]:
    """``data`` a chunk at a time, without copying it whole."""
    for start in range(0, len(data), CHUNK_BYTES):
        yield data[start : start + CHUNK_BYTES]  # type: ignore[misc]


def _text_chunks(text: str) -> Iterator[bytes]:
    """``text`` as UTF-8, a chunk at a time (the pieces' encodings concatenate to the
    whole's), so a big value is never held twice."""
    for start in range(0, len(text), CHUNK_BYTES):
        yield text[start : start + CHUNK_BYTES].encode()
