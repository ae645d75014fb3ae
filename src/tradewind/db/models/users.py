"""API users and the key that signs their tokens.

Passwords are stored only as a KDF hash (argon2id). ``roles`` lists role names: the built-in
ones (Admin, Op, User, Viewer, Public) grant what they grant everywhere; any other name grants
only what DAGs give it in their ``access_control``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tradewind.db.models.base import Base
from tradewind.db.types import UtcDateTime


class User(Base):
    __tablename__ = "api_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(256), unique=True, nullable=False)
    email: Mapped[str | None] = mapped_column(String(512))
    first_name: Mapped[str | None] = mapped_column(String(256))
    last_name: Mapped[str | None] = mapped_column(String(256))
    password_hash: Mapped[str] = mapped_column(String(512), nullable=False)
    roles: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    last_login: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TokenSigningKey(Base):
    """The key API tokens are signed with, when ``api.secret_key`` is not set: one row,
    shared by every API server; replacing it (``tradewind users revoke-tokens``) makes every
    token issued before invalid."""

    __tablename__ = "api_signing_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret: Mapped[str] = mapped_column(String(256), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
