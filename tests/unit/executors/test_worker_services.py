"""A task's requests go over the pipe and come back as the in-process client's answers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import pytest

from tradewind.execution.comms import FrameReader, ServiceRequest, send_frame
from tradewind.execution.worker_client import PipeClient, WorkerConnectionLost, key_args
from tradewind.executors.base import WorkerServices
from tradewind.executors.memory_services import MemoryWorkerServices
from tradewind.executors.serving import answer
from tradewind.sdk.connection import Connection
from tradewind.xcom.base import XComKey

OWNER = ("etl", "r1", "load", -1)


@pytest.fixture
def services() -> MemoryWorkerServices:
    return MemoryWorkerServices(
        variables={"region": "eu"},
        connections={"db": Connection("db", "postgres", host="h", password="s3cret", port=5)},
    )


@pytest.fixture
def client(services: MemoryWorkerServices) -> Iterator[PipeClient]:
    """A client whose requests a thread answers, as the executor does for a worker."""
    ours, theirs = socket.socketpair()

    def serve() -> None:
        reader = FrameReader(theirs)
        while True:
            try:
                request = reader.read_blocking()
            except (EOFError, OSError):
                return
            assert isinstance(request, ServiceRequest)
            send_frame(theirs, answer(services, request, OWNER))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield PipeClient(ours)
    ours.close()
    thread.join(5)
    theirs.close()


def test_memory_services_implement_the_protocol(services: MemoryWorkerServices) -> None:
    assert isinstance(services, WorkerServices)


def test_xcom_values_keep_their_types_through_the_pipe(client: PipeClient) -> None:
    key = XComKey(*OWNER, "return_value")
    value = {"when": datetime(2024, 1, 2, tzinfo=UTC), "amount": Decimal("1.10"), "t": (1, 2)}
    client.xcom_set(key, value)
    assert client.xcom_get(key) == value


def test_a_missing_xcom_is_a_key_error(client: PipeClient) -> None:
    with pytest.raises(KeyError):
        client.xcom_get(XComKey("etl", "r1", "nobody", -1, "return_value"))


def test_values_of_every_map_index_come_back_in_order(
    client: PipeClient, services: MemoryWorkerServices
) -> None:
    for i in (2, 0, 1):
        services.xcom_set(XComKey("etl", "r1", "square", i, "return_value"), i * i)
    assert client.xcom_get_all("etl", "r1", "square", "return_value") == [(0, 0), (1, 1), (2, 4)]


def test_clear_removes_only_this_task_instances_values(
    client: PipeClient, services: MemoryWorkerServices
) -> None:
    client.xcom_set(XComKey(*OWNER, "a"), 1)
    client.xcom_clear(*OWNER)
    with pytest.raises(KeyError):
        services.xcom_get(XComKey(*OWNER, "a"))


def test_a_value_the_codec_cannot_store_fails_in_the_task(client: PipeClient) -> None:
    with pytest.raises(TypeError, match="cannot store"):
        client.xcom_set(XComKey(*OWNER, "k"), object())


def test_a_try_cannot_write_another_task_instances_xcom(client: PipeClient) -> None:
    with pytest.raises(PermissionError):
        client.xcom_set(XComKey("etl", "r1", "other_task", -1, "return_value"), 1)
    with pytest.raises(PermissionError):
        client.xcom_clear("etl", "r1", "load", 0)


def test_variables_and_connections_come_from_the_services(
    client: PipeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWIND_VAR_FROM_ENV", "yes")
    assert client.get_variable("region") == "eu"
    assert client.get_variable("from_env") == "yes"
    assert client.get_variable("missing") is None
    conn = client.get_connection("db")
    assert conn is not None and (conn.host, conn.password, conn.port) == ("h", "s3cret", 5)
    assert client.get_connection("missing") is None


def test_a_services_failure_is_an_error_answer_not_a_crash() -> None:
    class Broken(MemoryWorkerServices):
        def get_variable(self, key: str) -> str | None:
            raise RuntimeError("database is down")

    request = ServiceRequest(id=7, op="get_variable", args={"key": "x"})
    reply = answer(Broken(), request, OWNER)
    assert (reply.id, reply.ok, reply.error_kind) == (7, False, "Error")
    assert "database is down" in (reply.error or "")


def test_a_lost_worker_is_a_connection_error() -> None:
    ours, theirs = socket.socketpair()
    theirs.close()
    with pytest.raises(WorkerConnectionLost):
        PipeClient(ours).get_variable("x")
    ours.close()


def test_values_are_stored_as_the_task_encoded_them(
    client: PipeClient, services: MemoryWorkerServices
) -> None:
    """The scheduler side neither decodes nor re-encodes: what it stores is the codec's text
    made in the task, and what it returns is that text again."""
    stored: dict[XComKey, str] = {}

    class Recording(MemoryWorkerServices):
        def xcom_set_encoded(self, key: XComKey, data: str) -> None:
            stored[key] = data

        def xcom_get_encoded(self, key: XComKey) -> str:
            return stored[key]

    key = XComKey(*OWNER, "return_value")
    request = ServiceRequest(id=1, op="xcom_set", args=key_args(key), value=msgspec.Raw(b"[1,2]"))
    assert answer(Recording(), request, OWNER).ok
    assert stored == {key: "[1,2]"}
    reply = answer(Recording(), ServiceRequest(id=2, op="xcom_get", args=key_args(key)), OWNER)
    assert bytes(reply.value) == b"[1,2]"


def test_a_pushed_value_that_is_not_json_is_refused_and_nothing_is_stored(
    services: MemoryWorkerServices,
) -> None:
    key = XComKey(*OWNER, "return_value")
    request = ServiceRequest(
        id=3, op="xcom_set", args=key_args(key), value=msgspec.Raw(b"[1, oops")
    )
    reply = answer(services, request, OWNER)
    assert (reply.ok, reply.error_kind) == (False, "ValueError")
    assert "not valid JSON" in (reply.error or "")
    with pytest.raises(KeyError):
        services.xcom_get(key)


def test_tagged_values_of_every_map_index_keep_their_types(
    client: PipeClient, services: MemoryWorkerServices
) -> None:
    for i in range(2):
        services.xcom_set(XComKey("etl", "r1", "pairs", i, "return_value"), (i, Decimal(i)))
    assert client.xcom_get_all("etl", "r1", "pairs", "return_value") == [
        (0, (0, Decimal(0))),
        (1, (1, Decimal(1))),
    ]


def test_a_value_sent_with_the_workload_is_read_without_asking() -> None:
    ours, theirs = socket.socketpair()
    theirs.close()  # anything asked would fail: nobody answers
    client = PipeClient(
        ours, run=("etl", "r1"), prefetched={("numbers", -1, "return_value"): b"[1,2,3]"}
    )
    assert client.xcom_get(XComKey("etl", "r1", "numbers", -1, "return_value")) == [1, 2, 3]
    with pytest.raises(WorkerConnectionLost):  # another run's value is asked for
        client.xcom_get(XComKey("etl", "r2", "numbers", -1, "return_value"))
    ours.close()
