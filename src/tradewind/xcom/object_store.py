"""Where large XCom values live: objects in any fsspec store, one folder per DAG and run.

Values too large for the metadata DB go to object storage (a shared folder, S3, GCS, ...) and
the DB keeps their URLs. This module names the objects, writes them atomically, streams them
back, purges a run's or a DAG's objects, and refuses any URL outside the configured base, so
a crafted reference in the DB can never make Tradewind read or delete anything else.

Layout: ``<base>/<dag_id>/<run_id>/<task_id>/<map_index>/<key>-<uuid4 hex>``. Each part is
escaped with :func:`escape_segment` (reversible, and never ``.``, ``..`` or empty), so ids
with ``/``, ``:``, ``+``, ``%``, spaces or unicode stay inside their folder and never collide.

Fork safety: s3fs and gcsfs run their I/O on an event loop thread that does not survive
``os.fork()``; fsspec refuses to use such an instance in a child. A store therefore keeps one
filesystem per process id and builds a fresh one in a forked child (task processes are forks).

>>> store = ObjectStore("memory://xcom-doc")
>>> url = store.object_url("etl", "manual__2024-01-01T00:00:00+00:00", "load", -1, "rows")
>>> url.startswith("memory://xcom-doc/etl/manual__2024-01-01T00%3A00%3A00%2B00%3A00/load/-1/")
True
>>> with store.open_write(url) as fh:
...     _ = fh.write(b"payload")
>>> store.read_bytes(url)
b'payload'
>>> store.delete_prefix(store.prefix_url("etl"))
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import string
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO
from urllib.parse import unquote

from tradewind.exceptions import XComError

log = logging.getLogger(__name__)

PATH_SETTING = "xcom.objectstorage_path"

_SAFE = frozenset(string.ascii_letters + string.digits + "._-")
_ALIASES = {"gcs": "gs", "s3a": "s3", "local": "file"}
# Stores whose buffered writers upload in parts and only publish the object on close.
_MULTIPART = {"s3", "gs"}
# Listings are never cached: other processes write here too. s3fs's 50 MB parts cost ~170 MB
# of memory per open reader or writer; 8 MiB parts keep that near 40 MB.
_OPTIONS: dict[str, Any] = {"use_listings_cache": False}
_PROTOCOL_OPTIONS: dict[str, dict[str, Any]] = {"s3": {"default_block_size": 8 * 2**20}}
_CONN_TYPES = {"s3": {"aws", "s3"}, "gs": {"google_cloud_platform", "gcp", "gcs", "gs"}}
# Seconds an aborted write waits for GCS to cancel its upload session (one request).
_GCS_CANCEL_TIMEOUT = 2.0
# Filesystems built in a parent process, kept alive in the child: dropping one there runs
# s3fs's session finalizer against the parent's dead event loop, which blocks for a second.
_INHERITED: list[Any] = []


class MissingObjectError(XComError):
    """The URL is under the store, but no object is there (deleted, or never written)."""


@dataclass(frozen=True)
class StoredObject:
    """One object found by :meth:`ObjectStore.list_objects`."""

    url: str
    size: int
    modified: datetime | None


def escape_segment(value: str) -> str:
    """One path segment for ``value``: percent-encoded UTF-8 for everything but
    ``[A-Za-z0-9._-]``, and a leading ``.`` too, so no id reads as ``.``, ``..`` or a hidden
    file. Reversed by :func:`unescape_segment`.

    >>> escape_segment("scheduled__2024-01-01T00:00:00+00:00")
    'scheduled__2024-01-01T00%3A00%3A00%2B00%3A00'
    >>> escape_segment("../etc"), unescape_segment(escape_segment("../etc"))
    ('%2E.%2Fetc', '../etc')
    """
    if not value:
        raise ValueError("an XCom object path part (dag, run, task or key) must not be empty")
    out = [c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in value]
    if value[0] == ".":
        out[0] = "%2E"
    return "".join(out)


def unescape_segment(segment: str) -> str:
    """The value :func:`escape_segment` encoded as ``segment``."""
    return unquote(segment, errors="strict")


class ObjectStore:
    """Large XCom values under one base URL (``file://``, ``s3://``, ``gs://``, ``memory://``).

    ``conn_id`` names a Tradewind connection with the credentials (looked up on first use,
    through the current secrets reader: ``TRADEWIND_CONN_<ID>``, or the metadata DB in
    services and tasks); without one, the standard environment applies (``AWS_*``,
    ``STORAGE_EMULATOR_HOST``). ``storage_options`` go to fsspec and win over both.

    >>> store = ObjectStore("s3://bucket/xcom/")
    >>> store.url, store.protocol, store.is_local
    ('s3://bucket/xcom', 's3', False)
    >>> store.owns("s3://bucket/xcom/d/r/t/-1/k-00"), store.owns("s3://bucket/other")
    (True, False)
    """

    def __init__(
        self,
        url: str,
        *,
        conn_id: str | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self.protocol, self.url = _normalize(url)
        self.is_local = self.protocol == "file"
        self.conn_id = conn_id
        self._explicit = dict(storage_options or {})
        self._options: dict[str, Any] | None = None
        self._fs: tuple[int, Any] | None = None
        if conn_id and self.protocol not in _MULTIPART:
            raise XComError(f"{self.url}: connections work for s3 and gs stores only")
        self._fs_class = _filesystem_class(self.protocol, self.url)
        self._root: str = self._fs_class._strip_protocol(self.url).rstrip("/")

    def __repr__(self) -> str:  # never the storage options: they may hold secrets
        return f"ObjectStore({self.url!r})"

    def object_url(self, dag_id: str, run_id: str, task_id: str, map_index: int, key: str) -> str:
        """A new, unique URL for one value of one task instance."""
        name = f"{escape_segment(key)}-{uuid.uuid4().hex}"
        return f"{self.prefix_url(dag_id, run_id)}/{escape_segment(task_id)}/{map_index:d}/{name}"

    def prefix_url(self, dag_id: str, run_id: str | None = None) -> str:
        """The folder of a DAG's objects, or of one of its runs."""
        url = f"{self.url}/{escape_segment(dag_id)}"
        return url if run_id is None else f"{url}/{escape_segment(run_id)}"

    def owns(self, url: str) -> bool:
        """Whether ``url`` lies strictly under this store's base (no ``.``/``..`` tricks)."""
        if not isinstance(url, str) or not url.startswith(self.url + "/") or "\x00" in url:
            return False
        parts = url[len(self.url) + 1 :].split("/")
        return all(part not in ("", ".", "..") for part in parts)

    @contextlib.contextmanager
    def open_write(self, url: str) -> Iterator[BinaryIO]:
        """A binary writer for ``url``. The object appears only when the block ends without
        an exception; on an exception nothing is left. Do not close the writer yourself.

        >>> store = ObjectStore("memory://xcom-doc")
        >>> url = store.object_url("d", "r", "t", -1, "k")
        >>> with store.open_write(url) as fh:
        ...     _ = fh.write(b"big value, written in parts")
        """
        path = self._path(url, "write")
        staged = self.protocol not in _MULTIPART
        in_block = False
        try:
            with self._write_staged(path) if staged else self._write_multipart(path) as fh:
                in_block = True
                yield fh
                in_block = False
        except Exception as err:
            # The caller's own errors pass through; the writer's (opening, uploading,
            # publishing) become XComError. Stores report theirs as OSError mostly.
            if isinstance(err, XComError) or (in_block and not isinstance(err, OSError)):
                raise
            raise XComError(f"writing {url} failed: {type(err).__name__}: {err}") from err

    def open_read(self, url: str) -> BinaryIO:
        """A streaming binary reader for ``url`` (reads in blocks; close it when done)."""
        path = self._path(url, "read")
        with self._errors("reading", url, reading=True):
            return self._filesystem().open(path, "rb")  # type: ignore[no-any-return]

    def read_bytes(self, url: str) -> bytes:
        """The whole object at ``url``."""
        path = self._path(url, "read")
        with self._errors("reading", url, reading=True):
            return self._filesystem().cat_file(path)  # type: ignore[no-any-return]

    def delete(self, urls: Iterable[str]) -> None:
        """Remove these objects (batched where the store can); missing ones are ignored.
        Nothing is deleted if any URL lies outside the store."""
        urls = list(urls)
        paths = [self._path(url, "delete") for url in urls]
        self._remove(paths, urls[0] if len(urls) == 1 else f"{len(urls)} objects")

    def _remove(self, paths: list[str], what: str) -> None:
        if not paths:
            return
        fs = self._filesystem()
        with self._errors("deleting", what):
            if self.protocol in _MULTIPART:
                # Batched: 1000 (S3) or 100 (GCS) objects a request. Both skip missing
                # objects, but gcsfs raises when none of them existed.
                with contextlib.suppress(FileNotFoundError):
                    fs.rm(paths)
                return
            for path in paths:  # one at a time: a missing path would stop a batch here
                with contextlib.suppress(FileNotFoundError):
                    fs.rm_file(path)

    def delete_prefix(self, prefix_url: str) -> None:
        """Remove everything under a DAG's or a run's folder (see :meth:`prefix_url`)."""
        path = self._path(prefix_url, "delete")
        if self.protocol in _MULTIPART:
            self._remove([p for p in self._find(path) if p.startswith(path + "/")], prefix_url)
            return
        fs = self._filesystem()
        with self._errors("deleting", prefix_url), contextlib.suppress(FileNotFoundError):
            fs.rm(path, recursive=True)  # its folders too, not only the files in them

    def list_objects(self, prefix_url: str | None = None) -> Iterator[StoredObject]:
        """Every object under the base (or under ``prefix_url``), recursively. Objects of
        writes in progress may show too (local ones as hidden temporary files): purge only
        what is older than any write could take."""
        if prefix_url is None or prefix_url == self.url:
            return self._iter_objects(self._root, self.url)
        return self._iter_objects(self._path(prefix_url, "list"), prefix_url)

    def _iter_objects(self, path: str, url: str) -> Iterator[StoredObject]:
        for name, info in sorted(self._find(path, detail=True).items()):
            if info.get("type", "file") == "file" and name.startswith(path + "/"):
                size = int(info.get("size") or 0)
                yield StoredObject(url + name[len(path) :], size, _modified(info))

    def _find(self, path: str, **kwargs: Any) -> Any:
        """What lies under ``path``; nothing if it (or its bucket) does not exist."""
        with self._errors("listing", self.url + path[len(self._root) :]):
            try:
                return self._filesystem().find(path + "/", **kwargs)
            except FileNotFoundError:
                return {} if kwargs.get("detail") else []

    def check(self) -> None:
        """Raise :class:`XComError` unless the store is reachable and writable (by writing
        and removing a probe object)."""
        fs = self._filesystem()
        probe = f"{self._root}/.tradewind-check-{uuid.uuid4().hex}"
        try:
            if self.protocol not in _MULTIPART:
                fs.makedirs(self._root, exist_ok=True)  # buckets are never created here
            fs.pipe_file(probe, b"ok")
            fs.rm_file(probe)
        except FileNotFoundError as err:  # folders were just made: the bucket is missing
            raise XComError(
                f"XCom object storage {self.url}: the bucket does not exist "
                f"(or these credentials cannot see it): {err}"
            ) from err
        except Exception as err:
            raise XComError(
                f"XCom object storage {self.url} is unreachable or not writable: "
                f"{type(err).__name__}: {err}"
            ) from err

    def _path(self, url: str, action: str) -> str:
        if not self.owns(url):
            raise XComError(
                f"refusing to {action} {url!r}: it is not under the XCom object store {self.url}"
            )
        return self._root + url[len(self.url) :]

    @contextlib.contextmanager
    def _errors(self, action: str, what: str, *, reading: bool = False) -> Iterator[None]:
        try:
            yield
        except XComError:
            raise
        except FileNotFoundError as err:
            if reading:
                raise MissingObjectError(f"{action} {what}: no such object") from err
            raise XComError(f"{action} {what}: not found: {err}") from err
        except Exception as err:
            raise XComError(f"{action} {what} failed: {type(err).__name__}: {err}") from err

    def _filesystem(self) -> Any:
        """This process's filesystem: one built before a fork is unusable in the child."""
        pid = os.getpid()
        current = self._fs
        if current is not None and current[0] == pid:
            return current[1]
        if current is not None:
            _INHERITED.append(current[1])
        if self._options is None:
            conn = _connection_options(self.protocol, self.conn_id, self.url)
            extra = _PROTOCOL_OPTIONS.get(self.protocol, {})
            self._options = {**_OPTIONS, **extra, **conn, **self._explicit}
        _register_fork_hook()
        try:
            fs = self._fs_class(**self._options)
        except Exception as err:
            raise XComError(f"{self.url}: cannot set up access: {err!r}") from err
        self._fs = (pid, fs)
        return fs

    @contextlib.contextmanager
    def _write_multipart(self, path: str) -> Iterator[BinaryIO]:
        fh = self._filesystem().open(path, "wb")
        try:
            yield fh
        except BaseException:
            self._abort(fh)
            raise
        try:
            fh.close()  # uploads the last part and publishes the object
        except BaseException:
            self._abort(fh)
            raise

    def _abort(self, fh: Any) -> None:
        try:
            if self.protocol != "gs":
                fh.discard()  # S3: abort the multipart upload, drop the buffer
            elif location := getattr(fh, "location", None):
                # gcsfs's discard retries a failed cancel for ~30 s (and emulators fail it)
                from fsspec.asyn import sync

                fh.location = None
                sync(fh.fs.loop, fh.fs._call, "DELETE", location, timeout=_GCS_CANCEL_TIMEOUT)
        except Exception as err:  # the upload never becomes an object; the store expires it
            log.warning("Could not cancel the unfinished upload of %s: %r", fh.path, err)
        finally:
            fh.closed = True  # else the file's __del__ would close, that is publish, it

    @contextlib.contextmanager
    def _write_staged(self, path: str) -> Iterator[BinaryIO]:
        # Local folders (and memory://) show a file as soon as it is opened: write a hidden
        # sibling, then rename it into place, which is atomic within one folder.
        parent, name = path.rsplit("/", 1)
        temp = f"{parent}/.{name}.{uuid.uuid4().hex[:8]}.tmp"
        fs = self._filesystem()
        try:
            fs.makedirs(parent, exist_ok=True)
            with fs.open(temp, "wb") as fh:
                yield fh
                if self.is_local:  # a crash must not leave a published but empty object
                    fh.flush()
                    os.fsync(fh.fileno())
            fs.mv(temp, path)
        except BaseException:
            with contextlib.suppress(Exception):
                fs.rm_file(temp)
            raise


def store_from_config() -> ObjectStore | None:
    """The store the settings name: ``xcom.objectstorage_path`` (default
    ``file://$TRADEWIND_HOME/xcom``; empty: no object storage, ``None``) with the optional
    connection ``xcom.objectstorage_conn_id``.

    >>> import os
    >>> os.environ["TRADEWIND__XCOM__OBJECTSTORAGE_PATH"] = ""
    >>> store_from_config() is None
    True
    >>> del os.environ["TRADEWIND__XCOM__OBJECTSTORAGE_PATH"]
    """
    from tradewind import config

    raw = config.get("xcom", "objectstorage_path")
    if raw is None:
        raw = "file://" + os.path.abspath(config.home() / "xcom")
    if not isinstance(raw, str):
        raise XComError(f"{PATH_SETTING} must be a URL string, not {type(raw).__name__}")
    if not raw.strip():
        return None
    conn_id = config.get("xcom", "objectstorage_conn_id") or None
    try:
        return ObjectStore(raw.strip(), conn_id=None if conn_id is None else str(conn_id))
    except XComError as err:
        raise XComError(f"{PATH_SETTING}: {err}") from None


def _normalize(url: str) -> tuple[str, str]:
    """``(protocol, base URL)``: canonical scheme, absolute, no trailing slash."""
    if not isinstance(url, str) or not url.strip():
        raise XComError("the XCom object storage URL is empty")
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if "@" in rest.split("/")[0]:  # checked first: no message below may echo a secret
        raise XComError(f"{scheme}://...: put credentials in a connection, not in the URL")
    if "::" in url:
        raise XComError(f"{url!r}: chained fsspec URLs are not supported")
    if not sep:
        scheme, rest = "file", os.path.expanduser(url)
    scheme = _ALIASES.get(scheme.lower(), scheme.lower())
    if scheme == "file":
        path = os.path.normpath(rest.removeprefix("localhost"))
        if not os.path.isabs(path) or path.strip("/") == "":
            raise XComError(f"{url!r} is not an absolute path to a folder")
        return "file", "file://" + path
    location = rest.strip("/")
    if not location:
        raise XComError(f"{url!r} names no bucket or location")
    if any(part in ("", ".", "..") for part in location.split("/")):
        raise XComError(f"{url!r} has an empty, '.' or '..' path part")
    return scheme, f"{scheme}://{location}"


def _filesystem_class(protocol: str, url: str) -> Any:
    import fsspec

    if protocol == "gs":
        try:
            # The plain JSON-API filesystem, not gcsfs's experimental default: that one
            # probes every bucket over gRPC (a minute against emulators) and adds gRPC
            # threads that do not survive fork.
            from gcsfs.core import GCSFileSystem
        except ImportError:
            raise XComError(f"{url} needs gcsfs: pip install 'tradewind[gcs]'") from None
        return GCSFileSystem
    if protocol not in fsspec.available_protocols():
        raise XComError(f"{url}: unknown storage protocol {protocol!r}")
    try:
        return fsspec.get_filesystem_class(protocol)
    except ImportError as err:
        raise XComError(f"{url}: {protocol} storage is not installed: {err}") from None


def _connection_options(protocol: str, conn_id: str | None, url: str) -> dict[str, Any]:
    """fsspec options from a Tradewind connection (never echoing its secrets)."""
    if not conn_id:
        return {}
    from tradewind.exceptions import ConnectionNotFound
    from tradewind.sdk.connection import Connection

    try:
        conn = Connection.get(conn_id)
    except ConnectionNotFound:
        raise XComError(
            f"XCom object storage {url}: connection {conn_id!r} is not defined "
            f"(set TRADEWIND_CONN_{conn_id.upper()} or add it to the metadata DB)"
        ) from None
    conn_type = (conn.conn_type or "").lower().replace("-", "_")
    extra = conn.extra_dejson

    def pick(*names: str) -> Any:
        for name in names:  # Airflow also writes "extra__<conn_type>__<name>"
            for k in (name, f"extra__{conn_type}__{name}"):
                if extra.get(k) not in (None, ""):
                    return extra[k]
        return None

    if protocol == "s3" and conn_type in _CONN_TYPES["s3"]:
        region = pick("region_name")
        options = {
            "key": conn.login or pick("aws_access_key_id"),
            "secret": conn.password or pick("aws_secret_access_key"),
            "token": pick("session_token", "aws_session_token"),
            "endpoint_url": pick("endpoint_url"),
            "client_kwargs": {"region_name": region} if region else None,
        }
    elif protocol == "gs" and conn_type in _CONN_TYPES["gs"]:
        keyfile = pick("keyfile_dict")
        if isinstance(keyfile, str):
            try:
                keyfile = json.loads(keyfile)
            except json.JSONDecodeError:
                raise XComError(f"connection {conn_id!r}: keyfile_dict is not JSON") from None
        token = pick("token", "key_path") or keyfile  # "anon" for emulators
        options = {"token": token, "project": pick("project"), "endpoint_url": pick("endpoint_url")}
    else:
        wanted = "aws" if protocol == "s3" else "google_cloud_platform"
        raise XComError(
            f"XCom object storage {url}: connection {conn_id!r} has conn_type "
            f"{conn.conn_type!r}; {protocol} storage needs {wanted!r}"
        )
    return {k: v for k, v in options.items() if v is not None}


def _modified(info: dict[str, Any]) -> datetime | None:
    """An aware UTC time from whichever field the store reports."""
    for field in ("mtime", "LastModified", "updated", "last_modified", "created"):
        value = info.get(field)
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = datetime.fromisoformat(value)
        if isinstance(value, datetime):  # naive ones are UTC (fsspec's memory store)
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return None


@functools.cache
def _register_fork_hook() -> None:
    """Reset fsspec's I/O-loop lock in forked children: fsspec's own after-fork hook misses
    it, so a fork while another thread held it would hang the child's first request."""
    from fsspec.asyn import reset_lock

    os.register_at_fork(after_in_child=reset_lock)
