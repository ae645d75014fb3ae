"""The stored form of an XCom value: round trips, streaming, tamper detection, key rotation."""

from __future__ import annotations

import io
import os
import tracemalloc
from collections.abc import Iterator

import pytest

from tradewind.exceptions import XComError
from tradewind.xcom.blob import (
    SEGMENT_SIZE,
    BlobInfo,
    info_of,
    needs_reseal,
    open_blob,
    open_bytes,
    read_info,
    reseal,
    seal_bytes,
    seal_stream,
)
from tradewind.xcom.compression import COMPRESSIONS
from tradewind.xcom.encryption import XComEncryptionError, XComKeyring

SEG = SEGMENT_SIZE
TAG = 16
MIB = 1 << 20
RING = XComKeyring([("k1", bytes(range(32)))])
RANDOM = os.urandom(5 * MIB + 100)


def header_size(key_id: str) -> int:
    return 7 + 1 + len(key_id) + 16


def stored(data: bytes, compression: str = "none", keyring: XComKeyring | None = RING) -> bytes:
    return seal_bytes(data, compression=compression, keyring=keyring)


@pytest.fixture(params=[None, RING], ids=["plain", "encrypted"])
def keyring(request: pytest.FixtureRequest) -> XComKeyring | None:
    ring: XComKeyring | None = request.param
    return ring


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("size", [0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG])
def test_round_trip(compression: str, size: int, keyring: XComKeyring | None) -> None:
    data = RANDOM[:size]
    blob = seal_bytes(data, compression=compression, keyring=keyring)
    assert open_bytes(blob, keyring) == data
    assert info_of(blob) == BlobInfo(compression, keyring.primary_id if keyring else None)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_tiny_and_huge_chunks_store_the_same_value(
    compression: str, keyring: XComKeyring | None
) -> None:
    data = RANDOM[: 5 * MIB]
    tiny = (data[i : i + 997] for i in range(0, len(data), 997))
    for chunks in (tiny, [data]):
        blob = b"".join(seal_stream(chunks, compression=compression, keyring=keyring))
        with open_blob(io.BytesIO(blob), keyring) as value:
            pieces = iter(lambda: value.read(123_457), b"")
            assert b"".join(pieces) == data


def test_a_plain_value_passes_the_chunks_through() -> None:
    chunks = [b"a" * 10, b"", b"b" * 10]
    parts = list(seal_stream(chunks))
    assert parts[1] is chunks[0]
    assert parts[2] is chunks[2]
    assert len(parts) == 3


def test_small_values_carry_little_overhead() -> None:
    assert len(seal_bytes(b"hello")) == 7 + 5
    assert len(seal_bytes(b"hello", keyring=RING)) == header_size("k1") + 5 + TAG
    assert len(seal_bytes(RANDOM[: SEG + 1], keyring=RING)) == header_size("k1") + SEG + 1 + 2 * TAG


@pytest.mark.parametrize("compression", ["gzip", "zstd", "lz4"])
def test_compression_makes_repetitive_values_smaller(compression: str) -> None:
    data = b'{"rows": [1, 2, 3], "name": "extract"}' * 50_000
    assert len(stored(data, compression)) < len(data) // 10


def test_read_info_reads_only_the_header() -> None:
    raw = io.BytesIO(stored(b"payload", "zstd"))
    assert read_info(raw) == BlobInfo("zstd", "k1")
    assert raw.tell() == header_size("k1")
    assert read_info(io.BytesIO(seal_bytes(b"x"))).encrypted is False


def test_an_unknown_compression_setting_fails_before_anything_is_read() -> None:
    def never() -> Iterator[bytes]:
        raise AssertionError("read")
        yield b""

    with pytest.raises(ValueError, match=r"xcom\.compression"):
        seal_stream(never(), compression="snappy")


@pytest.mark.parametrize(("compression", "keyring"), [("none", None), ("zstd", RING)])
def test_memory_stays_bounded_for_large_values(
    compression: str, keyring: XComKeyring | None
) -> None:
    block = os.urandom(MIB)

    def value() -> Iterator[bytes]:
        for _ in range(48):
            yield block

    tracemalloc.start()
    try:
        raw = io.BytesIO()
        for part in seal_stream(value(), compression=compression, keyring=keyring):
            raw.write(part)
        sealed_size = raw.tell()
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        raw.seek(0)
        total = 0
        with open_blob(raw, keyring) as opened:
            while piece := opened.read(MIB):
                assert piece == block
                total += len(piece)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert total == 48 * MIB
    assert peak < 8 * MIB
    # Sealing kept only the output (in the BytesIO) and a few MiB besides.
    assert sealed_size <= 48 * MIB + 48 * TAG + 64


