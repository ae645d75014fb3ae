"""``ti.xcom_pull`` follows Airflow 3's rules (notes section j)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tradewind.exceptions import XComError
from tradewind.execution.client import InProcessClient
from tradewind.execution.runtime import DagRunInfo, RuntimeTaskInstance
from tradewind.operators import EmptyOperator
from tradewind.sdk import DAG
from tradewind.xcom.base import XComKey
from tradewind.xcom.memory import MemoryXComBackend

NOW = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def backend() -> MemoryXComBackend:
    b = MemoryXComBackend()
    for task_id, map_index, key, value in [
        ("single", -1, "return_value", "one"),
        ("single", -1, "extra", {"k": 1}),
        ("mapped", 0, "return_value", "m0"),
        ("mapped", 2, "return_value", "m2"),
        ("mapped", 1, "return_value", "m1"),
        ("one_mapped", 0, "return_value", "only"),
        ("me", -1, "return_value", "mine"),
    ]:
        b.set(XComKey("d", "r", task_id, map_index, key), value)
    b.set(XComKey("d", "other_run", "single", -1, "return_value"), "elsewhere")
    return b


def _ti(backend: MemoryXComBackend, mapped_upstreams: frozenset[str] = frozenset()) -> Any:
    with DAG("d"):
        me = EmptyOperator(task_id="me")
    return RuntimeTaskInstance(
        task=me,
        dag_run=DagRunInfo("d", "r", NOW, NOW, NOW, NOW),
        map_index=-1,
        try_number=1,
        client=InProcessClient(backend),
        mapped_upstreams=mapped_upstreams,
    )


def test_task_ids_none_means_the_calling_task(backend: MemoryXComBackend) -> None:
    assert _ti(backend).xcom_pull() == "mine"


def test_one_value_comes_back_as_itself(backend: MemoryXComBackend) -> None:
    ti = _ti(backend)
    assert ti.xcom_pull("single") == "one"
    assert ti.xcom_pull(task_ids="single", key="extra") == {"k": 1}


def test_a_mapped_task_gives_the_list_of_its_values_by_map_index(
    backend: MemoryXComBackend,
) -> None:
    assert _ti(backend).xcom_pull("mapped") == ["m0", "m1", "m2"]


def test_a_mapped_task_with_one_pushed_value_gives_that_value(backend: MemoryXComBackend) -> None:
    assert _ti(backend).xcom_pull("one_mapped") == "only"


def test_nothing_pushed_gives_none_and_ignores_default(backend: MemoryXComBackend) -> None:
    ti = _ti(backend)
    assert ti.xcom_pull("absent") is None
    assert ti.xcom_pull("absent", default="ignored") is None
    assert ti.xcom_pull("single", key="absent_key", default="ignored") is None


def test_a_list_of_task_ids_gives_a_flat_list_with_none_for_missing(
    backend: MemoryXComBackend,
) -> None:
    assert _ti(backend).xcom_pull(["single", "absent", "mapped"]) == [
        "one",
        None,
        "m0",
        "m1",
        "m2",
    ]


def test_map_indexes_int_fetches_that_row_and_default_when_missing(
    backend: MemoryXComBackend,
) -> None:
    ti = _ti(backend)
    assert ti.xcom_pull("mapped", map_indexes=1) == "m1"
    assert ti.xcom_pull("mapped", map_indexes=7, default="dflt") == "dflt"


def test_map_indexes_none_fetches_the_unmapped_row(backend: MemoryXComBackend) -> None:
    ti = _ti(backend)
    assert ti.xcom_pull("single", map_indexes=None) == "one"
    assert ti.xcom_pull("mapped", map_indexes=None, default="no unmapped row") == "no unmapped row"


def test_a_list_of_map_indexes_gives_a_list_with_default_for_missing(
    backend: MemoryXComBackend,
) -> None:
    ti = _ti(backend)
    assert ti.xcom_pull("mapped", map_indexes=[2, 0, 5], default="x") == ["m2", "m0", "x"]


def test_task_ids_and_map_indexes_lists_give_their_product(backend: MemoryXComBackend) -> None:
    ti = _ti(backend)
    assert ti.xcom_pull(["mapped", "one_mapped"], map_indexes=[0, 1], default=None) == [
        "m0",
        "m1",
        "only",
        None,
    ]


def test_run_id_selects_another_run(backend: MemoryXComBackend) -> None:
    assert _ti(backend).xcom_pull("single", run_id="other_run") == "elsewhere"


def test_pulled_values_are_copies(backend: MemoryXComBackend) -> None:
    ti = _ti(backend)
    ti.xcom_pull("single", key="extra")["k"] = 99
    assert ti.xcom_pull("single", key="extra") == {"k": 1}


def test_xcomarg_resolution_of_a_mapped_producer_gives_a_list(backend: MemoryXComBackend) -> None:
    ti = _ti(backend, mapped_upstreams=frozenset({"mapped"}))
    assert ti.resolve_upstream_output("mapped", "return_value") == ["m0", "m1", "m2"]


def test_xcomarg_resolution_missing_return_value_is_none_missing_key_is_an_error(
    backend: MemoryXComBackend,
) -> None:
    ti = _ti(backend)
    assert ti.resolve_upstream_output("absent", "return_value") is None
    with pytest.raises(XComError, match="needs XCom 'nope' from 'single', which was not pushed"):
        ti.resolve_upstream_output("single", "nope")
