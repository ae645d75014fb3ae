"""The ``xcom.encryption_keys`` setting: parsing, key lookup and the errors users see."""

from __future__ import annotations

import base64

import pytest

from tradewind.exceptions import XComError
from tradewind.xcom.encryption import (
    SegmentCipher,
    XComEncryptionError,
    XComKeyring,
    generate_key_entry,
)

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
TEXT_A = base64.urlsafe_b64encode(KEY_A).decode()  # padded
TEXT_B = base64.urlsafe_b64encode(KEY_B).decode().rstrip("=")  # unpadded


@pytest.mark.parametrize("setting", [None, "", "  ", " , ", []])
def test_an_empty_setting_means_encryption_is_off(setting: str | list[str] | None) -> None:
    assert XComKeyring.from_setting(setting) is None


def test_comma_separated_entries_with_the_primary_first() -> None:
    ring = XComKeyring.from_setting(f" new:{TEXT_B} , old:{TEXT_A},")
    assert ring is not None
    assert ring.primary_id == "new"
    assert ring.key_ids == ("new", "old")
    assert ring.key_for("new") == KEY_B
    assert ring.key_for("old") == KEY_A
    assert "old" in ring


def test_a_list_from_toml_holds_one_entry_per_item() -> None:
    ring = XComKeyring.from_setting([f"2024.06_b-1:{TEXT_A}"])
    assert ring is not None
    assert ring.primary_id == "2024.06_b-1"


def test_an_unknown_key_id_is_named_in_the_error() -> None:
    ring = XComKeyring([("k2", KEY_A)])
    with pytest.raises(XComEncryptionError) as raised:
        ring.key_for("k1")
    assert str(raised.value) == (
        "XCom value is encrypted with key 'k1', which is not in xcom.encryption_keys"
    )
    assert isinstance(raised.value, XComError)


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        (f"k1:{TEXT_A},{TEXT_B}", r"entry 2: expected '<key_id>:<key>'"),
        (f"k1:{TEXT_A},has space:{TEXT_B}", r"entry 2: the key id must be 1-32 characters"),
        (f":{TEXT_B}", r"entry 1: the key id must be"),
        (f"{'x' * 33}:{TEXT_B}", r"entry 1: the key id must be"),
        (f"k1:{TEXT_B[:-1]}!", r"entry 1 \('k1'\): the key is not urlsafe base64"),
        (f"k1:{TEXT_B[:20]}", r"entry 1 \('k1'\): the key is 15 bytes, not 32"),
        (f"k1:{TEXT_A},k1:{TEXT_B}", r"entry 2 \('k1'\): the key id is used twice"),
        (f"k1:{base64.b64encode(bytes([251]) * 32).decode()}", r"not urlsafe base64"),
    ],
)
def test_bad_entries_are_explained_without_showing_key_material(setting: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as raised:
        XComKeyring.from_setting(setting)
    message = str(raised.value)
    assert message.startswith("xcom.encryption_keys entry ")
    for text in (TEXT_A, TEXT_B, TEXT_A[:12], TEXT_B[:12]):
        assert text not in message


def test_a_key_swapped_with_its_id_is_not_echoed() -> None:
    with pytest.raises(ValueError) as raised:
        XComKeyring.from_setting(f"{TEXT_B}:k1")
    assert TEXT_B[:12] not in str(raised.value)


def test_non_string_list_items_are_rejected() -> None:
    with pytest.raises(ValueError, match="entry 1: it is not a string"):
        XComKeyring.from_setting([123])  # type: ignore[list-item]


def test_repr_names_the_key_ids_only() -> None:
    ring = XComKeyring([("k2", KEY_B), ("k1", KEY_A)])
    assert repr(ring) == "XComKeyring(primary='k2', key_ids=('k2', 'k1'))"


def test_generated_entries_parse_and_differ() -> None:
    first, second = generate_key_entry("k1"), generate_key_entry("k1")
    assert first != second
    assert first.startswith("k1:")
    ring = XComKeyring.from_setting(first)
    assert ring is not None
    assert len(ring.key_for("k1")) == 32
    with pytest.raises(ValueError, match="key id"):
        generate_key_entry("bad id")


def test_a_segment_opens_only_at_its_place_under_its_key_and_header() -> None:
    cipher = SegmentCipher(KEY_A, bytes(16), b"header", "k1")
    sealed = cipher.seal(3, False, b"payload")
    assert len(sealed) == len(b"payload") + 16
    assert cipher.open(3, False, sealed) == b"payload"
    others = [
        (SegmentCipher(KEY_A, bytes(16), b"header", "k1"), 4, False),
        (cipher, 3, True),
        (SegmentCipher(KEY_B, bytes(16), b"header", "k1"), 3, False),
        (SegmentCipher(KEY_A, bytes(15) + b"\1", b"header", "k1"), 3, False),
        (SegmentCipher(KEY_A, bytes(16), b"Header", "k1"), 3, False),
    ]
    for other, index, last in others:
        with pytest.raises(XComEncryptionError, match="failed authentication with key 'k1'"):
            other.open(index, last, sealed)


def test_values_get_keys_of_their_own() -> None:
    # Same key, different salts: the same plaintext seals differently.
    one = SegmentCipher(KEY_A, bytes(16), b"h", "k1").seal(0, True, b"same")
    two = SegmentCipher(KEY_A, bytes(15) + b"\1", b"h", "k1").seal(0, True, b"same")
    assert one != two
