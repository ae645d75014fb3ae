"""What an XCom row holds when its value is not in the DB: a small reference to stored data,
or a value sealed with the XCom encryption keys.

Both are tagged JSON in the codec's form (``{"__tw__": kind, "v": ...}``), so the row is
still one JSON value, and a reader without the object-storage backend fails with the codec's
"unknown tagged type" error instead of handing out the reference as if it were the value.

>>> ref = StoredRef("file:///x/a-1", 10, "value")
>>> parse_ref(ref.to_text()) == ref
True
>>> parse_ref('[1, 2]') is None
True
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Literal

from tradewind.exceptions import XComError
from tradewind.serialization.codec import TAG

#: What the stored data is: the codec's text of the value, the raw bytes of a ``bytes``
#: value, or the content of a file the task pushed (pulled as an :class:`XComFile`).
RefKind = Literal["value", "bytes", "file"]
_KINDS = ("value", "bytes", "file")
REF_TAG = "xcom.ref"
SEALED_TAG = "xcom.sealed"
REF_START = f'{{"{TAG}":"{REF_TAG}"'
_SEALED_START = f'{{"{TAG}":"{SEALED_TAG}"'


@dataclass(frozen=True)
class StoredRef:
    """Where a value lives in object storage, its size before compression and encryption,
    and what kind of data it is."""

    url: str
    size: int
    kind: RefKind

    def to_text(self) -> str:
        body = {"url": self.url, "size": self.size, "kind": self.kind}
        return json.dumps({TAG: REF_TAG, "v": body}, separators=(",", ":"))


def parse_ref(text: str | bytes) -> StoredRef | None:
    """The reference a row holds, or ``None`` for any other value (checked by its first
    characters, so ordinary values cost nothing more)."""
    start = REF_START if isinstance(text, str) else REF_START.encode()
    if not text.startswith(start):  # type: ignore[arg-type]
        return None
    try:
        body = json.loads(text)["v"]
        url, size, kind = body["url"], body["size"], body["kind"]
    except (ValueError, KeyError, TypeError):
        raise XComError("a stored XCom reference is malformed") from None
    if not isinstance(url, str) or not isinstance(size, int) or kind not in _KINDS:
        raise XComError("a stored XCom reference is malformed")
    return StoredRef(url, size, kind)


def sealed_text(blob: bytes) -> str:
    """A row's text for a value sealed (encrypted) in the DB."""
    return json.dumps(
        {TAG: SEALED_TAG, "v": base64.b64encode(blob).decode("ascii")}, separators=(",", ":")
    )


def parse_sealed(text: str | bytes) -> bytes | None:
    """The sealed blob a row holds, or ``None`` if the row is not sealed."""
    start = _SEALED_START if isinstance(text, str) else _SEALED_START.encode()
    if not text.startswith(start):  # type: ignore[arg-type]
        return None
    try:
        return base64.b64decode(json.loads(text)["v"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise XComError("a sealed XCom value is malformed") from None
