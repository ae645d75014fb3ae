"""Testing a connection from the API (``POST /connections/test``), when it is turned on.

Airflow tests a connection through its provider's hook; Tradewind has no hooks in the API
server (it never imports user code), so it tests what every connection has in common: that
its host accepts a TCP connection on its port (or the usual port of its type), within
:data:`TIMEOUT_SECONDS`.

It is off unless ``api.test_connection`` is ``Enabled``, as Airflow's ``test_connection``:
it makes the server open connections to hosts a caller chooses, which a deployment should
allow only when it trusts everyone who may edit connections.

>>> default_port("postgres"), default_port("unknown")
(5432, None)
"""

from __future__ import annotations

import socket
from collections.abc import Mapping

from tradewind.api.errors import ApiError
from tradewind.api.schemas.connections import ConnectionTestResponse

TIMEOUT_SECONDS = 5.0
DISABLED = (
    "Testing connections is disabled in Tradewind configuration (api.test_connection). "
    "Contact your deployment admin to enable it."
)

#: The usual port of common connection types, for a connection that names none.
_PORTS = {
    "amqp": 5672,
    "ftp": 21,
    "http": 80,
    "https": 443,
    "mongo": 27017,
    "mssql": 1433,
    "mysql": 3306,
    "oracle": 1521,
    "postgres": 5432,
    "redis": 6379,
    "sftp": 22,
    "smtp": 25,
    "ssh": 22,
}


def default_port(conn_type: str | None) -> int | None:
    return _PORTS.get((conn_type or "").lower())


def require_enabled() -> None:
    """403 unless ``api.test_connection`` is ``Enabled`` (read on every call)."""
    from tradewind import config

    setting = config.get("api", "test_connection", "Disabled")
    if str(setting or "").strip().lower() != "enabled":
        raise ApiError(403, DISABLED)


def probe(conn: Mapping[str, object]) -> ConnectionTestResponse:
    """Whether ``conn``'s host (``conn_id``, ``conn_type``, ``host``, ``port``) answers."""
    host = conn.get("host")
    if not isinstance(host, str) or not host:
        return ConnectionTestResponse(
            status=False, message=f"Connection `{conn.get('conn_id')}` has no host to test"
        )
    port = conn.get("port")
    if not isinstance(port, int):
        port = default_port(str(conn.get("conn_type") or ""))
    if port is None:
        return ConnectionTestResponse(
            status=False,
            message=f"Connection `{conn.get('conn_id')}` has no port, and type "
            f"{conn.get('conn_type')!r} has no usual port to try",
        )
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_SECONDS):
            pass
    except (OSError, UnicodeError, ValueError) as err:
        return ConnectionTestResponse(status=False, message=f"Could not reach {host}:{port}: {err}")
    return ConnectionTestResponse(status=True, message="Connection successfully tested")
