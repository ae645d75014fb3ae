"""API users: create, find, list, delete (``tradewind users ...`` and the API's auth)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from tradewind.db.models import User
from tradewind.exceptions import TradewindException

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@\-]{1,256}$")
ROLE_PATTERN = re.compile(r"^[A-Za-z0-9_.\- ]{1,100}$")
MIN_PASSWORD_LENGTH = 8


class InvalidUserError(TradewindException, ValueError):
    """A user name, role or password that cannot be used."""


class DuplicateUserError(TradewindException):
    """A user with that name exists."""


@dataclass(frozen=True)
class UserRecord:
    username: str
    email: str | None
    first_name: str | None
    last_name: str | None
    roles: list[str]
    active: bool
    created_at: datetime
    last_login: datetime | None


def _record(row: User) -> UserRecord:
    return UserRecord(
        row.username,
        row.email,
        row.first_name,
        row.last_name,
        list(row.roles),
        row.active,
        row.created_at,
        row.last_login,
    )


def check_new_user(username: str, password: str, roles: list[str]) -> None:
    if not USERNAME_PATTERN.match(username):
        raise InvalidUserError(
            f"invalid user name {username!r}: use 1-256 letters, digits, '_', '.', '@' or '-'"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidUserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if not roles:
        raise InvalidUserError("a user needs at least one role")
    for role in roles:
        if not ROLE_PATTERN.match(role):
            raise InvalidUserError(
                f"invalid role name {role!r}: use 1-100 letters, digits, spaces, '_', '.' or '-'"
            )


def create_user(
    session: Session,
    username: str,
    password_hash: str,
    roles: list[str],
    *,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
) -> UserRecord:
    """Add a user; the caller hashes the password (``tradewind.api.auth.passwords``)."""
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise DuplicateUserError(f"user {username!r} already exists")
    row = User(
        username=username,
        password_hash=password_hash,
        roles=list(dict.fromkeys(roles)),
        email=email,
        first_name=first_name,
        last_name=last_name,
        active=True,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return _record(row)


def find_user(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).first()


def get_user(session: Session, username: str) -> UserRecord | None:
    row = find_user(session, username)
    return None if row is None else _record(row)


def list_users(session: Session) -> list[UserRecord]:
    return [_record(row) for row in session.scalars(select(User).order_by(User.username))]


def delete_user(session: Session, username: str) -> bool:
    result = session.execute(delete(User).where(User.username == username))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def record_login(session: Session, username: str) -> None:
    session.execute(
        update(User).where(User.username == username).values(last_login=datetime.now(UTC))
    )
