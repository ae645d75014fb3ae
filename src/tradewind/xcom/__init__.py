"""XCom storage: the backend contract (:class:`BaseXCom`), the default backend
(``ObjectStorageXCom``: small values in the metadata DB, large ones in object storage,
compressed and encrypted as configured) and files as values (:class:`XComFile`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradewind.xcom.backend import BaseXCom, XComResult, get_backend
from tradewind.xcom.files import XComFile

if TYPE_CHECKING:
    from tradewind.xcom.object_storage_xcom import ObjectStorageXCom

__all__ = ["BaseXCom", "ObjectStorageXCom", "XComFile", "XComResult", "get_backend"]


def __getattr__(name: str) -> Any:
    # Imported when asked for: it brings fsspec and the compressors with it.
    if name == "ObjectStorageXCom":
        from tradewind.xcom.object_storage_xcom import ObjectStorageXCom

        return ObjectStorageXCom
    raise AttributeError(name)