def test_sealing_memory_stays_bounded_whatever_the_value_size() -> None:
    block = os.urandom(MIB)
    tracemalloc.start()
    try:
        written = 0
        for part in seal_stream((block for _ in range(50)), compression="lz4", keyring=RING):
            written += len(part)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert written > 50 * MIB
    assert peak < 8 * MIB


def test_the_opened_value_is_a_binary_stream() -> None:
    raw = io.BytesIO(stored(b"0123456789", "gzip"))
    with open_blob(raw, RING) as value:
        assert isinstance(value, io.BufferedIOBase)
        assert value.readable()
        assert value.read(3) == b"012"
        buffer = bytearray(4)
        assert value.readinto(buffer) == 4
        assert buffer == b"3456"
        assert value.read(-1) == b"789"
        assert value.read() == b""
    assert raw.closed
    with pytest.raises(ValueError):
        value.read(1)


# --- tampering -----------------------------------------------------------------------------

THREE_SEGMENTS = RANDOM[: 2 * SEG + 100]
BLOB = stored(THREE_SEGMENTS)
BODY = header_size("k1")
SEALED = SEG + TAG


def segments(blob: bytes) -> list[bytes]:
    return [blob[i : i + SEALED] for i in range(BODY, len(blob), SEALED)]


def assert_fails_authentication(blob: bytes) -> None:
    with pytest.raises(XComEncryptionError, match="failed authentication"):
        open_bytes(blob, RING)


def flipped(blob: bytes, position: int, bit: int = 0) -> bytes:
    changed = bytearray(blob)
    changed[position] ^= 1 << bit
    return bytes(changed)


def test_the_untouched_value_opens() -> None:
    assert open_bytes(BLOB, RING) == THREE_SEGMENTS
    assert len(segments(BLOB)) == 3


def test_every_bit_flip_in_the_header_after_the_mode_is_detected() -> None:
    for position in range(6, BODY):
        for bit in range(8):
            with pytest.raises(XComEncryptionError):
                open_bytes(flipped(BLOB, position, bit), RING)


@pytest.mark.parametrize("position", [0, 3, 4, 5])
def test_a_damaged_magic_version_or_mode_is_an_error(position: int) -> None:
    for bit in range(8):
        with pytest.raises(XComError):
            open_bytes(flipped(BLOB, position, bit), RING)


