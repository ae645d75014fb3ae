"""Bearer tokens: short-lived JWTs (HS256) naming a user.

The signing key is ``api.secret_key`` when set; otherwise one random key kept in the metadata
DB (``api_signing_key``), made on first use and shared by every API server. Replacing that key
(``tradewind users revoke-tokens``) revokes every token issued before it: servers read the
key again every few seconds. Tokens carry only the user name; roles are read from the user's
row, so a changed role or a deleted user takes effect without waiting for tokens to expire.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tradewind.db.models import TokenSigningKey

ALGORITHM = "HS256"
AUDIENCE = "tradewind-api"
#: Seconds a server keeps the DB-held key before reading it again.
KEY_REFRESH_SECONDS = 5.0


class InvalidToken(Exception):
    """The token is malformed, expired, or signed with another key."""


def read_or_create_key(session: Session) -> str:
    """The DB-held signing key, made now if there is none."""
    row = session.get(TokenSigningKey, 1)
    if row is None:
        row = TokenSigningKey(id=1, secret=secrets.token_urlsafe(48), created_at=datetime.now(UTC))
        session.add(row)
        session.flush()
    return row.secret


def replace_key(session: Session) -> None:
    """A new DB-held signing key: every token signed with the old one stops working."""
    row = session.get(TokenSigningKey, 1)
    if row is None:
        read_or_create_key(session)
        return
    row.secret = secrets.token_urlsafe(48)
    row.created_at = datetime.now(UTC)


class TokenSigner:
    """Issues and checks tokens for one API server."""

    def __init__(self, engine: Engine, configured_key: str | None, lifetime_seconds: int) -> None:
        self._engine = engine
        self._configured = configured_key or None
        self.lifetime_seconds = lifetime_seconds
        self._key: str | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def _current_key(self) -> str:
        if self._configured:
            return self._configured
        now = time.monotonic()
        with self._lock:
            if self._key is None or now - self._read_at > KEY_REFRESH_SECONDS:
                with Session(self._engine) as session, session.begin():
                    self._key = read_or_create_key(session)
                self._read_at = now
            return self._key

    def issue(self, username: str) -> str:
        import jwt

        now = int(time.time())
        claims = {
            "sub": username,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime_seconds,
            "jti": secrets.token_hex(8),
        }
        return str(jwt.encode(claims, self._current_key(), algorithm=ALGORITHM))

    def verify(self, token: str) -> str:
        """The user name a valid token names; :class:`InvalidToken` otherwise."""
        import jwt

        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._current_key(),
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.PyJWTError:
            raise InvalidToken("the token is not valid") from None
        sub = claims.get("sub")
        if not isinstance(sub, str):
            raise InvalidToken("the token is not valid")
        return sub
