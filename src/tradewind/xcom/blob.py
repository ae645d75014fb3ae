"""The stored form of one XCom value (a "blob"): a self-describing header, then the body.

Object-storage and database backends store values in this form, so that compression and
encryption are settings of the writer only: a reader learns from each value's header how it
was written, and values written under older settings stay readable. Everything streams with
bounded memory (a few MiB whatever the value's size), and the plain path (no compression, no
encryption) passes the caller's chunks through untouched, for speed.

Header (version 1)::

    b"TWXC"  version (1)  mode (1)  compression id (1)                       plain: 7 bytes
    ... then, when mode is encrypted:  key id length (1)  key id (ASCII)  salt (16)

Mode ``0x00`` is plain: the body is the (compressed) value. Mode ``0xA5`` is AES-256-GCM
(the two mode bytes differ in four bits, so no single flipped bit turns an encrypted value
into a plain one). An encrypted body is the (compressed) value cut into 1 MiB segments, the
last one shorter (possibly empty), each followed by its 16-byte tag and sealed as described
in :mod:`tradewind.xcom.encryption`: the header is authenticated with every segment, so any
change, reordering, truncation or extension of the value fails with
:class:`~tradewind.xcom.encryption.XComEncryptionError` before any of it is returned.

A plain value has only its codec's checksum: plain bodies without compression are not
checked at all. A reader cannot tell a plain value written by an attacker with write access to
the store from one written before encryption was turned on; encryption guards secrecy and
integrity of the values it sealed.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from tradewind.exceptions import XComError
from tradewind.xcom.compression import (
    ChunkReader,
    check_compression,
    compress_chunks,
    compression_id,
    compression_name,
    open_decompressed,
)
from tradewind.xcom.encryption import (
    SALT_SIZE,
    SETTING,
    TAG_SIZE,
    SegmentCipher,
    XComEncryptionError,
    XComKeyring,
    is_key_id,
    new_salt,
)

MAGIC = b"TWXC"
VERSION = 1
SEGMENT_SIZE = 1 << 20
_PLAIN = 0x00
_ENCRYPTED = 0xA5
_SEALED_SEGMENT = SEGMENT_SIZE + TAG_SIZE


@dataclass(frozen=True)
class BlobInfo:
    """What a stored value's header says: its codec and the id of its key (``None``: plain).

    Read from the header alone, so not authenticated: opening the value checks it.

    >>> info_of(seal_bytes(b"x", compression="lz4"))
    BlobInfo(compression='lz4', key_id=None)
    """

    compression: str
    key_id: str | None

    @property
    def encrypted(self) -> bool:
        """Whether the value is encrypted."""
        return self.key_id is not None


@dataclass(frozen=True)
class _Header:
    info: BlobInfo
    salt: bytes
    raw: bytes


def _encode_header(compression: str, key_id: str | None, salt: bytes) -> bytes:
    head = MAGIC + bytes((VERSION, _PLAIN if key_id is None else _ENCRYPTED))
    head += bytes((compression_id(compression),))
    if key_id is None:
        return head
    encoded = key_id.encode("ascii")
    return head + bytes((len(encoded),)) + encoded + salt


def _read_exact(raw: BinaryIO, size: int) -> bytes:
    """``size`` bytes of ``raw``, fewer only at its end (some streams return short reads)."""
    data = raw.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = raw.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _read_header(raw: BinaryIO) -> _Header:
    start = _read_exact(raw, 7)
    if len(start) < 7 or start[:4] != MAGIC:
        raise XComError("not a Tradewind XCom value (bad header)")
    version, mode, codec = start[4], start[5], start[6]
    if version != VERSION:
        raise XComError(
            f"XCom value has format version {version}; this Tradewind reads version "
            f"{VERSION} (was it written by a newer release?)"
        )
    if mode == _PLAIN:
        return _Header(BlobInfo(compression_name(codec), None), b"", start)
    if mode != _ENCRYPTED:
        raise XComError("not a Tradewind XCom value (bad header)")
    # From here on the header is authenticated data: a damaged field is a failed check.
    length = _read_exact(raw, 1)
    key_id_bytes = _read_exact(raw, length[0]) if length else b""
    salt = _read_exact(raw, SALT_SIZE)
    key_id = key_id_bytes.decode("ascii", errors="replace")
    if not length or len(key_id_bytes) != length[0] or not is_key_id(key_id):
        raise XComEncryptionError("XCom value failed authentication: its header is damaged")
    if len(salt) < SALT_SIZE or codec not in range(4):
        raise XComEncryptionError(
            f"XCom value failed authentication with key {key_id!r}: its header is damaged"
        )
    raw_header = start + length + key_id_bytes + salt
    return _Header(BlobInfo(compression_name(codec), key_id), salt, raw_header)


def read_info(raw: BinaryIO) -> BlobInfo:
    """The header of the value ``raw`` holds, reading only the header.

    >>> read_info(io.BytesIO(seal_bytes(b"x", compression="gzip")))
    BlobInfo(compression='gzip', key_id=None)
    """
    return _read_header(raw).info


def info_of(blob: bytes) -> BlobInfo:
    """The header of a stored value held in memory.

    >>> info_of(seal_bytes(b"x"))
    BlobInfo(compression='none', key_id=None)
    """
    return read_info(io.BytesIO(blob))


def _cipher(keyring: XComKeyring, key_id: str, header: bytes, salt: bytes) -> SegmentCipher:
    return SegmentCipher(keyring.key_for(key_id), salt, header, key_id)


def _seal_segments(body: Iterable[bytes], cipher: SegmentCipher) -> Iterator[bytes]:
    """Cut ``body`` into segments and seal them; the last is sealed once the input ends."""
    pending = bytearray()
    index = 0
    for chunk in body:
        view = memoryview(chunk)
        while view:
            if len(pending) == SEGMENT_SIZE:
                # More input follows, so the held segment is not the last one.
                yield cipher.seal(index, False, pending)
                index += 1
                pending.clear()
            if not pending and len(view) > SEGMENT_SIZE:
                # A whole segment sits in the chunk with more after it: seal it in place.
                yield cipher.seal(index, False, view[:SEGMENT_SIZE])
                index += 1
                view = view[SEGMENT_SIZE:]
                continue
            room = SEGMENT_SIZE - len(pending)
            pending += view[:room]
            view = view[room:]
    yield cipher.seal(index, True, pending)


def _seal_body(
    body: Iterable[bytes], compression: str, keyring: XComKeyring | None
) -> Iterator[bytes]:
    """Header and body of a value whose ``body`` is already compressed with ``compression``."""
    if keyring is None:
        return _prepend(_encode_header(compression, None, b""), body)
    key_id = keyring.primary_id
    salt = new_salt()
    header = _encode_header(compression, key_id, salt)
    cipher = _cipher(keyring, key_id, header, salt)
    return _prepend(header, _seal_segments(body, cipher))


def _prepend(first: bytes, rest: Iterable[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def seal_stream(
    chunks: Iterable[bytes], *, compression: str = "none", keyring: XComKeyring | None = None
) -> Iterator[bytes]:
    """The stored bytes of a value given as chunks, header first; memory stays bounded.

    Settings are checked at once; the chunks are consumed as the result is iterated. With
    neither compression nor encryption the chunks are yielded as they are (empty ones
    skipped), so they must not be changed afterwards.

    >>> ring = XComKeyring([("k1", bytes(32))])
    >>> stored = b"".join(seal_stream([b"ab", b"c"], compression="zstd", keyring=ring))
    >>> open_bytes(stored, ring)
    b'abc'
    """
    name = check_compression(compression)
    return _seal_body(compress_chunks(chunks, name), name, keyring)


class _PlainBody(ChunkReader):
    """The body of a plain value: reads go straight to the source."""

    def _next_chunk(self, size: int) -> bytes:
        return self._source.read(size)

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size >= 0:
            return super().read(size)
        if self.closed:
            raise ValueError("I/O operation on closed XCom value stream")
        held = super().read(len(self._chunk) - self._pos)
        if self._exhausted:
            return held
        # One read of the rest saves joining pieces: a copy of the whole value.
        self._exhausted = True
        rest = _read_rest(self._source)
        return held + rest if held else rest


def _read_rest(source: BinaryIO) -> bytes:
    """The rest of ``source``, in one allocation when its length is known: a buffered
    file's ``read()`` joins what it buffered with the rest, a second copy of a big value,
    while ``read(n)`` reads straight into the result."""
    try:
        here = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(here)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return source.read()
    return source.read(max(end - here, 0)) + source.read()


class _DecryptedBody(ChunkReader):
    """The body of an encrypted value, each segment released only once it verified."""

    def __init__(self, source: BinaryIO, cipher: SegmentCipher) -> None:
        super().__init__(source)
        self._cipher = cipher
        self._index = 0
        self._ahead: bytes | None = None
        self._finished = False

    def _next_chunk(self, size: int) -> bytes:
        while not self._finished:
            current = self._ahead
            if current is None:
                current = _read_exact(self._source, _SEALED_SEGMENT)
            # A full segment is the last one only if nothing follows it, so read one ahead.
            self._ahead = (
                _read_exact(self._source, _SEALED_SEGMENT)
                if len(current) == _SEALED_SEGMENT
                else b""
            )
            last = not self._ahead
            plaintext = self._cipher.open(self._index, last, current)
            self._index += 1
            self._finished = last
            if plaintext:
                return plaintext
        return b""


def _open_body(raw: BinaryIO, header: _Header, keyring: XComKeyring | None) -> ChunkReader:
    """The value's body, decrypted but still compressed."""
    key_id = header.info.key_id
    if key_id is None:
        return _PlainBody(raw)
    if keyring is None:
        raise XComEncryptionError(
            f"XCom value is encrypted (key {key_id!r}): set {SETTING} to read it"
        )
    return _DecryptedBody(raw, _cipher(keyring, key_id, header.raw, header.salt))


