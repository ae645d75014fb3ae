"""Typed frames over a local socket: executor <-> worker <-> task process.

A frame is a 4-byte big-endian length and a JSON object with a ``type`` discriminator and a
``version``. No pickle: a peer can only send data, never code, and a frame of an unknown
type or version is refused with a clear error.

Who sends what, on which socket:

- executor -> worker: :class:`~tradewind.executors.workload.ExecuteTask` (with the try's
  channel, a socket passed along as a file descriptor), :class:`Cancel`, :class:`Shutdown`;
- worker -> executor: :class:`WorkerReady`, :class:`WorkerHeartbeat`, and
  :class:`TryEnded` when it has reaped the try's process (or a ``TaskOutcomeEvent`` when it
  could not even load the task);
- task process <-> executor, on the try's channel: its
  :class:`~tradewind.executors.workload.TaskStartedEvent`, :class:`ServiceRequest` and
  :class:`ServiceResponse`, then its ``TaskOutcomeEvent``. The worker relays nothing: it
  forks, watches and reaps.

>>> import socket
>>> a, b = socket.socketpair()
>>> send_frame(a, Cancel(ti_id="x"))
>>> FrameReader(b).read_blocking()
Cancel(version=1, ti_id='x')
>>> a.close(); b.close()
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import msgspec

from tradewind.executors.workload import (
    AwareDatetime,
    ExecuteTask,
    Message,
    TaskOutcomeEvent,
    TaskStartedEvent,
    encode_message,
)

#: The worker protocol's version; a worker announces it in :class:`WorkerReady`.
PROTOCOL = 1
#: Frames larger than this are refused (a bug or a hostile peer, not a message).
MAX_FRAME = 64 * 1024 * 1024
_HEADER = struct.Struct(">I")


class FrameError(Exception):
    """A malformed, oversize or unexpected frame: the connection cannot be trusted further."""


ServiceOp = Literal[
    "xcom_set",
    "xcom_get",
    "xcom_get_all",
    "xcom_clear",
    "get_variable",
    "get_connection",
    "trigger_dag_run",
    "get_dag_run_state",
    "get_external_states",
]


#: JSON ``null``, the default of the raw fields below.
NULL = msgspec.Raw(b"null")


class ServiceRequest(Message, frozen=True, kw_only=True, tag="ServiceRequest"):
    """A running task asks the scheduler side for something (see ``WorkerServices``).

    ``value`` is the XCom value of ``xcom_set``, already in the codec's JSON: it is stored as
    it came, never decoded on the way."""

    version: Literal[1] = 1
    id: int
    op: ServiceOp
    args: dict[str, Any]
    value: msgspec.Raw = NULL


ErrorKind = Literal[
    "KeyError", "TypeError", "ValueError", "PermissionError", "DagRunAlreadyExists", "Error"
]


class ServiceResponse(Message, frozen=True, kw_only=True, tag="ServiceResponse"):
    """The answer to the :class:`ServiceRequest` with the same ``id``.

    ``value`` is JSON left undecoded until the task's client reads it: XCom values pass from
    the database to the task in the codec's JSON, never decoded and encoded again between."""

    version: Literal[1] = 1
    id: int
    ok: bool
    value: msgspec.Raw = NULL
    error_kind: ErrorKind | None = None
    error: str | None = None


class WorkerReady(Message, frozen=True, kw_only=True, tag="WorkerReady"):
    """A worker has imported what it needs and waits for work."""

    version: Literal[1] = 1
    protocol: int = PROTOCOL
    pid: int


class WorkerHeartbeat(Message, frozen=True, kw_only=True, tag="WorkerHeartbeat"):
    """A busy worker is alive and so is its task process (sent every few seconds)."""

    version: Literal[1] = 1
    ti_id: str


class Cancel(Message, frozen=True, kw_only=True, tag="Cancel"):
    """Kill the try of ``ti_id`` if this worker runs it."""

    version: Literal[1] = 1
    ti_id: str


class Shutdown(Message, frozen=True, kw_only=True, tag="Shutdown"):
    """Finish the current try, then exit."""

    version: Literal[1] = 1


