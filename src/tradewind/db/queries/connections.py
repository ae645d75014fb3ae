"""Connections: password and extra encrypted at rest, read back in clear.

A connection with a password or an extra needs an
:class:`~tradewind.secrets.encryption.Encryptor` to be stored (never in clear); one with
neither does not. Input is checked before anything is written: the id against the strict id
pattern, the type, lengths, the port, and the extra (a JSON object).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tradewind.db.models import Connection as ConnectionRow
from tradewind.exceptions import TradewindException
from tradewind.sdk.abstractoperator import validate_id
from tradewind.sdk.connection import Connection
from tradewind.secrets.encryption import (
    HOW_TO_SET_A_KEY,
    Encryptor,
    NoFernetKeyError,
    SecretsError,
    open_value,
)
from tradewind.secrets.masking import PLACEHOLDER, is_sensitive

log = logging.getLogger(__name__)

#: Column widths of the ``connection`` table.
_LENGTHS = {"conn_type": 500, "host": 500, "schema": 500}


class InvalidConnectionError(TradewindException, ValueError):
    """A connection's fields cannot be stored as given."""


class DuplicateConnectionError(TradewindException):
    """A connection with that conn_id already exists."""


@dataclass(frozen=True)
class ConnectionRecord:
    """A stored connection with its password and extra in clear (Airflow's field names)."""

    id: int
    conn_id: str
    conn_type: str
    description: str | None
    host: str | None
    schema: str | None
    login: str | None
    password: str | None = field(repr=False)
    port: int | None
    extra: str | None = field(repr=False)
    is_encrypted: bool
    is_extra_encrypted: bool

    def to_connection(self) -> Connection:
        """The SDK's :class:`~tradewind.sdk.connection.Connection`."""
        return Connection(
            conn_id=self.conn_id,
            conn_type=self.conn_type,
            description=self.description,
            host=self.host,
            login=self.login,
            password=self.password,
            schema=self.schema,
            port=self.port,
            extra=self.extra,
        )


def check_connection(conn: Connection) -> None:
    """Raise :class:`InvalidConnectionError` (or the id check's error) for bad input."""
    validate_id(conn.conn_id, "conn_id")
    what = f"connection {conn.conn_id!r}"
    for name in ("conn_type", "description", "host", "schema", "login", "password", "extra"):
        value = getattr(conn, name)
        if value is not None and not isinstance(value, str):
            raise InvalidConnectionError(f"{what}: {name} must be a string")
    if conn.port is not None and (isinstance(conn.port, bool) or not isinstance(conn.port, int)):
        raise InvalidConnectionError(f"{what}: port must be a whole number")
    if not conn.conn_type or not conn.conn_type.strip():
        raise InvalidConnectionError(f"{what}: conn_type is required")
    if any(c.isspace() for c in conn.conn_type):
        raise InvalidConnectionError(f"{what}: conn_type {conn.conn_type!r} contains spaces")
    for name, limit in _LENGTHS.items():
        value = getattr(conn, name)
        if value is not None and len(value) > limit:
            raise InvalidConnectionError(f"{what}: {name} is longer than {limit} characters")
    if conn.port is not None and not 0 < conn.port < 65536:
        raise InvalidConnectionError(f"{what}: port {conn.port} is not between 1 and 65535")
    if conn.extra:
        try:
            extra = json.loads(conn.extra)
        except ValueError as err:
            raise InvalidConnectionError(f"{what}: extra is not valid JSON: {err}") from None
        if not isinstance(extra, dict):
            raise InvalidConnectionError(f"{what}: extra must be a JSON object")


def _record(row: ConnectionRow, encryptor: Encryptor | None) -> ConnectionRecord:
    what = f"connection {row.conn_id!r}"
    return ConnectionRecord(
        id=row.id,
        conn_id=row.conn_id,
        conn_type=row.conn_type,
        description=row.description,
        host=row.host,
        schema=row.schema,
        login=row.login,
        password=open_value(row.password, row.is_encrypted, encryptor, f"the password of {what}"),
        port=row.port,
        extra=open_value(row.extra, row.is_extra_encrypted, encryptor, f"the extra of {what}"),
        is_encrypted=row.is_encrypted,
        is_extra_encrypted=row.is_extra_encrypted,
    )


