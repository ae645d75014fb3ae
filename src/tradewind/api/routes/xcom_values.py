"""XCom values as the API shows them, without running user code, and written through the
XCom backend.

Reading: by default a preview, as Airflow's ``orm_deserialize_value`` gives (a short value
itself, the start of a long one, a description of one in object storage: nothing is
downloaded); with ``deserialize`` the whole value, read from object storage when it is
there (at most :data:`MAX_VALUE_BYTES`). The built-in backends' values are decoded by
:func:`display`, which rebuilds the codec's standard types (datetime, bytes, tuple, ...)
but describes dataclasses, pydantic models, enums, arrays and pickles instead of rebuilding
them: rebuilding imports the module a value names, and the API server never imports user
code. A custom backend's own ``deserialize_value``/``orm_deserialize_value`` are used as
Airflow uses them.

Then the value is rendered as Airflow renders it: JSON types as they are and anything else
as text (``stringify`` renders the whole value as text).

>>> display('{"when":{"__tw__":"date","v":"2024-01-02"},"p":{"__tw__":"tuple","v":[1,2]}}')
{'when': datetime.date(2024, 1, 2), 'p': (1, 2)}
>>> native(display('{"__tw__":"bytes","v":"aGk="}'))
"b'hi'"
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from tradewind.api.errors import ApiError
from tradewind.serialization.codec import TAG
from tradewind.xcom.backend import PREVIEW_CHARS, BaseXCom, XComResult, preview_text

log = logging.getLogger(__name__)

#: The largest stored value the API reads whole (``deserialize=true``).
MAX_VALUE_BYTES = 16 * 1024 * 1024


def _timedelta(raw: Any) -> timedelta:
    if isinstance(raw, list):
        days, seconds, micros = raw
        return timedelta(days=days, seconds=seconds, microseconds=micros)
    return timedelta(seconds=raw)


def _described(kind: str) -> Callable[[Any], Any]:
    def describe(raw: Any) -> str:
        path, data = raw if isinstance(raw, list) and len(raw) == 2 else ("?", raw)
        if kind == "enum":
            return f"{path}({display_data(data)!r})"
        if isinstance(data, dict):
            fields = ", ".join(f"{k}={display_data(v)!r}" for k, v in data.items())
            return f"{path}({fields})"
        return f"{path}({display_data(data)!r})"

    return describe


_BUILTIN: dict[str, Callable[[Any], Any]] = {
    "dict": lambda raw: {_hashable(display_data(k)): display_data(v) for k, v in raw},
    "tuple": lambda raw: tuple(display_data(v) for v in raw),
    "set": lambda raw: {_hashable(display_data(v)) for v in raw},
    "frozenset": lambda raw: frozenset(_hashable(display_data(v)) for v in raw),
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "timedelta": _timedelta,
    "decimal": Decimal,
    "uuid": uuid.UUID,
    "bytes": base64.b64decode,
    "bytearray": lambda raw: bytearray(base64.b64decode(raw)),
    "float": float,
    "dataclass": _described("dataclass"),
    "pydantic": _described("pydantic"),
    "enum": _described("enum"),
}


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, (list, dict, set, bytearray)) else value


def display_data(data: Any) -> Any:
    """Parsed codec JSON as a Python value, never importing anything (see the module)."""
    if isinstance(data, list):
        return [display_data(v) for v in data]
    if isinstance(data, dict):
        kind = data.get(TAG)
        if kind is None:
            return {k: display_data(v) for k, v in data.items()}
        decoder = _BUILTIN.get(kind) if isinstance(kind, str) else None
        if decoder is None:
            if kind == "pickle":
                return "<pickled value: not unpickled by the API>"
            return f"<{kind}: not rebuilt by the API>"
        try:
            return decoder(data.get("v"))
        except (TypeError, ValueError):
            return f"<malformed {kind}>"
    return data


def display(text: str) -> Any:
    """The value a row's codec text holds, for display (see :func:`display_data`)."""
    try:
        data = json.loads(text)
    except ValueError:
        return text
    return display_data(data)


