"""Re-encrypting stored XCom values with the primary key (``tradewind xcom rotate-key``).

To rotate: put a new key first in ``xcom.encryption_keys``, keeping the old one after it (new
values are sealed with the new key, old ones still open), run the command, then drop the old
key. Setting keys where there were none and running it encrypts what was stored in clear.

Values in the DB are resealed in place; values in object storage are written again under a
new URL and their row updated in the same transaction, and the old object is removed after
the commit. So a reader (or a read cache, keyed by URL) never sees an object change, and an
interrupted rotation leaves every row pointing at a complete object.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from tradewind.db.models import XComRow
from tradewind.exceptions import XComError
from tradewind.xcom import blob
from tradewind.xcom.backend import XComResult
from tradewind.xcom.object_storage_xcom import ObjectStorageXCom
from tradewind.xcom.reference import StoredRef, parse_ref, parse_sealed, sealed_text

#: Rows per transaction.
BATCH = 200


@dataclass
class RotationReport:
    """How many values were sealed again (in the DB, in object storage) and left as they
    were (already under the primary key)."""

    in_db: int = 0
    in_storage: int = 0
    unchanged: int = 0


def rotate_keys(session: Session, backend: ObjectStorageXCom) -> RotationReport:
    """Seal every stored value with the primary key of ``xcom.encryption_keys``."""
    keyring = backend.keyring
    if keyring is None:
        raise XComError("xcom.encryption_keys is not set: there is no key to rotate to")
    report = RotationReport()
    columns = (
        XComRow.dag_id,
        XComRow.run_id,
        XComRow.task_id,
        XComRow.map_index,
        XComRow.key,
    )
    last: tuple[str, str, str, int, str] | None = None
    while True:
        query = select(*columns, XComRow.value).order_by(*columns).limit(BATCH)
        if last is not None:
            query = query.where(tuple_(*columns) > last)
        rows = session.execute(query).all()
        if not rows:
            return report
        replaced: list[str] = []
        for dag_id, run_id, task_id, map_index, key, value in rows:
            result = XComResult(dag_id, run_id, task_id, map_index, key, bytes(value).decode())
            new_text, old_url = _resealed(backend, result)
            if new_text is None:
                report.unchanged += 1
                continue
            session.execute(
                update(XComRow)
                .where(
                    XComRow.dag_id == dag_id,
                    XComRow.run_id == run_id,
                    XComRow.task_id == task_id,
                    XComRow.map_index == map_index,
                    XComRow.key == key,
                )
                .values(value=new_text.encode())
            )
            if old_url is None:
                report.in_db += 1
            else:
                report.in_storage += 1
                replaced.append(old_url)
        session.commit()
        if replaced and backend.store is not None:
            backend.store.delete(replaced)
        last = tuple(rows[-1][:5])  # type: ignore[assignment]


def _resealed(backend: ObjectStorageXCom, result: XComResult) -> tuple[str | None, str | None]:
    """The row's new text (``None``: nothing to do) and the object it no longer needs."""
    keyring = backend.keyring
    ref = parse_ref(result.value)
    if ref is not None:
        store = backend.store_for(ref.url)
        with store.open_read(ref.url) as raw:
            info = blob.read_info(raw)
        if not blob.needs_reseal(info, keyring):
            return None, None
        url = store.object_url(
            result.dag_id, result.run_id, result.task_id, result.map_index, result.key
        )
        with store.open_read(ref.url) as raw, store.open_write(url) as out:
            for part in blob.reseal(raw, keyring=keyring):  # type: ignore[arg-type]
                out.write(part)
        return StoredRef(url, ref.size, ref.kind).to_text(), ref.url
    sealed = parse_sealed(result.value)
    if sealed is not None:
        if not blob.needs_reseal(blob.info_of(sealed), keyring):
            return None, None
        plain = blob.open_bytes(sealed, keyring=keyring)
    else:
        plain = result.value.encode()
    return sealed_text(blob.seal_bytes(plain, keyring=keyring)), None
