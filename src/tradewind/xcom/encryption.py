"""Encryption keys for stored XCom values (``xcom.encryption_keys``) and the segment cipher.

The setting lists ``"<key_id>:<key>"`` entries, each key 32 random bytes in urlsafe base64.
The first entry is the primary key: new values are encrypted with it. The others only decrypt,
which is how keys rotate without downtime: put a new key first, re-encrypt the stored values
(:func:`tradewind.xcom.blob.reseal`), then drop the old key. A stored value names the id of its
key in its header, so a reader picks the right key and an unknown id is a clear error.

:class:`SegmentCipher` seals one value's segments with AES-256-GCM under a key of its own,
derived with HKDF-SHA256 from the named key and a random 16-byte salt kept in the value's
header. A key per value, rather than a random nonce per value under the shared key, removes
any limit on how many values one key may encrypt (random 96-bit nonces allow about 2**32
before a repeat, which would break GCM, becomes likely enough to matter). Within a value each
nonce is a derived prefix, the segment's number and a last-segment flag (the STREAM
construction), and the whole header is authenticated with every segment: reordering,
truncating, extending or editing a value, or swapping its header, fails authentication.

No message or ``repr`` here ever contains key material.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from tradewind.exceptions import XComError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SETTING = "xcom.encryption_keys"
KEY_SIZE = 32
TAG_SIZE = 16
SALT_SIZE = 16
MAX_SEGMENTS = 1 << 32  # the segment number is 4 bytes of the nonce

_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")
_KEY_TEXT = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_NONCE_PREFIX_SIZE = 7
_HKDF_INFO = b"tradewind xcom value key v1"


class XComEncryptionError(XComError):
    """An encrypted XCom value cannot be decrypted: no key for it, or it fails authentication."""


def is_key_id(key_id: str) -> bool:
    """Whether ``key_id`` is a valid key id: 1-32 characters of ``A-Za-z0-9._-``.

    >>> is_key_id("2024-06.a"), is_key_id("no spaces")
    (True, False)
    """
    return _KEY_ID.fullmatch(key_id) is not None


def _decode_key(text: str) -> bytes | None:
    """The key bytes of urlsafe base64 ``text`` (padding optional); ``None`` if not base64."""
    if _KEY_TEXT.fullmatch(text) is None:
        return None
    unpadded = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except (binascii.Error, ValueError):
        return None


class XComKeyring:
    """The keys of ``xcom.encryption_keys``: the primary one encrypts, all of them decrypt.

    >>> ring = XComKeyring([("new", bytes(32)), ("old", bytes(range(32)))])
    >>> ring.primary_id, ring.key_ids
    ('new', ('new', 'old'))
    >>> ring
    XComKeyring(primary='new', key_ids=('new', 'old'))
    """

    __slots__ = ("_keys",)

    def __init__(self, keys: Iterable[tuple[str, bytes]]) -> None:
        found: dict[str, bytes] = {}
        for position, (key_id, key) in enumerate(keys, start=1):
            if not is_key_id(key_id):
                raise ValueError(_entry_problem(position, None, "the key id is not valid"))
            if len(key) != KEY_SIZE:
                raise ValueError(
                    _entry_problem(position, key_id, f"the key is {len(key)} bytes, not 32")
                )
            if key_id in found:
                raise ValueError(_entry_problem(position, key_id, "the key id is used twice"))
            found[key_id] = bytes(key)
        if not found:
            raise ValueError(f"{SETTING} lists no keys")
        self._keys = found

    @classmethod
    def from_setting(cls, value: str | Sequence[str] | None) -> XComKeyring | None:
        """The keyring a setting describes, or ``None`` when it is empty (encryption off).

        A string is a comma-separated list of entries; a list (from TOML) holds one entry
        per item. Blank entries are skipped; bad ones raise ``ValueError``.

        >>> XComKeyring.from_setting("") is None
        True
        >>> ring = XComKeyring.from_setting(f"k2:{'B' * 43}, k1:{'A' * 43}=")
        >>> ring.primary_id
        'k2'
        """
        if value is None:
            return None
        entries = value.split(",") if isinstance(value, str) else list(value)
        keys: list[tuple[str, bytes]] = []
        for position, entry in enumerate(entries, start=1):
            if not isinstance(entry, str):
                raise ValueError(_entry_problem(position, None, "it is not a string"))
            if entry.strip():
                keys.append(_parse_entry(position, entry.strip()))
        return cls(keys) if keys else None

    @property
    def primary_id(self) -> str:
        """The id of the key that encrypts new values: the setting's first entry."""
        return next(iter(self._keys))

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id, the primary first."""
        return tuple(self._keys)

    def key_for(self, key_id: str) -> bytes:
        """The key with this id; :class:`XComEncryptionError` if the setting lacks it.

        >>> XComKeyring([("k2", bytes(32))]).key_for("k1")
        Traceback (most recent call last):
        ...
        tradewind.xcom.encryption.XComEncryptionError: XCom value is encrypted with key 'k1', \