def native(value: Any) -> Any:
    """Airflow's rendering: JSON types as they are (tuples as lists, keys as text),
    anything else, and floats JSON cannot carry, as text."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): native(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [native(v) for v in value]
    return str(value)


def stringified(value: Any) -> str | None:
    """Airflow's ``stringify``: the value as text (None stays None)."""
    return None if value is None else str(value)


@contextlib.contextmanager
def storage_secrets(engine: Engine) -> Iterator[None]:
    """Connections from the environment and the metadata DB while the block runs, as the
    services read them: object storage may use one (``xcom.objectstorage_conn_id``)."""
    from tradewind.scheduler.worker_services import service_secrets
    from tradewind.sdk.secrets_access import use_reader
    from tradewind.secrets.encryption import SecretsError

    try:
        reader = service_secrets(engine)
    except SecretsError as err:  # a malformed Fernet key
        raise ApiError(503, str(err)) from None
    with use_reader(reader):
        yield


def read_value(backend: BaseXCom, result: XComResult, *, deserialize: bool) -> Any:
    """The value of ``result`` to show (see the module); 400 when it cannot be read (its
    stored data gone, no key to decrypt it, too big), 503 when its storage fails."""
    from tradewind.exceptions import XComError
    from tradewind.xcom.object_storage_xcom import ObjectStorageXCom

    try:
        if type(backend) is ObjectStorageXCom:
            return _object_storage(backend, result, deserialize)
        if type(backend) is BaseXCom:
            text = result.value
            return preview_text(text) if _long(text, deserialize) else display(text)
        # A custom backend: its own contract, as Airflow calls it.
        if deserialize:
            return backend.deserialize_value(result)
        return backend.orm_deserialize_value(result)
    except ApiError:
        raise
    except (XComError, ValueError) as err:  # gone, malformed, no key to decrypt it
        raise ApiError(400, f"cannot read XCom `{result.key}`: {err}") from None
    except Exception as err:  # storage is another system: anything may fail there
        log.warning("reading XCom %r failed", result.key, exc_info=True)
        raise ApiError(503, f"cannot read XCom `{result.key}` from its storage: {err}") from None


def _long(text: str, deserialize: bool) -> bool:
    return not deserialize and len(text) > PREVIEW_CHARS


def _object_storage(backend: Any, result: XComResult, deserialize: bool) -> Any:
    """The built-in backend's rows: a reference to stored data, a sealed value, or text."""
    from tradewind.exceptions import XComError
    from tradewind.xcom import blob
    from tradewind.xcom.object_store import MissingObjectError
    from tradewind.xcom.reference import parse_ref, parse_sealed

    text = result.value
    ref = parse_ref(text)
    if ref is not None:
        if not deserialize:
            return f"<{ref.kind} of {ref.size} bytes in object storage: {ref.url}>"
        if ref.kind == "file":
            return backend.deserialize_value(result)  # an XComFile: nothing downloaded
        if ref.size > MAX_VALUE_BYTES:
            raise ApiError(
                400,
                f"XCom `{result.key}` is {ref.size} bytes, over the {MAX_VALUE_BYTES} bytes "
                "the API returns whole; read it from a task, or without deserialize",
            )
        if ref.kind == "bytes":
            return backend.deserialize_value(result)
        stored = backend.store_for(ref.url)
        try:
            with blob.open_blob(stored.open_read(ref.url), keyring=backend.keyring) as stream:
                text = stream.read().decode()
        except MissingObjectError:
            raise XComError(f"it refers to {ref.url}, which is gone from object storage") from None
    else:
        sealed = parse_sealed(text)
        if sealed is not None:
            text = blob.open_bytes(sealed, keyring=backend.keyring).decode()
    return preview_text(text) if _long(text, deserialize) else display(text)
