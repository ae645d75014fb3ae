"""Variables: every value encrypted at rest (as Airflow does when it has a key), read back in
clear.

Writes take an :class:`~tradewind.secrets.encryption.Encryptor` (there is no writing in
clear); reads take one or None and fail clearly on a value they cannot open. Functions work
in the caller's session and transaction, so an import is all or nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tradewind.db.models import Variable
from tradewind.exceptions import TradewindException
from tradewind.sdk.abstractoperator import validate_id
from tradewind.secrets.encryption import Encryptor, SecretsError, open_value
from tradewind.secrets.masking import PLACEHOLDER, is_sensitive

log = logging.getLogger(__name__)

OnExisting = Literal["overwrite", "fail", "skip"]

#: Keys per ``IN (...)`` query, well under every database's parameter limit.
_CHUNK = 500


class VariableExistsError(TradewindException):
    """An import met keys that already exist and was told to fail on them."""


@dataclass(frozen=True)
class VariableRecord:
    """A variable with its value in clear."""

    key: str
    val: str | None
    description: str | None
    is_encrypted: bool


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _record(row: Variable, encryptor: Encryptor | None) -> VariableRecord:
    value = open_value(row.val, row.is_encrypted, encryptor, f"variable {row.key!r}")
    return VariableRecord(row.key, value, row.description, row.is_encrypted)


def get_variable(session: Session, key: str, encryptor: Encryptor | None) -> VariableRecord | None:
    row = session.scalar(select(Variable).where(Variable.key == key))
    return None if row is None else _record(row, encryptor)


def list_keys(session: Session) -> list[str]:
    """Every key, sorted; needs no key to decrypt."""
    return list(session.scalars(select(Variable.key).order_by(Variable.key)))


def list_variables(session: Session, encryptor: Encryptor | None) -> list[VariableRecord]:
    rows = session.scalars(select(Variable).order_by(Variable.key))
    return [_record(row, encryptor) for row in rows]


def set_variable(
    session: Session,
    key: str,
    value: str,
    encryptor: Encryptor,
    description: str | None = None,
) -> bool:
    """Create or update ``key``; True if it was created. An update without a description
    keeps the one it had."""
    validate_id(key, "variable key")
    row = session.scalar(select(Variable).where(Variable.key == key))
    created = row is None
    if row is None:
        row = Variable(key=key)
        session.add(row)
    row.val = encryptor.encrypt(value)
    row.is_encrypted = True
    if description is not None or created:
        row.description = description
    session.flush()
    return created


def delete_variable(session: Session, key: str) -> bool:
    """Delete ``key``; False if there was none."""
    result = session.execute(delete(Variable).where(Variable.key == key))
    return bool(getattr(result, "rowcount", 0))


def _existing(session: Session, keys: Iterable[str]) -> dict[str, Variable]:
    wanted = list(keys)
    found: dict[str, Variable] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        for row in session.scalars(select(Variable).where(Variable.key.in_(chunk))):
            found[row.key] = row
    return found


def import_variables(
    session: Session,
    entries: Mapping[str, tuple[str, str | None]],
    encryptor: Encryptor,
    on_existing: OnExisting = "overwrite",
) -> ImportResult:
    """Set every ``key -> (value, description)``; keys are checked before anything is
    written. ``on_existing``: overwrite, fail (:class:`VariableExistsError`) or skip."""
    for key in entries:
        validate_id(key, "variable key")
    existing = _existing(session, entries)
    if on_existing == "fail" and existing:
        raise VariableExistsError(
            f"{len(existing)} variable(s) already exist: {', '.join(sorted(existing))}"
        )
    result = ImportResult()
    for key, (value, description) in entries.items():
        row = existing.get(key)
        if row is None:
            session.add(
                Variable(
                    key=key,
                    val=encryptor.encrypt(value),
                    description=description,
                    is_encrypted=True,
                )
            )
            result.created.append(key)
        elif on_existing == "skip":
            result.skipped.append(key)
        else:
            row.val = encryptor.encrypt(value)
            row.is_encrypted = True
            row.description = description
            result.updated.append(key)
    session.flush()
    return result


def rotate_variables(session: Session, encryptor: Encryptor) -> tuple[int, int]:
    """Re-encrypt every value with the first key, and encrypt any stored in clear.

    Returns (re-encrypted, newly encrypted). A value no key opens raises
    :class:`~tradewind.secrets.encryption.DecryptionError`; the caller's transaction then
    changes nothing.
    """
    rotated = encrypted = 0
    for row in session.scalars(select(Variable).where(Variable.val.is_not(None))).all():
        assert row.val is not None
        if row.is_encrypted:
            row.val = encryptor.rotate(row.val, f"variable {row.key!r}")
            rotated += 1
        else:
            row.val = encryptor.encrypt(row.val)
            row.is_encrypted = True
            encrypted += 1
    session.flush()
    return rotated, encrypted


# -- for the API: pages, lenient reads, create/update that say what happened ---------------

#: Columns ``order_by`` may name (Airflow 3's list, ``value`` as Airflow 2 names it).
ORDER_COLUMNS: dict[str, Any] = {
    "id": Variable.id,
    "key": Variable.key,
    "_val": Variable.val,
    "value": Variable.val,
    "description": Variable.description,
    "is_encrypted": Variable.is_encrypted,
}


def _lenient(row: Variable, encryptor: Encryptor | None) -> VariableRecord:
    """The record, with ``val`` None when it cannot be opened (no key, another key), as
    Airflow shows such a variable, instead of failing the whole answer."""
    try:
        return _record(row, encryptor)
    except SecretsError as err:
        log.warning("variable %r cannot be read: %s", row.key, err)
        return VariableRecord(row.key, None, row.description, row.is_encrypted)


def variable_page(
    session: Session,
    encryptor: Encryptor | None,
    *,
    condition: Any = None,
    order: list[Any],
    limit: int,
    offset: int,
    values: bool = True,
) -> tuple[list[VariableRecord], int]:
    """One page of variables matching ``condition`` in ``order``, and how many match;
    without ``values``, nothing is decrypted (``val`` is None)."""
    query = select(Variable)
    count = select(func.count()).select_from(Variable)
    if condition is not None:
        query, count = query.where(condition), count.where(condition)
    rows = session.scalars(query.order_by(*order, Variable.id).limit(limit).offset(offset))
    records = [
        _lenient(row, encryptor)
        if values
        else VariableRecord(row.key, None, row.description, row.is_encrypted)
        for row in rows
    ]
    return records, int(session.scalar(count) or 0)


def read_variable(session: Session, key: str, encryptor: Encryptor | None) -> VariableRecord | None:
    """``key``'s record (``val`` None if it cannot be opened), or None if there is none."""
    row = session.scalar(select(Variable).where(Variable.key == key))
    return None if row is None else _lenient(row, encryptor)