@pytest.mark.parametrize(
    "position",
    [BODY, BODY + SEG // 2, BODY + SEALED + 5, len(BLOB) - 50, BODY + SEG, len(BLOB) - 1],
    ids=["first-byte", "mid-segment", "second-segment", "last-segment", "tag", "last-tag"],
)
def test_a_flipped_bit_in_the_body_is_detected(position: int) -> None:
    assert_fails_authentication(flipped(BLOB, position, 5))


@pytest.mark.parametrize(
    "keep",
    [BODY, BODY + 10, BODY + SEALED, BODY + 2 * SEALED, len(BLOB) - 1],
    ids=["header-only", "mid-first", "one-segment", "two-segments", "one-byte-short"],
)
def test_truncation_is_detected(keep: int) -> None:
    assert_fails_authentication(BLOB[:keep])


def test_dropping_the_last_segment_of_a_whole_number_of_segments_is_detected() -> None:
    blob = stored(RANDOM[: 2 * SEG])
    assert len(segments(blob)) == 2
    assert_fails_authentication(blob[: BODY + SEALED])


def test_swapped_segments_are_detected() -> None:
    first, second, third = segments(BLOB)
    assert_fails_authentication(BLOB[:BODY] + second + first + third)


@pytest.mark.parametrize("extra", [b"\0", b"x" * (SEALED)], ids=["byte", "segment"])
def test_appended_bytes_are_detected(extra: bytes) -> None:
    assert_fails_authentication(BLOB + extra)


def test_a_segment_repeated_in_place_of_the_last_is_detected() -> None:
    first, second, _ = segments(BLOB)
    assert_fails_authentication(BLOB[:BODY] + first + second + second)


def test_a_header_swapped_from_another_value_is_detected() -> None:
    other = stored(THREE_SEGMENTS)
    assert_fails_authentication(other[:BODY] + BLOB[BODY:])


def test_nothing_unverified_is_returned() -> None:
    blob = flipped(BLOB, BODY + 2 * SEALED + 3)
    with open_blob(io.BytesIO(blob), RING) as value:
        assert value.read(2 * SEG) == THREE_SEGMENTS[: 2 * SEG]
        with pytest.raises(XComEncryptionError):
            value.read(1)
        with pytest.raises(XComEncryptionError):
            value.read()


# --- keys ----------------------------------------------------------------------------------


def test_a_wrong_key_with_the_same_id_fails_naming_the_key() -> None:
    other = XComKeyring([("k1", bytes(32))])
    with pytest.raises(XComEncryptionError, match="failed authentication with key 'k1'"):
        open_bytes(stored(b"secret"), other)


def test_an_unknown_key_id_is_named() -> None:
    other = XComKeyring([("k2", bytes(32))])
    message = r"key 'k1', which is not in xcom\.encryption_keys"
    with pytest.raises(XComEncryptionError, match=message):
        open_bytes(stored(b"secret"), other)


def test_an_encrypted_value_without_keys_asks_for_the_setting() -> None:
    with pytest.raises(XComEncryptionError, match=r"key 'k1'\): set xcom.encryption_keys"):
        open_blob(io.BytesIO(stored(b"secret")))


def test_plain_values_stay_readable_with_a_keyring() -> None:
    assert open_bytes(seal_bytes(b"old", compression="gzip"), RING) == b"old"


def test_the_value_is_not_visible_in_the_stored_bytes() -> None:
    secret = b"the launch code is 1234" * 10
    assert secret[:23] not in stored(secret)
    assert secret[:23] not in stored(secret, "zstd")


# --- not a value ---------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"TWX", b"PK\x03\x04 zip file", b'{"json": 1}'])
def test_other_data_is_not_a_value(raw: bytes) -> None:
    with pytest.raises(XComError, match=r"not a Tradewind XCom value \(bad header\)"):
        open_bytes(raw)


def test_a_newer_format_version_says_so() -> None:
    blob = bytearray(seal_bytes(b"x"))
    blob[4] = 2
    with pytest.raises(XComError, match="format version 2"):
        open_bytes(bytes(blob))


# --- key rotation --------------------------------------------------------------------------

OLD = ("2024-01", bytes(range(32)))
NEW = ("2024-06", bytes(range(1, 33)))


def test_rotation_reseals_with_the_primary_key() -> None:
    data = RANDOM[: SEG + 10]
    old_blob = seal_bytes(data, compression="lz4", keyring=XComKeyring([OLD]))
    rotated_ring = XComKeyring([NEW, OLD])
    assert open_bytes(old_blob, rotated_ring) == data
    assert needs_reseal(info_of(old_blob), rotated_ring)

    raw = io.BytesIO(old_blob)
    new_blob = b"".join(reseal(raw, keyring=rotated_ring))
    assert raw.closed
    assert info_of(new_blob) == BlobInfo("lz4", "2024-06")
    assert not needs_reseal(info_of(new_blob), rotated_ring)
    assert open_bytes(new_blob, XComKeyring([NEW])) == data
    with pytest.raises(XComEncryptionError, match="'2024-06', which is not in"):
        open_bytes(new_blob, XComKeyring([OLD]))


def test_reseal_can_change_the_compression() -> None:
    data = b"abc" * 400_000
    ring = XComKeyring([NEW])
    new_blob = b"".join(reseal(io.BytesIO(seal_bytes(data)), keyring=ring, compression="zstd"))
    assert info_of(new_blob) == BlobInfo("zstd", "2024-06")
    assert len(new_blob) < len(data) // 10
    assert open_bytes(new_blob, ring) == data


def test_reseal_encrypts_a_plain_value() -> None:
    ring = XComKeyring([NEW])
    plain = seal_bytes(b"value", compression="gzip")
    assert needs_reseal(info_of(plain), ring)
    assert not needs_reseal(info_of(plain), None)
    new_blob = b"".join(reseal(io.BytesIO(plain), keyring=ring))
    assert info_of(new_blob) == BlobInfo("gzip", "2024-06")
    assert open_bytes(new_blob, ring) == b"value"


def test_reseal_refuses_a_tampered_value() -> None:
    old_blob = seal_bytes(b"value", keyring=XComKeyring([OLD]))
    with pytest.raises(XComEncryptionError):
        b"".join(reseal(io.BytesIO(flipped(old_blob, len(old_blob) - 1)), keyring=RING))
