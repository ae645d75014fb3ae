"""The in-memory XCom backend: store, fetch, list by map index, clear; safe across threads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from tradewind.exceptions import XComError
from tradewind.execution.client import InProcessClient
from tradewind.inprocess import run_dag
from tradewind.sdk import DAG, task
from tradewind.xcom.base import XComKey
from tradewind.xcom.memory import MemoryXComBackend


def _key(
    task_id: str = "t", map_index: int = -1, key: str = "return_value", run: str = "r"
) -> XComKey:
    return XComKey("d", run, task_id, map_index, key)


def test_get_returns_what_set_stored() -> None:
    b = MemoryXComBackend()
    b.set(_key(), {"a": [1, 2], "when": datetime(2024, 1, 1, tzinfo=UTC)})
    assert b.get(_key()) == {"a": [1, 2], "when": datetime(2024, 1, 1, tzinfo=UTC)}


def test_get_of_nothing_raises_key_error() -> None:
    with pytest.raises(KeyError):
        MemoryXComBackend().get(_key())


def test_set_again_overwrites() -> None:
    b = MemoryXComBackend()
    b.set(_key(), 1)
    b.set(_key(), 2)
    assert b.get(_key()) == 2


def test_values_are_copies_not_shared_objects() -> None:
    b = MemoryXComBackend()
    value = {"list": [1]}
    b.set(_key(), value)
    value["list"].append(2)
    fetched = b.get(_key())
    fetched["list"].append(3)
    assert b.get(_key()) == {"list": [1]}


def test_an_unsupported_value_fails_at_set_and_stores_nothing() -> None:
    b = MemoryXComBackend()
    with pytest.raises(XComError, match=r"builtins\.object"):
        b.set(_key(), object())
    with pytest.raises(KeyError):
        b.get(_key())


def test_get_all_is_ordered_by_map_index_and_filtered_by_key() -> None:
    b = MemoryXComBackend()
    for i in (3, 0, 2, 1):
        b.set(_key(map_index=i), f"v{i}")
    b.set(_key(map_index=0, key="other"), "x")
    b.set(_key(task_id="other_task", map_index=0), "y")
    b.set(_key(map_index=0, run="other_run"), "z")
    assert b.get_all("d", "r", "t", "return_value") == [(0, "v0"), (1, "v1"), (2, "v2"), (3, "v3")]
    assert b.get_all("d", "r", "t", "missing") == []


def test_clear_removes_only_one_task_instances_values() -> None:
    b = MemoryXComBackend()
    b.set(_key(map_index=0), "a")
    b.set(_key(map_index=0, key="extra"), "b")
    b.set(_key(map_index=1), "c")
    b.set(_key(map_index=0, run="other_run"), "d")
    b.clear("d", "r", "t", 0)
    assert b.get_all("d", "r", "t", "return_value") == [(1, "c")]
    assert b.get_all("d", "r", "t", "extra") == []
    assert b.get(_key(map_index=0, run="other_run")) == "d"


def test_concurrent_sets_from_many_threads_are_all_kept() -> None:
    b = MemoryXComBackend()
    start = threading.Barrier(8, timeout=10)

    def push(worker: int) -> None:
        start.wait()
        for i in range(200):
            b.set(_key(map_index=worker * 200 + i), [worker, i])
            if i % 50 == 0:
                b.get_all("d", "r", "t", "return_value")  # readers alongside writers

    threads = [threading.Thread(target=push, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    values = b.get_all("d", "r", "t", "return_value")
    assert [i for i, _ in values] == list(range(1600))
    assert values[201] == (201, [1, 1])


def test_mapped_task_copies_pushing_in_parallel_all_land() -> None:
    backend = MemoryXComBackend()
    with DAG("xcom_parallel_map", max_active_tasks=8) as dag:

        @task
        def square(x: int) -> int:
            return x * x

        @task
        def total(values: list[int]) -> int:
            return sum(values)

        total(square.expand(x=list(range(40))))
    result = run_dag(dag, client=InProcessClient(backend))
    assert result.state.value == "success"
    pushed = backend.get_all("xcom_parallel_map", result.run_id, "square", "return_value")
    assert pushed == [(i, i * i) for i in range(40)]
    assert backend.get(
        XComKey("xcom_parallel_map", result.run_id, "total", -1, "return_value")
    ) == sum(i * i for i in range(40))
