"""Redis for XCom, against the real server: the read cache for hot stored values, and the
custom backend in ``examples/xcom_backends/redis_xcom.py`` selected by class path."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tradewind import config
from tradewind.exceptions import XComError
from tradewind.execution.client import ServicesClient
from tradewind.executors.memory_services import MemoryWorkerServices
from tradewind.xcom.backend import XComResult, get_backend, reset_backend
from tradewind.xcom.base import XComKey

REDIS_URL = os.environ.get("TRADEWIND_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "xcom_backends"


@pytest.fixture
def redis_url() -> Iterator[str]:
    import redis

    client: Any = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as err:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis not reachable at {REDIS_URL}: {err} (CI=true)")
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {err}")
    client.flushdb()
    reset_backend()
    yield REDIS_URL
    client.flushdb()
    client.close()
    reset_backend()


def test_the_redis_read_cache_serves_a_hot_value_once_fetched(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWIND__XCOM__CACHE", redis_url)
    backend = get_backend()
    value = list(range(30_000))
    text = backend.serialize_value(value, key="k", task_id="t", dag_id="d", run_id="r")
    row = XComResult("d", "r", "t", -1, "k", text)
    assert backend.deserialize_value(row) == value
    for path in (config.home() / "xcom").rglob("*"):
        if path.is_file():
            path.unlink()  # only the cache has it now
    assert backend.deserialize_value(row) == value
    backend.purge(row)  # purging drops the cached copy too
    with pytest.raises(XComError, match="gone from object storage"):
        backend.deserialize_value(row)


def test_the_example_redis_backend_stores_values_in_redis(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    monkeypatch.setenv("XCOM_REDIS_URL", redis_url)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.delitem(sys.modules, "redis_xcom", raising=False)
    monkeypatch.setenv("TRADEWIND__XCOM__BACKEND", "redis_xcom.RedisXCom")
    client = ServicesClient(MemoryWorkerServices())
    key = XComKey("d", "r", "t", -1, "return_value")
    client.xcom_set(key, {"pair": (1, 2)})
    assert client.xcom_get(key) == {"pair": (1, 2)}
    stored = client.services.xcom_get_encoded(key)
    assert "redis_key" in stored and "pair" not in stored  # the row holds only the key
    server: Any = redis.Redis.from_url(redis_url)
    assert len(server.keys("xcom:*")) == 1
    backend = get_backend()
    assert "in Redis" in backend.orm_deserialize_value(XComResult("d", "r", "t", -1, "k", stored))
    backend.purge(XComResult("d", "r", "t", -1, "return_value", stored))
    assert server.keys("xcom:*") == []
    server.close()
