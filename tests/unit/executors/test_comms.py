"""Frames: length-prefixed typed JSON, split and joined correctly, bad input refused."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest

from tradewind.execution.comms import (
    MAX_FRAME,
    Cancel,
    FrameError,
    FrameReader,
    ServiceRequest,
    ServiceResponse,
    Shutdown,
    WorkerReady,
    decode_frame,
    encode_frame,
    send_frame,
)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_every_frame_type_round_trips() -> None:
    frames = [
        ServiceRequest(id=1, op="xcom_get", args={"dag_id": "d", "key": "k"}),
        ServiceResponse(id=1, ok=False, error_kind="KeyError", error="missing"),
        WorkerReady(pid=12),
        Cancel(ti_id="x"),
        Shutdown(),
    ]
    for frame in frames:
        assert decode_frame(encode_frame(frame)[4:]) == frame


def test_frames_split_across_reads_are_joined(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    data = encode_frame(Cancel(ti_id="one")) + encode_frame(Cancel(ti_id="two"))
    reader = FrameReader(b)
    got = []
    for i in range(len(data)):  # one byte at a time: no frame until it is whole
        a.sendall(data[i : i + 1])
        got += reader.read_available()
    assert got == [Cancel(ti_id="one"), Cancel(ti_id="two")]


def test_several_frames_in_one_read_all_come_out(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    for i in range(3):
        send_frame(a, Cancel(ti_id=str(i)))
    reader = FrameReader(b)
    first = reader.read_blocking()
    assert [first, *reader.buffered()] == [Cancel(ti_id=str(i)) for i in range(3)]


def test_a_closed_peer_is_end_of_file(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    a.close()
    with pytest.raises(EOFError):
        FrameReader(b).read_blocking()


def test_an_oversize_frame_is_refused_before_it_is_read(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    a.sendall(struct.pack(">I", MAX_FRAME + 1))
    with pytest.raises(FrameError, match="bytes"):
        FrameReader(b).read_available()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"type": "Exec", "version": 1}',
        b'{"type": "Cancel", "version": 2, "ti_id": "x"}',
        b'{"type": "Cancel", "version": 1}',
    ],
)
def test_malformed_unknown_or_newer_frames_are_refused(body: bytes) -> None:
    with pytest.raises(FrameError, match="invalid frame"):
        decode_frame(body)
