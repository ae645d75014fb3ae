"""A custom XCom backend keeping every value in Redis; the DB row holds only its Redis key.

Put this file on the PYTHONPATH of every Tradewind process and set
``TRADEWIND__XCOM__BACKEND=redis_xcom.RedisXCom`` (and ``XCOM_REDIS_URL`` if not local).
"""

import json
import os
import uuid
from typing import Any

import redis

from tradewind.serialization import codec
from tradewind.xcom import BaseXCom, XComResult

_redis = redis.Redis.from_url(os.environ.get("XCOM_REDIS_URL", "redis://127.0.0.1:6379/0"))


class RedisXCom(BaseXCom):
    def serialize_value(self, value: Any, **where: Any) -> str:
        parts = [where.get(n) for n in ("dag_id", "run_id", "task_id", "map_index", "key")]
        name = "xcom:" + ":".join(map(str, parts)) + ":" + uuid.uuid4().hex
        _redis.set(name, codec.encode(value))  # fails here, in the task, if it cannot be stored
        return json.dumps({"redis_key": name})

    def deserialize_value(self, result: XComResult) -> Any:
        data = _redis.get(json.loads(result.value)["redis_key"])
        if data is None:
            raise KeyError(f"XCom {result.key!r} of {result.task_id!r} is gone from Redis")
        return codec.decode(data)

    def orm_deserialize_value(self, result: XComResult) -> Any:
        return f"<in Redis: {json.loads(result.value)['redis_key']}>"

    def purge(self, result: XComResult) -> None:
        _redis.delete(json.loads(result.value)["redis_key"])
