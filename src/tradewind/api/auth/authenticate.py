"""Turning credentials into a :class:`Principal`: bearer tokens, HTTP Basic, and logins.

Checking an argon2 hash costs about 0.1 s of CPU by design, so a script sending HTTP Basic
credentials on every call would be slow: a successful check is remembered for
``BASIC_CACHE_SECONDS`` under a keyed hash of the credentials (never the password itself).
Users' roles are read from the DB and kept for ``USER_CACHE_SECONDS``, so a changed role or a
deleted user takes effect within seconds, whatever tokens are out.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tradewind.api.auth.passwords import verify_password
from tradewind.api.auth.principal import AccessControlIndex, Principal
from tradewind.api.auth.rate_limit import FailedLogins
from tradewind.api.auth.tokens import InvalidToken, TokenSigner
from tradewind.api.errors import ApiError
from tradewind.db.queries import users

USER_CACHE_SECONDS = 5.0
BASIC_CACHE_SECONDS = 60.0
_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer, Basic realm="tradewind"'}


@dataclass(frozen=True)
class _CachedUser:
    roles: list[str]
    active: bool
    password_hash: str
    read_at: float


class Authenticator:
    def __init__(self, engine: Engine, signer: TokenSigner, failed: FailedLogins) -> None:
        self._engine = engine
        self.signer = signer
        self.failed = failed
        self.access = AccessControlIndex(engine)
        self._users: dict[str, _CachedUser] = {}
        self._basic_ok: dict[bytes, tuple[str, float]] = {}
        self._basic_salt = secrets.token_bytes(32)
        self._lock = threading.Lock()

    def _user(self, username: str) -> _CachedUser | None:
        now = time.monotonic()
        cached = self._users.get(username)
        if cached is not None and now - cached.read_at < USER_CACHE_SECONDS:
            return cached
        with Session(self._engine) as session:
            row = users.find_user(session, username)
            if row is None:
                self._users.pop(username, None)
                return None
            cached = _CachedUser(list(row.roles), row.active, row.password_hash, now)
        with self._lock:
            if len(self._users) > 10_000:
                self._users.clear()
            self._users[username] = cached
        return cached

    def principal(self, username: str) -> Principal:
        user = self._user(username)
        if user is None or not user.active:
            raise ApiError(401, "Invalid or expired credentials", _UNAUTHORIZED_HEADERS)
        return Principal(username, user.roles, self.access)

    def from_token(self, token: str) -> Principal:
        try:
            username = self.signer.verify(token)
        except InvalidToken as err:
            raise ApiError(401, f"Invalid credentials: {err}", _UNAUTHORIZED_HEADERS) from None
        return self.principal(username)

    def _basic_key(self, username: str, password: str) -> bytes:
        return hmac.new(
            self._basic_salt, f"{username}\0{password}".encode(), hashlib.sha256
        ).digest()

    def from_basic(self, username: str, password: str, client: str) -> Principal:
        key = self._basic_key(username, password)
        hit = self._basic_ok.get(key)
        if hit is not None and time.monotonic() - hit[1] < BASIC_CACHE_SECONDS:
            return self.principal(username)
        principal = self.login(username, password, client)
        with self._lock:
            if len(self._basic_ok) > 10_000:
                self._basic_ok.clear()
            self._basic_ok[key] = (username, time.monotonic())
        return principal

    def login(self, username: str, password: str, client: str) -> Principal:
        """Check a user name and password, with the failed-login limit."""
        keys = [f"user:{username}", f"client:{client}"]
        wait = self.failed.retry_after(keys)
        if wait is not None:
            raise ApiError(
                429,
                f"Too many failed logins: try again in {wait} seconds",
                {"Retry-After": str(wait)},
            )
        user = self._user(username)
        # An unknown user costs the same check, so timing does not reveal user names.
        matches = verify_password(user.password_hash if user else _dummy_hash(), password)
        if user is None or not (user.active and matches):
            self.failed.record(keys)
            raise ApiError(401, "Invalid username or password", _UNAUTHORIZED_HEADERS)
        with Session(self._engine) as session, session.begin():
            users.record_login(session, username)
        return Principal(username, user.roles, self.access)


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password, checked for unknown users (made on first use)."""
    from tradewind.api.auth.passwords import hash_password

    return hash_password(secrets.token_hex(16))