def open_blob(raw: BinaryIO, keyring: XComKeyring | None = None) -> BinaryIO:
    """A readable stream of the value stored in ``raw``, verified as it is read.

    Reads the header at once (and raises :class:`XComError` for a stream that is not a
    stored value, :class:`XComEncryptionError` for an encrypted one without its key); damage
    further on raises when reading reaches it. Closing the stream closes ``raw``.

    >>> with open_blob(io.BytesIO(seal_bytes(b"hello", compression="gzip"))) as value:
    ...     value.read(2), value.read()
    (b'he', b'llo')
    """
    header = _read_header(raw)
    body = _open_body(raw, header, keyring)
    return open_decompressed(body, header.info.compression)


def seal_bytes(
    data: bytes, *, compression: str = "none", keyring: XComKeyring | None = None
) -> bytes:
    """The stored bytes of a small value held in memory.

    Overhead when plain: a 7-byte header. When encrypted: a header of 24 bytes plus the key
    id's length, and a 16-byte tag per started MiB of (compressed) data, at least one.

    >>> len(seal_bytes(b"hello"))
    12
    """
    return b"".join(seal_stream((data,), compression=compression, keyring=keyring))


def open_bytes(blob: bytes, keyring: XComKeyring | None = None) -> bytes:
    """The value a stored value held in memory holds.

    >>> open_bytes(seal_bytes(b"hello", compression="lz4"))
    b'hello'
    """
    with open_blob(io.BytesIO(blob), keyring) as value:
        return value.read()


