"""Password hashes: argon2id with the library's recommended parameters.

>>> stored = hash_password("s3cret")
>>> verify_password(stored, "s3cret"), verify_password(stored, "wrong")
(True, False)
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    return str(_hasher().hash(password))


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether ``password`` matches; a malformed stored hash is a mismatch, not an error."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return bool(_hasher().verify(stored_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
