"""Files as XCom values: a task pushes a file and the content moves by streaming, with
bounded memory, into XCom's object storage; the task that pulls it gets a readable file.

>>> import io
>>> pushed = XComFile(io.BytesIO(b"rows"))
>>> pushed.read_bytes()
b'rows'
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from tradewind.exceptions import XComError

#: How much of a file moves at a time.
CHUNK_BYTES = 1024 * 1024


class XComFile:
    """A file's content, pushed to XCom by streaming and pulled back as a stream.

    Push one by returning it from a task (or with ``ti.xcom_push``): ``XComFile(path)`` for a
    local path or any URL fsspec opens (``s3://bucket/key``, with ``storage_options``), or
    ``XComFile(fileobj)`` for an open binary file. Returning an open binary file works too.
    A pulled one reads from XCom storage: :meth:`open`, :meth:`read_bytes`,
    :meth:`read_text`, :meth:`copy_to`. Pushing a pulled one copies its content.

    >>> from tradewind.sdk import task
    >>> @task
    ... def export():
    ...     return XComFile("/data/export.csv")
    >>> @task
    ... def load(exported: XComFile):
    ...     with exported.open() as stream:
    ...         header = stream.readline()
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | BinaryIO,
        *,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self._source = source
        self._storage_options = storage_options or {}
        self._opener: Callable[[], BinaryIO] | None = None
        #: Bytes of content, when known (always, for a pulled file).
        self.size: int | None = None
        #: Where the content is: the path or URL pushed, or the stored object pulled.
        self.url = source if isinstance(source, str) else _name_of(source)

    @classmethod
    def stored(cls, url: str, size: int, opener: Callable[[], BinaryIO]) -> XComFile:
        """A pulled file: ``opener`` gives a fresh stream of its content each call."""
        pulled = cls(url)
        pulled._opener = opener
        pulled.size = size
        return pulled

    def open(self) -> BinaryIO:
        """A readable binary stream of the content, from the start."""
        if self._opener is not None:
            return self._opener()
        source = self._source
        if isinstance(source, (str, os.PathLike)):
            return _open_source(os.fspath(source), self._storage_options)
        return source

    def read_bytes(self) -> bytes:
        """All of the content (in memory: prefer :meth:`open` for big files)."""
        with self.open() as stream:
            return stream.read()

    def read_text(self, encoding: str = "utf-8") -> str:
        """All of the content as text."""
        return self.read_bytes().decode(encoding)

    def copy_to(self, path: str | os.PathLike[str]) -> Path:
        """Write the content to a local file, by streaming; the path written."""
        target = Path(path)
        with self.open() as stream, target.open("wb") as out:
            shutil.copyfileobj(stream, out, CHUNK_BYTES)
        return target

    def chunks(self) -> Iterator[bytes]:
        """The content, a chunk at a time (what pushing one reads)."""
        stream = self.open()
        try:
            while chunk := stream.read(CHUNK_BYTES):
                if not isinstance(chunk, bytes | bytearray | memoryview):
                    raise XComError(
                        f"cannot push file {self.url!r}: it is open in text mode; open it in "
                        "binary mode ('rb')"
                    )
                yield bytes(chunk) if isinstance(chunk, memoryview) else chunk
        finally:
            if stream is not self._source:
                stream.close()

    def __repr__(self) -> str:
        size = "" if self.size is None else f", {self.size} bytes"
        return f"XComFile({self.url!r}{size})"


def is_file_value(value: Any) -> bool:
    """Whether pushing ``value`` streams it: an :class:`XComFile` or an open file."""
    return isinstance(value, XComFile | io.IOBase)


def as_xcom_file(value: Any) -> XComFile:
    """``value`` (see :func:`is_file_value`) as an :class:`XComFile`."""
    return value if isinstance(value, XComFile) else XComFile(value)


def _name_of(stream: Any) -> str:
    name = getattr(stream, "name", None)
    return name if isinstance(name, str) else f"<{type(stream).__name__}>"


def _open_source(source: str, storage_options: dict[str, Any]) -> BinaryIO:
    if "://" not in source:
        try:
            return open(source, "rb")
        except OSError as err:
            raise XComError(f"cannot push file {source!r}: {err}") from None
    import fsspec

    try:
        return fsspec.open(source, "rb", **storage_options).open()  # type: ignore[no-any-return]
    except (OSError, ValueError, ImportError) as err:
        raise XComError(f"cannot push file {source!r}: {err}") from None