def reseal(
    raw: BinaryIO, *, keyring: XComKeyring, compression: str | None = None
) -> Iterator[bytes]:
    """The value in ``raw`` stored again under the keyring's primary key (for key rotation).

    Keeps the value's codec unless ``compression`` is given; when the codec stays, the
    compressed data is carried over without recompressing. Streams, and closes ``raw`` at
    the end. A plain value comes out encrypted.

    >>> old, new = ("k1", bytes(32)), ("k2", bytes(range(32)))
    >>> stored = seal_bytes(b"x", keyring=XComKeyring([old]))
    >>> rotated = b"".join(reseal(io.BytesIO(stored), keyring=XComKeyring([new, old])))
    >>> info_of(rotated).key_id, open_bytes(rotated, XComKeyring([new]))
    ('k2', b'x')
    """
    header = _read_header(raw)
    source = header.info.compression
    target = source if compression is None else check_compression(compression)
    body = _open_body(raw, header, keyring)
    if target == source:
        return _seal_body(_closing(body, body.iter_chunks()), target, keyring)
    value = open_decompressed(body, source)
    chunks = _closing(value, iter(lambda: value.read(SEGMENT_SIZE), b""))
    return _seal_body(compress_chunks(chunks, target), target, keyring)


def _closing(stream: BinaryIO, chunks: Iterator[bytes]) -> Iterator[bytes]:
    with stream:
        yield from chunks


def needs_reseal(info: BlobInfo, keyring: XComKeyring | None) -> bool:
    """Whether :func:`reseal` would change how a value is stored: it is not encrypted with
    the primary key while a keyring is set (so also when it is plain).

    >>> ring = XComKeyring([("k2", bytes(32)), ("k1", bytes(32))])
    >>> needs_reseal(BlobInfo("none", "k1"), ring), needs_reseal(BlobInfo("none", "k2"), ring)
    (True, False)
    >>> needs_reseal(BlobInfo("none", None), ring), needs_reseal(BlobInfo("none", None), None)
    (True, False)
    """
    return keyring is not None and info.key_id != keyring.primary_id