class TryEnded(Message, frozen=True, kw_only=True, tag="TryEnded"):
    """The worker reaped a try's task process. ``error`` says why it ended without its
    outcome (killed, crashed, timed out), ``None`` when it exited normally, having sent its
    outcome over its own channel (if it did not, the executor reports the try failed)."""

    version: Literal[1] = 1
    ti_id: str
    try_number: int
    error: str | None = None
    pid: int
    end_date: AwareDatetime


Frame = (
    ExecuteTask
    | TaskStartedEvent
    | TaskOutcomeEvent
    | ServiceRequest
    | ServiceResponse
    | WorkerReady
    | WorkerHeartbeat
    | Cancel
    | Shutdown
    | TryEnded
)
_decoder: msgspec.json.Decoder[Frame] = msgspec.json.Decoder(Frame)


def encode_frame(frame: Message) -> bytes:
    body = encode_message(frame)
    if len(body) > MAX_FRAME:
        raise FrameError(f"{frame.__class__.__name__} frame of {len(body)} bytes is too large")
    return _HEADER.pack(len(body)) + body


def decode_frame(body: bytes) -> Frame:
    try:
        return _decoder.decode(body)
    except (msgspec.DecodeError, ValueError) as err:
        raise FrameError(f"invalid frame: {err}") from None


def send_frame(sock: socket.socket, frame: Message, fds: Sequence[int] = ()) -> None:
    """Write one frame (blocking until the peer has room), passing ``fds`` with its first
    bytes (a Unix socket's ``SCM_RIGHTS``: the peer's :class:`FrameReader` made with
    ``accept_fds`` gets copies of them, in order)."""
    data = encode_frame(frame)
    if fds:
        sent = socket.send_fds(sock, [data], list(fds))
        data = data[sent:]
    if data:
        sock.sendall(data)


class FrameReader:
    """Splits the byte stream of one socket into frames.

    With ``accept_fds``, file descriptors sent along (see :func:`send_frame`) are kept, in
    the order they came, for :meth:`take_fd`.
    """

    def __init__(self, sock: socket.socket, *, accept_fds: bool = False) -> None:
        self.sock = sock
        self._buffer = bytearray()
        self._accept_fds = accept_fds
        self._fds: deque[int] = deque()
        self._returned: deque[Frame] = deque()

    def take_fd(self) -> int | None:
        """The oldest file descriptor received and not yet taken (the caller owns it)."""
        return self._fds.popleft() if self._fds else None

    def push_back(self, frames: Iterable[Frame]) -> None:
        """Frames read too early (they belong to what comes next): returned again first."""
        self._returned.extend(frames)

    def close_fds(self) -> None:
        """Close every received file descriptor nobody took."""
        while self._fds:
            with contextlib.suppress(OSError):
                os.close(self._fds.popleft())

    def _take_one(self) -> Frame | None:
        if len(self._buffer) < _HEADER.size:
            return None
        (size,) = _HEADER.unpack_from(self._buffer)
        if size > MAX_FRAME:
            raise FrameError(f"peer announced a frame of {size} bytes")
        end = _HEADER.size + size
        if len(self._buffer) < end:
            return None
        body = bytes(self._buffer[_HEADER.size : end])
        del self._buffer[:end]
        return decode_frame(body)

    def _recv(self) -> None:
        if self._accept_fds:
            data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 4)
            for fd in fds:
                os.set_inheritable(fd, False)  # never into a subprocess a task starts
            self._fds.extend(fds)
        else:
            data = self.sock.recv(1 << 16)
        if not data:
            raise EOFError("peer closed the connection")
        self._buffer += data

    def read_available(self) -> list[Frame]:
        """The frames completed by one ``recv`` (call when the socket is readable).
        Raises :class:`EOFError` when the peer has closed its end."""
        self._recv()
        return self.buffered()

    def buffered(self) -> list[Frame]:
        """Complete frames already received but not yet returned."""
        frames: list[Frame] = list(self._returned)
        self._returned.clear()
        while (frame := self._take_one()) is not None:
            frames.append(frame)
        return frames

    def read_blocking(self) -> Frame:
        """The next frame, waiting for it; :class:`EOFError` if the peer closes first."""
        if self._returned:
            return self._returned.popleft()
        while (frame := self._take_one()) is None:
            self._recv()
        return frame
