"""A read cache for XCom values in object storage: hot values (one upstream pulled by a
thousand mapped copies) are fetched from storage once per host, not once per pull.

``xcom.cache`` turns it on: ``"disk"`` keeps values in files under ``xcom.cache_path``
(default ``$TRADEWIND_HOME/xcom-cache``), dropping the least recently used beyond
``xcom.cache_max_bytes`` (default 1 GiB); a ``redis://`` URL keeps them in Redis for
``xcom.cache_ttl_seconds`` (default one hour). Values over ``xcom.cache_max_value_bytes``
(default 64 MiB) are never cached.

What is cached is the stored object as it is, encrypted when encryption is on, keyed by its
URL: a stored object never changes (its URL has a unique suffix), so the cache is never stale,
and it holds no plaintext the storage does not.

>>> import tempfile
>>> cache = DiskCache(tempfile.mkdtemp(), max_bytes=10)
>>> cache.put("s3://b/k-1", b"abc")
>>> cache.get("s3://b/k-1")
b'abc'
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from tradewind import config
from tradewind.exceptions import XComError
from tradewind.xcom.backend import int_setting

DEFAULT_MAX_BYTES = 1024**3
DEFAULT_MAX_VALUE_BYTES = 64 * 1024**2
DEFAULT_TTL_SECONDS = 3600


class ReadCache(Protocol):
    """Stored objects by URL."""

    def get(self, url: str) -> bytes | None: ...

    def put(self, url: str, data: bytes) -> None: ...

    def discard(self, url: str) -> None: ...


def _name(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


class DiskCache:
    """Files in a folder, least recently used dropped beyond ``max_bytes``. Several
    processes may share the folder: files appear by atomic rename, and a file removed under
    a reader's feet is a miss."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        max_bytes: int,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.max_value_bytes = min(max_value_bytes, max_bytes)

    def get(self, url: str) -> bytes | None:
        path = self.folder / _name(url)
        try:
            data = path.read_bytes()
            os.utime(path)  # marks it recently used
        except FileNotFoundError:
            return None
        return data

    def put(self, url: str, data: bytes) -> None:
        if len(data) > self.max_value_bytes:
            return
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, self.folder / _name(url))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._shrink()

    def discard(self, url: str) -> None:
        (self.folder / _name(url)).unlink(missing_ok=True)

    def _shrink(self) -> None:
        entries = []
        total = 0
        for entry in os.scandir(self.folder):
            if entry.name.startswith(".tmp-"):
                continue
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue
            entries.append((stat.st_mtime, stat.st_size, entry.path))
            total += stat.st_size
        if total <= self.max_bytes:
            return
        for _, size, path in sorted(entries):
            Path(path).unlink(missing_ok=True)
            total -= size
            if total <= self.max_bytes:
                return


class RedisCache:
    """Values in Redis, each expiring after ``ttl_seconds``."""

    def __init__(
        self, url: str, *, ttl_seconds: int, max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
    ) -> None:
        try:
            import redis
        except ImportError:
            raise XComError(
                "xcom.cache is a Redis URL, but the redis package is not installed "
                "(pip install 'tradewind[redis]')"
            ) from None
        self._client: Any = redis.Redis.from_url(url)
        self.ttl_seconds = ttl_seconds
        self.max_value_bytes = max_value_bytes

    def get(self, url: str) -> bytes | None:
        data = self._client.get("tradewind:xcom:" + _name(url))
        return None if data is None else bytes(data)

    def put(self, url: str, data: bytes) -> None:
        if len(data) <= self.max_value_bytes:
            self._client.set("tradewind:xcom:" + _name(url), data, ex=self.ttl_seconds)

    def discard(self, url: str) -> None:
        self._client.delete("tradewind:xcom:" + _name(url))


def cache_from_config() -> ReadCache | None:
    """The cache ``xcom.cache`` asks for, or ``None`` (the default: no cache)."""
    kind = str(config.get("xcom", "cache") or "").strip()
    max_value = int_setting(
        "xcom.cache_max_value_bytes",
        config.get("xcom", "cache_max_value_bytes"),
        DEFAULT_MAX_VALUE_BYTES,
    )
    if not kind or kind.lower() in ("none", "off"):
        return None
    if kind.lower() == "disk":
        folder = config.get("xcom", "cache_path") or config.home() / "xcom-cache"
        max_bytes = int_setting(
            "xcom.cache_max_bytes", config.get("xcom", "cache_max_bytes"), DEFAULT_MAX_BYTES
        )
        return DiskCache(Path(folder).expanduser(), max_bytes=max_bytes, max_value_bytes=max_value)
    if kind.startswith(("redis://", "rediss://", "unix://")):
        ttl = int_setting(
            "xcom.cache_ttl_seconds", config.get("xcom", "cache_ttl_seconds"), DEFAULT_TTL_SECONDS
        )
        return RedisCache(kind, ttl_seconds=ttl, max_value_bytes=max_value)
    raise XComError(f'xcom.cache must be empty, "disk" or a redis:// URL, not {kind!r}')