def add_connection(
    session: Session, conn: Connection, encryptor: Encryptor | None
) -> ConnectionRecord:
    """Store a new connection; :class:`DuplicateConnectionError` if the id is taken."""
    check_connection(conn)
    password = conn.password or None
    extra = conn.extra or None
    if (password is not None or extra is not None) and encryptor is None:
        raise NoFernetKeyError(
            f"cannot store connection {conn.conn_id!r}: its password and extra are encrypted "
            f"at rest, and no Fernet key is configured; {HOW_TO_SET_A_KEY}"
        )
    if session.scalar(select(ConnectionRow.id).where(ConnectionRow.conn_id == conn.conn_id)):
        raise DuplicateConnectionError(
            f"A connection with `conn_id`={conn.conn_id} already exists."
        )
    row = ConnectionRow(
        conn_id=conn.conn_id,
        conn_type=conn.conn_type,
        description=conn.description,
        host=conn.host,
        schema=conn.schema,
        login=conn.login,
        port=conn.port,
        password=encryptor.encrypt(password) if encryptor and password is not None else None,
        extra=encryptor.encrypt(extra) if encryptor and extra is not None else None,
        is_encrypted=password is not None,
        is_extra_encrypted=extra is not None,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # added at the same moment by someone else
        raise DuplicateConnectionError(
            f"A connection with `conn_id`={conn.conn_id} already exists."
        ) from None
    return _record(row, encryptor)


def get_connection(
    session: Session, conn_id: str, encryptor: Encryptor | None
) -> ConnectionRecord | None:
    row = session.scalar(select(ConnectionRow).where(ConnectionRow.conn_id == conn_id))
    return None if row is None else _record(row, encryptor)


def list_connection_types(session: Session) -> list[tuple[str, str]]:
    """``(conn_id, conn_type)`` of every connection, sorted; needs no key to decrypt."""
    query = select(ConnectionRow.conn_id, ConnectionRow.conn_type).order_by(ConnectionRow.conn_id)
    return [(conn_id, conn_type) for conn_id, conn_type in session.execute(query)]


def list_connections(session: Session, encryptor: Encryptor | None) -> list[ConnectionRecord]:
    rows = session.scalars(select(ConnectionRow).order_by(ConnectionRow.conn_id))
    return [_record(row, encryptor) for row in rows]


def delete_connection(session: Session, conn_id: str) -> bool:
    """Delete ``conn_id``; False if there was none."""
    result = session.execute(delete(ConnectionRow).where(ConnectionRow.conn_id == conn_id))
    return bool(getattr(result, "rowcount", 0))


def rotate_connections(session: Session, encryptor: Encryptor) -> tuple[int, int]:
    """Re-encrypt every password and extra with the first key, and encrypt any stored in
    clear. Returns (connections re-encrypted, connections newly encrypted)."""
    rotated = encrypted = 0
    for row in session.scalars(select(ConnectionRow).order_by(ConnectionRow.id)).all():
        what = f"connection {row.conn_id!r}"
        touched_old = touched_new = False
        if row.password is not None:
            if row.is_encrypted:
                row.password = encryptor.rotate(row.password, f"the password of {what}")
                touched_old = True
            else:
                row.password = encryptor.encrypt(row.password)
                row.is_encrypted = touched_new = True
        if row.extra is not None:
            if row.is_extra_encrypted:
                row.extra = encryptor.rotate(row.extra, f"the extra of {what}")
                touched_old = True
            else:
                row.extra = encryptor.encrypt(row.extra)
                row.is_extra_encrypted = touched_new = True
        rotated += touched_old
        encrypted += touched_new and not touched_old
    session.flush()
    return rotated, encrypted


# -- for the API: pages that never open passwords, updates that keep masked secrets ---------

#: Columns ``order_by`` may name (Airflow's, ``connection_id`` for ``conn_id``).
ORDER_COLUMNS: dict[str, Any] = {
    "id": ConnectionRow.id,
    "conn_id": ConnectionRow.conn_id,
    "connection_id": ConnectionRow.conn_id,
    "conn_type": ConnectionRow.conn_type,
    "description": ConnectionRow.description,
    "host": ConnectionRow.host,
    "port": ConnectionRow.port,
}
_CHUNK = 500


@dataclass(frozen=True)
class ConnectionView:
    """A connection as the API shows it: whether it has a password (never the password),
    and its extra in clear for masking (None when it has none or it cannot be opened)."""

    conn_id: str
    conn_type: str
    description: str | None
    host: str | None
    schema: str | None
    login: str | None
    port: int | None
    has_password: bool
    extra: str | None


def _view(row: ConnectionRow, encryptor: Encryptor | None, extra: bool = True) -> ConnectionView:
    opened = None
    try:
        if extra:
            what = f"the extra of {row.conn_id!r}"
            opened = open_value(row.extra, row.is_extra_encrypted, encryptor, what)
    except SecretsError as err:
        log.warning("connection %r: its extra cannot be read: %s", row.conn_id, err)
    return ConnectionView(
        conn_id=row.conn_id,
        conn_type=row.conn_type,
        description=row.description,
        host=row.host,
        schema=row.schema,
        login=row.login,
        port=row.port,
        has_password=bool(row.password),
        extra=opened,
    )


def connection_page(
    session: Session,
    encryptor: Encryptor | None,
    *,
    condition: Any = None,
    order: list[Any],
    limit: int,
    offset: int,
    extras: bool = True,
) -> tuple[list[ConnectionView], int]:
    """One page of connections matching ``condition`` in ``order``, and how many match;
    without ``extras``, nothing is decrypted (``extra`` is None)."""
    query = select(ConnectionRow)
    count = select(func.count()).select_from(ConnectionRow)
    if condition is not None:
        query, count = query.where(condition), count.where(condition)
    rows = session.scalars(query.order_by(*order, ConnectionRow.id).limit(limit).offset(offset))
    return [_view(row, encryptor, extras) for row in rows], int(session.scalar(count) or 0)


def read_connection_view(
    session: Session, conn_id: str, encryptor: Encryptor | None
) -> ConnectionView | None:
    row = session.scalar(select(ConnectionRow).where(ConnectionRow.conn_id == conn_id))
    return None if row is None else _view(row, encryptor)


def unmask_extra(new: str | None, old: str | None) -> str | None:
    """``new`` JSON (a connection's extra, a variable's value) with each sensitive key whose
    value is the mask placeholder given its stored value from ``old`` (a client that read a
    masked secret and sends it back keeps what it could not see), as Airflow merges them.

    >>> unmask_extra('{"token": "***", "region": "eu"}', '{"token": "t0k", "region": "us"}')
    '{"token": "t0k", "region": "eu"}'
    """
    if not new or not old:
        return new
    try:
        fresh, stored = json.loads(new), json.loads(old)
    except ValueError:
        return new
    if not isinstance(fresh, dict) or not isinstance(stored, dict):
        return new
    merged = _merge(fresh, stored)
    return new if merged == fresh else json.dumps(merged)


def _merge(fresh: Any, stored: Any) -> Any:
    if not isinstance(fresh, dict) or not isinstance(stored, dict):
        return fresh
    out = {}
    for key, value in fresh.items():
        if value == PLACEHOLDER and is_sensitive(key) and key in stored:
            out[key] = stored[key]
        else:
            out[key] = _merge(value, stored.get(key))
    return out


def update_connection(
    session: Session, conn_id: str, encryptor: Encryptor | None, changes: Mapping[str, Any]
) -> ConnectionView | None:
    """Set ``changes`` (field name to value: conn_type, description, host, schema, login,
    port, password, extra) on ``conn_id``; None if there is none. A password equal to the
    mask placeholder keeps the stored one, and so do masked sensitive keys of the extra. The
    result is checked as :func:`add_connection` checks (:class:`InvalidConnectionError`)."""
    row = session.scalar(select(ConnectionRow).where(ConnectionRow.conn_id == conn_id))
    if row is None:
        return None
    changes = dict(changes)
    if changes.get("password") == PLACEHOLDER and row.password is not None:
        del changes["password"]
    what = f"connection {conn_id!r}"
    if "extra" in changes:
        changes["extra"] = changes["extra"] or None
        if changes["extra"] is not None and PLACEHOLDER in changes["extra"]:
            old = open_value(row.extra, row.is_extra_encrypted, encryptor, f"the extra of {what}")
            changes["extra"] = unmask_extra(changes["extra"], old)
    plain = {k: v for k, v in changes.items() if k not in ("password", "extra")}
    check_connection(
        Connection(
            conn_id=conn_id,
            conn_type=plain.get("conn_type", row.conn_type),
            description=plain.get("description", row.description),
            host=plain.get("host", row.host),
            login=plain.get("login", row.login),
            schema=plain.get("schema", row.schema),
            port=plain.get("port", row.port),
            password=changes.get("password"),
            extra=changes.get("extra"),
        )
    )
    secrets = [changes[k] for k in ("password", "extra") if changes.get(k)]
    if secrets and encryptor is None:
        raise NoFernetKeyError(
            f"cannot store {what}: its password and extra are encrypted at rest, and no "
            f"Fernet key is configured; {HOW_TO_SET_A_KEY}"
        )
    for name, value in plain.items():
        setattr(row, name, value)
    if "password" in changes:
        password = changes["password"] or None
        row.password = encryptor.encrypt(password) if encryptor and password else None
        row.is_encrypted = password is not None
    if "extra" in changes:
        extra = changes["extra"]
        row.extra = encryptor.encrypt(extra) if encryptor and extra else None
        row.is_extra_encrypted = extra is not None
    session.flush()
    return _view(row, encryptor)


def existing_connections(session: Session, conn_ids: Iterable[str]) -> set[str]:
    """Which of ``conn_ids`` exist."""
    wanted, found = list(conn_ids), set[str]()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found.update(
            session.scalars(select(ConnectionRow.conn_id).where(ConnectionRow.conn_id.in_(chunk)))
        )
    return found


def delete_connections(session: Session, conn_ids: Iterable[str]) -> int:
    """Delete these connections; how many there were."""
    wanted, deleted = list(conn_ids), 0
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        result = session.execute(delete(ConnectionRow).where(ConnectionRow.conn_id.in_(chunk)))
        deleted += int(getattr(result, "rowcount", 0) or 0)
    return deleted
