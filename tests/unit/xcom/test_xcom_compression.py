"""The ``xcom.compression`` setting and its streaming codecs."""

from __future__ import annotations

import io
import os
import tracemalloc
from collections.abc import Iterator

import pytest

from tradewind.exceptions import XComError
from tradewind.xcom.compression import (
    COMPRESSIONS,
    ChunkReader,
    check_compression,
    compress_chunks,
    compression_id,
    compression_name,
    open_decompressed,
)

CODECS = [name for name in COMPRESSIONS if name != "none"]
MIB = 1 << 20


def packed(data: bytes, codec: str, piece: int = 4096) -> bytes:
    chunks = [data[i : i + piece] for i in range(0, len(data), piece)]
    return b"".join(compress_chunks(chunks, codec))


def unpacked(stored: bytes, codec: str) -> bytes:
    with open_decompressed(io.BytesIO(stored), codec) as stream:
        return stream.read()


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("zstd", "zstd"), (" LZ4 ", "lz4"), ("Gzip", "gzip"), ("", "none"), ("  ", "none")],
)
def test_compression_setting_is_normalized(setting: str, expected: str) -> None:
    assert check_compression(setting) == expected


def test_unknown_compression_setting_names_the_setting_and_the_choices() -> None:
    with pytest.raises(ValueError, match=r"xcom\.compression") as raised:
        check_compression("brotli")
    assert "none, gzip, zstd, lz4" in str(raised.value)
    assert "brotli" in str(raised.value)


def test_codec_ids_are_stable() -> None:
    assert [compression_id(name) for name in COMPRESSIONS] == [0, 1, 2, 3]
    assert [compression_name(number) for number in range(4)] == list(COMPRESSIONS)
    with pytest.raises(XComError, match="unknown compression"):
        compression_name(9)


@pytest.mark.parametrize("codec", COMPRESSIONS)
@pytest.mark.parametrize("data", [b"", b"x", os.urandom(300_000), b"abc" * 500_000])
def test_round_trip(codec: str, data: bytes) -> None:
    assert unpacked(packed(data, codec), codec) == data


@pytest.mark.parametrize("codec", CODECS)
def test_repetitive_data_gets_smaller(codec: str) -> None:
    data = b'{"task": "extract", "rows": [1, 2, 3]}' * 10_000
    assert len(packed(data, codec)) < len(data) // 10


@pytest.mark.parametrize("codec", CODECS)
def test_one_huge_chunk_and_many_tiny_ones_decompress_alike(codec: str) -> None:
    data = os.urandom(1000) * 3000
    assert unpacked(packed(data, codec, piece=len(data)), codec) == data
    assert unpacked(packed(data, codec, piece=7), codec) == data


@pytest.mark.parametrize("codec", CODECS)
def test_every_truncation_is_an_error(codec: str) -> None:
    stored = packed(os.urandom(500) * 8, codec)
    for cut in range(len(stored)):
        with pytest.raises(XComError, match="corrupt"):
            unpacked(stored[:cut], codec)


@pytest.mark.parametrize("codec", CODECS)
def test_bytes_after_the_end_are_an_error(codec: str) -> None:
    stored = packed(b"hello" * 1000, codec)
    with pytest.raises(XComError, match="followed by unexpected bytes"):
        unpacked(stored + b"\0", codec)


@pytest.mark.parametrize("codec", CODECS)
def test_damaged_data_raises_xcom_error_not_a_codec_error(codec: str) -> None:
    stored = bytearray(packed(os.urandom(2000) * 50, codec))
    stored[len(stored) // 2] ^= 0x40
    with pytest.raises(XComError, match=f"corrupt: its {codec} data"):
        unpacked(bytes(stored), codec)


@pytest.mark.parametrize("codec", CODECS)
def test_a_decompression_bomb_is_read_a_piece_at_a_time(codec: str) -> None:
    zeros = bytes(MIB)
    stored = b"".join(compress_chunks((zeros for _ in range(64)), codec))
    assert len(stored) < MIB
    tracemalloc.start()
    try:
        stream = open_decompressed(io.BytesIO(stored), codec)
        for _ in range(16):
            assert stream.read(256 * 1024) == bytes(256 * 1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MIB


class Pieces(ChunkReader):
    """A reader over fixed chunks, to pin down the stream interface readers share."""

    def __init__(self, source: io.BytesIO, pieces: list[bytes]) -> None:
        super().__init__(source)
        self._pieces: Iterator[bytes] = iter(pieces)

    def _next_chunk(self, size: int) -> bytes:
        return next(self._pieces, b"")


def test_reader_serves_reads_of_any_size_across_chunks() -> None:
    reader = Pieces(io.BytesIO(), [b"abc", b"defg", b"h"])
    assert reader.readable()
    assert reader.read(0) == b""
    assert reader.read(2) == b"ab"
    assert reader.read1(10) == b"c"
    assert reader.read(4) == b"defg"
    assert reader.read(None) == b"h"
    assert reader.read() == b""


def test_reader_fills_a_buffer_with_readinto() -> None:
    reader = Pieces(io.BytesIO(), [b"abc", b"defg"])
    buffer = bytearray(5)
    assert reader.readinto(buffer) == 5
    assert buffer == b"abcde"
    assert reader.readinto(buffer) == 2
    assert buffer[:2] == b"fg"
    assert reader.readinto(buffer) == 0


def test_reader_hands_over_a_whole_chunk_without_copying() -> None:
    chunk = b"x" * 1000
    reader = Pieces(io.BytesIO(), [chunk])
    assert reader.read(1000) is chunk


def test_closing_a_reader_closes_its_source() -> None:
    source = io.BytesIO(b"data")
    with Pieces(source, [b"abc"]) as reader:
        assert isinstance(reader, io.BufferedIOBase)
    assert reader.closed
    assert source.closed
    with pytest.raises(ValueError, match="closed"):
        reader.read(1)


def test_a_failed_stream_keeps_failing() -> None:
    stored = packed(os.urandom(1000) * 100, "gzip")
    stream = open_decompressed(io.BytesIO(stored[: len(stored) // 2]), "gzip")
    with pytest.raises(XComError):
        stream.read()
    with pytest.raises(XComError):
        stream.read(1)