def create_variable(
    session: Session, key: str, value: str, encryptor: Encryptor, description: str | None
) -> VariableRecord:
    """Add ``key``; :class:`VariableExistsError` if it exists (also when added at the same
    moment by someone else)."""
    validate_id(key, "variable key")
    exists = VariableExistsError(f"The Variable with key: `{key}` already exists")
    if session.scalar(select(Variable.id).where(Variable.key == key)) is not None:
        raise exists
    row = Variable(
        key=key, val=encryptor.encrypt(value), description=description, is_encrypted=True
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # the caller's transaction is spoiled: it must roll back
        raise exists from None
    return VariableRecord(key, value, description, True)


#: An ``update_variable`` argument left as it is.
KEEP: Any = object()


def update_variable(
    session: Session,
    key: str,
    encryptor: Encryptor | None,
    *,
    value: str = KEEP,
    description: str | None = KEEP,
) -> VariableRecord | None:
    """Change what is given of ``key`` (a value needs an encryptor:
    :class:`~tradewind.secrets.encryption.NoFernetKeyError` without one); None if there is
    no such variable. A value that is what a read showed of a secret (``***`` for a
    sensitive key, masked sensitive keys in JSON) keeps the stored secret, so reading a
    variable, changing its description and sending it back loses nothing."""
    row = session.scalar(select(Variable).where(Variable.key == key))
    if row is None:
        return None
    if value is not KEEP:
        if encryptor is None:
            from tradewind.secrets.encryption import require_encryptor

            encryptor = require_encryptor(f"set variable {key!r}")
        if PLACEHOLDER in value:
            value = _unmasked(row, value, encryptor)
        row.val = encryptor.encrypt(value)
        row.is_encrypted = True
    if description is not KEEP:
        row.description = description
    session.flush()
    return _lenient(row, encryptor)


def _unmasked(row: Variable, value: str, encryptor: Encryptor) -> str:
    from tradewind.db.queries.connections import unmask_extra

    try:
        stored = open_value(row.val, row.is_encrypted, encryptor, f"variable {row.key!r}")
    except SecretsError:
        return value
    if stored is None:
        return value
    if value == PLACEHOLDER and is_sensitive(row.key):
        return stored
    return unmask_extra(value, stored) or value


def existing_keys(session: Session, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` exist."""
    return set(_existing(session, keys))


def delete_variables(session: Session, keys: Iterable[str]) -> int:
    """Delete these keys; how many there were."""
    wanted, deleted = list(keys), 0
    for start in range(0, len(wanted), _CHUNK):
        result = session.execute(
            delete(Variable).where(Variable.key.in_(wanted[start : start + _CHUNK]))
        )
        deleted += int(getattr(result, "rowcount", 0) or 0)
    return deleted
