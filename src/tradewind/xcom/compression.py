"""Compression of stored XCom values: the ``xcom.compression`` setting and its streaming codecs.

A stored value (see :mod:`tradewind.xcom.blob`) names its codec in its header by a 1-byte id,
so values written under one setting stay readable after the setting changes. Every codec works
on streams with bounded memory: :func:`compress_chunks` turns an iterable of chunks into
compressed chunks without holding the whole input, and :func:`open_decompressed` turns a
readable compressed stream into a readable plaintext stream that never produces more than one
bounded piece per step, so a small hostile input cannot make one read allocate gigabytes.

Each codec checks its own integrity (gzip's CRC-32, zstd's and lz4's content checksums) and
a truncated or extended stream is an error too: corrupt data raises :class:`XComError`, never a
codec's internal exception and never a silently shortened value.

``zstandard`` and ``lz4`` are imported only when their codec is used.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, BinaryIO, Protocol, cast

from tradewind.exceptions import XComError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

COMPRESSIONS = ("none", "gzip", "zstd", "lz4")

# The id each codec has in a blob header. Stored values depend on these: never renumber.
_IDS = {"none": 0, "gzip": 1, "zstd": 2, "lz4": 3}
_NAMES = {number: name for name, number in _IDS.items()}

# A compressor is fed at most this much at a time and a decompressor produces at most this
# much per step, so a huge input chunk or a tiny, hugely expanding input stays bounded.
PIECE_SIZE = 1 << 20
# Compressed bytes read from the source per step.
_READ_SIZE = 1 << 18

_GZIP_WBITS = 31  # zlib's window bits for the gzip wrapper (header and CRC-32 trailer)
_GZIP_LEVEL = 6
_ZSTD_LEVEL = 3


def check_compression(name: str) -> str:
    """The normalized name of an ``xcom.compression`` setting; ``ValueError`` if unknown.

    >>> check_compression(" ZSTD ")
    'zstd'
    >>> check_compression("")
    'none'
    """
    normalized = name.strip().lower() or "none"
    if normalized not in _IDS:
        raise ValueError(f"xcom.compression must be one of {', '.join(COMPRESSIONS)}; got {name!r}")
    return normalized


def compression_id(name: str) -> int:
    """The 1-byte header id of a (normalized) codec name.

    >>> compression_id("gzip")
    1
    """
    return _IDS[name]


def compression_name(number: int) -> str:
    """The codec a header id stands for; :class:`XComError` for an id no codec has.

    >>> compression_name(2)
    'zstd'
    """
    try:
        return _NAMES[number]
    except KeyError:
        raise XComError(f"XCom value uses an unknown compression (id {number})") from None


class _Compressor(Protocol):
    def compress(self, data: bytes | memoryview, /) -> bytes: ...

    def flush(self) -> bytes: ...


def _new_compressor(name: str) -> tuple[bytes, _Compressor]:
    """A fresh compressor and the bytes it starts its stream with."""
    if name == "gzip":
        return b"", zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
    if name == "zstd":
        import zstandard

        # The checksum makes corruption of an unencrypted value an error, not garbage.
        zstd = zstandard.ZstdCompressor(level=_ZSTD_LEVEL, write_checksum=True)
        return b"", zstd.compressobj()
    import lz4.frame

    lz4_compressor = lz4.frame.LZ4FrameCompressor(content_checksum=True)
    return lz4_compressor.begin(), lz4_compressor


def compress_chunks(chunks: Iterable[bytes], compression: str) -> Iterator[bytes]:
    """Compress a stream of chunks with a (normalized) codec, yielding non-empty pieces.

    ``"none"`` yields the input chunks themselves, skipping empty ones.

    >>> import gzip
    >>> gzip.decompress(b"".join(compress_chunks([b"ab", b"c"], "gzip")))
    b'abc'
    """
    if compression == "none":
        yield from (chunk for chunk in chunks if chunk)
        return
    start, compressor = _new_compressor(compression)
    if start:
        yield start
    for chunk in chunks:
        view = memoryview(chunk)
        for offset in range(0, len(view), PIECE_SIZE):
            out = compressor.compress(view[offset : offset + PIECE_SIZE])
            if out:
                yield out
    end = compressor.flush()
    if end:
        yield end


class ChunkReader(io.BufferedIOBase, BinaryIO):
    """A readable binary stream over chunks that a subclass produces one at a time.

    Subclasses implement :meth:`_next_chunk`; this class serves ``read``, ``read1``,
    ``readinto`` and friends from the current chunk, handing a chunk over without a copy when
    the caller asks for exactly what it holds. Closing the reader closes its source.
    """

    def __init__(self, source: BinaryIO) -> None:
        super().__init__()
        self._source = source
        self._chunk = b""
        self._pos = 0
        self._exhausted = False
        self._failure: XComError | None = None

    def _next_chunk(self, size: int) -> bytes:
        """The next non-empty chunk, ``b""`` at the end; ``size`` (> 0) is a hint."""
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def _fill(self, size: int) -> bool:
        """Make sure the current chunk has unread bytes; ``False`` at the end of the stream."""
        if self.closed:
            raise ValueError("I/O operation on closed XCom value stream")
        if self._pos < len(self._chunk):
            return True
        self._chunk, self._pos = b"", 0
        if self._exhausted:
            return False
        # Once the data failed a check, every later read fails too: a caller that catches the
        # error and reads on must not get a quietly shortened value.
        if self._failure is not None:
            raise self._failure
        try:
            chunk = self._next_chunk(max(size, 1))
        except XComError as failure:
            self._failure = failure
            raise
        if not chunk:
            self._exhausted = True
            return False
        self._chunk = chunk
        return True

    def _take(self, size: int) -> bytes | memoryview:
        start = self._pos
        end = min(start + size, len(self._chunk))
        self._pos = end
        if start == 0 and end == len(self._chunk):
            return self._chunk
        return memoryview(self._chunk)[start:end]

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(self.iter_chunks())
        parts: list[bytes | memoryview] = []
        wanted = size
        while wanted > 0 and self._fill(wanted):
            part = self._take(wanted)
            parts.append(part)
            wanted -= len(part)
        if len(parts) == 1 and isinstance(parts[0], bytes):
            return parts[0]
        return b"".join(parts)

    def read1(self, size: int = -1) -> bytes:
        if size == 0 or not self._fill(size if size > 0 else PIECE_SIZE):
            return b""
        return bytes(self._take(size if size > 0 else len(self._chunk)))

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self._fill(len(view) - filled):
            part = self._take(len(view) - filled)
            view[filled : filled + len(part)] = part
            filled += len(part)
        return filled

    def iter_chunks(self, size: int = PIECE_SIZE) -> Iterator[bytes]:
        """The rest of the stream as chunks of whatever size the source gives (about ``size``)."""
        while self._fill(size):
            yield bytes(self._take(len(self._chunk)))

    def close(self) -> None:
        if not self.closed:
            self._chunk = b""
            try:
                self._source.close()
            finally:
                super().close()


def _corrupt(compression: str, problem: str) -> XComError:
    return XComError(f"XCom value is corrupt: its {compression} data {problem}")


class _Decompressor(ChunkReader):
    """Shared end-of-stream check: nothing may follow the compressed data."""

    _codec = ""

    def _check_nothing_follows(self, unused: bytes) -> None:
        if unused or self._source.read(1):
            raise _corrupt(self._codec, "is followed by unexpected bytes")


class _GzipReader(_Decompressor):
    _codec = "gzip"

    def __init__(self, source: BinaryIO) -> None:
        super().__init__(source)
        self._inflate = zlib.decompressobj(_GZIP_WBITS)

    def _next_chunk(self, size: int) -> bytes:
        limit = min(size, PIECE_SIZE)
        while not self._inflate.eof:
            data = self._inflate.unconsumed_tail or self._source.read(_READ_SIZE)
            try:
                out = self._inflate.decompress(data, limit)
            except zlib.error as error:
                raise _corrupt(self._codec, f"is damaged ({error})") from None
            if out:
                return out
            if not data and not self._inflate.eof:
                raise _corrupt(self._codec, "ends early (truncated)")
        self._check_nothing_follows(self._inflate.unused_data)
        return b""


class _Lz4Reader(_Decompressor):
    _codec = "lz4"

    def __init__(self, source: BinaryIO) -> None:
        super().__init__(source)
        import lz4.frame

        self._frame = lz4.frame.LZ4FrameDecompressor()

    def _next_chunk(self, size: int) -> bytes:
        limit = min(size, PIECE_SIZE)
        while not self._frame.eof:
            data = self._source.read(_READ_SIZE) if self._frame.needs_input else b""
            if self._frame.needs_input and not data:
                raise _corrupt(self._codec, "ends early (truncated)")
            try:
                out: bytes = self._frame.decompress(data, max_length=limit)
            except RuntimeError as error:
                raise _corrupt(self._codec, f"is damaged ({error})") from None
            if out:
                return out
        self._check_nothing_follows(self._frame.unused_data or b"")
        return b""


class _ZstdFrameWatcher:
    """Follows the block structure of the one zstd frame passing through, to see it end.

    ``zstandard``'s bounded reader returns a truncated frame's output without complaint, so
    this notices whether the frame's last block (and checksum) arrived and whether anything
    came after it. It skips block contents by their sizes: no per-byte work.
    """

    def __init__(self) -> None:
        self._head = bytearray()
        self._want = 5  # the magic number and the frame header descriptor
        self._skip = 0
        self._in_frame_header = True
        self._checksum = False
        self._finishing = False
        self.done = False
        self.trailing = False

    def feed(self, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            if self.done:
                self.trailing = True
                return
            if self._skip:
                step = min(self._skip, len(data) - pos)
                self._skip -= step
                pos += step
                self.done = self._finishing and not self._skip
                continue
            step = min(self._want - len(self._head), len(data) - pos)
            self._head += data[pos : pos + step]
            pos += step
            if len(self._head) == self._want:
                head = bytes(self._head)
                self._head.clear()
                self._on_header(head)

    def _on_header(self, head: bytes) -> None:
        if self._in_frame_header:
            self._in_frame_header = False
            descriptor = head[4]
            fcs_flag = descriptor >> 6
            single_segment = bool(descriptor & 0x20)
            self._checksum = bool(descriptor & 0x04)
            window = 0 if single_segment else 1
            dictionary = (0, 1, 2, 4)[descriptor & 0x03]
            content_size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
            self._skip = window + dictionary + content_size
            self._want = 3
            return
        block = int.from_bytes(head, "little")
        size = 1 if (block >> 1) & 0x03 == 1 else block >> 3  # an RLE block holds one byte
        self._skip = size
        if block & 0x01:
            self._skip += 4 if self._checksum else 0
            self._finishing = True
            self.done = not self._skip


class _WatchedSource:
    """The compressed source, shown to a :class:`_ZstdFrameWatcher` as it is read."""

    def __init__(self, source: BinaryIO, watcher: _ZstdFrameWatcher) -> None:
        self._source = source
        self._watcher = watcher

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self._watcher.feed(data)
        return data


class _ZstdReader(_Decompressor):
    _codec = "zstd"

    def __init__(self, source: BinaryIO) -> None:
        super().__init__(source)
        import zstandard

        self._error = zstandard.ZstdError
        self._watcher = _ZstdFrameWatcher()
        # The reader only ever calls read() on its source.
        watched = cast(BinaryIO, _WatchedSource(source, self._watcher))
        self._frame = zstandard.ZstdDecompressor().stream_reader(watched, read_size=_READ_SIZE)

    def _next_chunk(self, size: int) -> bytes:
        try:
            out = self._frame.read(min(size, PIECE_SIZE))
        except self._error as error:
            # The reader goes on past the frame's end, so junk after it shows up here.
            problem = "is followed by unexpected bytes" if self._watcher.trailing else ""
            raise _corrupt(self._codec, problem or f"is damaged ({error})") from None
        if out:
            return out
        if not self._watcher.done:
            raise _corrupt(self._codec, "ends early (truncated)")
        self._check_nothing_follows(b"\0" if self._watcher.trailing else b"")
        return b""


def open_decompressed(source: BinaryIO, compression: str) -> BinaryIO:
    """A readable stream of what ``source`` holds compressed with a (normalized) codec.

    Reading returns data incrementally; damaged, truncated or extended data raises
    :class:`XComError`. Closing the stream closes ``source``.

    >>> import io
    >>> packed = b"".join(compress_chunks([b"hello"], "zstd"))
    >>> open_decompressed(io.BytesIO(packed), "zstd").read()
    b'hello'
    """
    readers: dict[str, type[_Decompressor]] = {
        "gzip": _GzipReader,
        "zstd": _ZstdReader,
        "lz4": _Lz4Reader,
    }
    if compression == "none":
        return source
    return readers[compression](source)