which is not in xcom.encryption_keys
        """
        try:
            return self._keys[key_id]
        except KeyError:
            raise XComEncryptionError(
                f"XCom value is encrypted with key {key_id!r}, which is not in {SETTING}"
            ) from None

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __repr__(self) -> str:
        return f"XComKeyring(primary={self.primary_id!r}, key_ids={self.key_ids!r})"


def _entry_problem(position: int, key_id: str | None, problem: str) -> str:
    # Only a valid key id is ever quoted: an invalid one may be a misplaced key.
    named = f" ({key_id!r})" if key_id is not None else ""
    return f"{SETTING} entry {position}{named}: {problem}"


def _parse_entry(position: int, entry: str) -> tuple[str, bytes]:
    key_id, colon, text = entry.partition(":")
    key_id, text = key_id.strip(), text.strip()
    if not colon:
        raise ValueError(_entry_problem(position, None, "expected '<key_id>:<key>'"))
    if not is_key_id(key_id):
        raise ValueError(
            _entry_problem(
                position, None, "the key id must be 1-32 characters of A-Z a-z 0-9 . _ -"
            )
        )
    key = _decode_key(text)
    if key is None:
        raise ValueError(_entry_problem(position, key_id, "the key is not urlsafe base64"))
    if len(key) != KEY_SIZE:
        raise ValueError(
            _entry_problem(position, key_id, f"the key is {len(key)} bytes, not 32 (AES-256)")
        )
    return key_id, key


def generate_key_entry(key_id: str) -> str:
    """A new ``xcom.encryption_keys`` entry: ``key_id`` and 32 random bytes.

    >>> entry = generate_key_entry("2024-06")
    >>> XComKeyring.from_setting(entry).primary_id
    '2024-06'
    """
    if not is_key_id(key_id):
        raise ValueError("a key id must be 1-32 characters of A-Z a-z 0-9 . _ -")
    text = base64.urlsafe_b64encode(os.urandom(KEY_SIZE)).decode("ascii").rstrip("=")
    return f"{key_id}:{text}"


def new_salt() -> bytes:
    """A random salt for a new value's header."""
    return os.urandom(SALT_SIZE)


class SegmentCipher:
    """AES-256-GCM over the segments of one stored value.

    ``header`` (the value's whole header, salt included) is authenticated with every segment.
    Segments are numbered from 0 and exactly one, the last, is sealed as the last.

    >>> cipher = SegmentCipher(bytes(32), bytes(16), b"header", "k1")
    >>> sealed = cipher.seal(0, True, b"data")
    >>> len(sealed), cipher.open(0, True, sealed)
    (20, b'data')
    >>> cipher.open(0, False, sealed)
    Traceback (most recent call last):
    ...
    tradewind.xcom.encryption.XComEncryptionError: XCom value failed authentication with key \
'k1': it was modified, truncated, or encrypted with a different key
    """

    __slots__ = ("_aad", "_aead", "_invalid_tag", "_key_id", "_prefix")

    def __init__(self, key: bytes, salt: bytes, header: bytes, key_id: str) -> None:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        derived = HKDF(
            algorithm=hashes.SHA256(),
            length=KEY_SIZE + _NONCE_PREFIX_SIZE,
            salt=salt,
            info=_HKDF_INFO,
        ).derive(key)
        self._aead: AESGCM = AESGCM(derived[:KEY_SIZE])
        self._prefix = derived[KEY_SIZE:]
        self._aad = header
        self._key_id = key_id
        self._invalid_tag = InvalidTag

    def _nonce(self, index: int, last: bool) -> bytes:
        if not 0 <= index < MAX_SEGMENTS:
            raise XComError("XCom value is too large to encrypt (over 2**32 segments)")
        return self._prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")

    def seal(self, index: int, last: bool, data: bytes | bytearray | memoryview) -> bytes:
        """Segment ``index``'s plaintext, encrypted, with its 16-byte tag appended."""
        return self._aead.encrypt(self._nonce(index, last), data, self._aad)

    def open(self, index: int, last: bool, data: bytes) -> bytes:
        """Segment ``index``'s plaintext; :class:`XComEncryptionError` unless it verifies."""
        try:
            return self._aead.decrypt(self._nonce(index, last), data, self._aad)
        except self._invalid_tag:
            raise self.failure() from None

    def failure(self, detail: str = "it was modified, truncated") -> XComEncryptionError:
        """The error for a value that does not verify under this cipher's key."""
        return XComEncryptionError(
            f"XCom value failed authentication with key {self._key_id!r}: "
            f"{detail}, or encrypted with a different key"
        )
