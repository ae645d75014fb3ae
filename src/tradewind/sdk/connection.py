"""``Connection``: where and how to reach an external system.

A connection can be written as a URI (``postgres://user:pw@host:5432/db?sslmode=require``)
or as JSON (``{"conn_type": "postgres", "host": "..."}``), as in Airflow.

>>> c = Connection.from_uri("my_db", "postgres://me:s%40fe@db.local:5432/sales?sslmode=require")
>>> (c.conn_type, c.login, c.password, c.host, c.port, c.schema, c.extra_dejson)
('postgres', 'me', 's@fe', 'db.local', 5432, 'sales', {'sslmode': 'require'})
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from tradewind.exceptions import ConnectionNotFound


@dataclass
class Connection:
    """A connection's fields; ``extra`` is a JSON string, ``extra_dejson`` its dict."""

    conn_id: str
    conn_type: str | None = None
    description: str | None = None
    host: str | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    port: int | None = None
    extra: str | None = None

    @property
    def extra_dejson(self) -> dict[str, Any]:
        if not self.extra:
            return {}
        try:
            value = json.loads(self.extra)
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}

    @classmethod
    def get(cls, conn_id: str) -> Connection:
        """Look up a connection by id; raise :class:`ConnectionNotFound` if there is none."""
        from tradewind.sdk.secrets_access import current_reader

        conn = current_reader().get_connection(conn_id)
        if conn is None:
            raise ConnectionNotFound(f"The conn_id `{conn_id}` isn't defined")
        return conn  # type: ignore[no-any-return]

    @classmethod
    def from_uri(cls, conn_id: str, uri: str) -> Connection:
        """Parse an Airflow-style connection URI."""
        parts = urlsplit(uri)
        if not parts.scheme:
            raise ValueError(f"connection {conn_id!r}: {uri!r} is not a URI (no scheme)")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if "__extra__" in query:
            extra: str | None = query["__extra__"]
        else:
            extra = json.dumps(query) if query else None
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"connection {conn_id!r}: port in {uri!r} is not a number") from None
        conn_type = parts.scheme.replace("-", "_")
        if conn_type == "postgresql":  # SQLAlchemy's name for it, as Airflow accepts
            conn_type = "postgres"
        return cls(
            conn_id=conn_id,
            conn_type=conn_type,
            host=_host(parts.netloc),
            login=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            schema=unquote(parts.path.lstrip("/")) or None,
            port=port,
            extra=extra,
        )

    @classmethod
    def from_json(cls, conn_id: str, text: str) -> Connection:
        """Parse the JSON form: ``{"conn_type": ..., "host": ..., "extra": {...}}``."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"connection {conn_id!r}: invalid JSON: {err}") from None
        if not isinstance(data, dict):
            raise ValueError(f"connection {conn_id!r}: JSON must be an object")
        extra = data.get("extra")
        if isinstance(extra, dict):
            extra = json.dumps(extra)
        port = data.get("port")
        return cls(
            conn_id=conn_id,
            conn_type=data.get("conn_type"),
            description=data.get("description"),
            host=data.get("host"),
            login=data.get("login"),
            password=data.get("password"),
            schema=data.get("schema"),
            port=int(port) if port is not None else None,
            extra=extra,
        )

    @classmethod
    def from_env_value(cls, conn_id: str, raw: str) -> Connection:
        """A URI, or JSON when the value starts with ``{``."""
        raw = raw.strip()
        return cls.from_json(conn_id, raw) if raw.startswith("{") else cls.from_uri(conn_id, raw)

    def get_uri(self) -> str:
        """The connection as a URI (the inverse of :meth:`from_uri`)."""
        scheme = (self.conn_type or "").replace("_", "-")
        auth = ""
        if self.login or self.password:
            auth = quote(self.login or "", safe="")
            if self.password:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        host = quote(self.host or "", safe="")
        port = f":{self.port}" if self.port else ""
        path = "/" + quote(self.schema, safe="") if self.schema else ""
        query = ""
        if self.extra:
            extra = self.extra_dejson
            if extra and all(isinstance(v, str) for v in extra.values()):
                query = "?" + urlencode(extra)
            else:
                # Nested or non-string values (or extra that is not a dict) survive only as
                # JSON, under ``__extra__``.
                query = "?" + urlencode({"__extra__": self.extra})
        return f"{scheme}://{auth}{host}{port}{path}{query}"


def _host(netloc: str) -> str | None:
    """The host part of a URI's ``netloc``, unquoted, with its case kept (``urlsplit``'s
    ``hostname`` lower-cases it, which breaks quoted paths such as socket folders)."""
    host = netloc.rpartition("@")[2]
    if host.startswith("["):  # IPv6 literal
        host = host[1 : host.find("]")] if "]" in host else host[1:]
    else:
        host = host.partition(":")[0]
    return unquote(host) or None
