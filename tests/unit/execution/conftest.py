"""A harness that runs single task tries with the real runner and a memory XCom backend."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from tradewind.execution.client import InProcessClient
from tradewind.execution.runner import TryOutcome, run_task_try
from tradewind.execution.runtime import DagRunInfo
from tradewind.xcom.base import XComKey
from tradewind.xcom.memory import MemoryXComBackend

LOGICAL = datetime(2024, 3, 5, tzinfo=UTC)
RUN_ID = "manual__2024-03-05T00:00:00+00:00"
_UNSET: Any = object()


class TryHarness:
    """Runs tries of tasks in one run, keeping the XCom and each try's log lines."""

    def __init__(self) -> None:
        self.backend = MemoryXComBackend()
        self.client = InProcessClient(self.backend)
        self.lines: list[str] = []
        self.dag_id = ""

    def info(
        self, dag_id: str, conf: Mapping[str, Any] | None = None, logical_date: Any = _UNSET
    ) -> DagRunInfo:
        logical = LOGICAL if logical_date is _UNSET else logical_date
        return DagRunInfo(
            dag_id=dag_id,
            run_id=RUN_ID,
            logical_date=logical,
            data_interval_start=logical,
            data_interval_end=logical,
            run_after=LOGICAL,
            start_date=LOGICAL,
            conf=dict(conf or {}),
        )

    def run(
        self,
        task: Any,
        *,
        conf: Mapping[str, Any] | None = None,
        logical_date: Any = _UNSET,
        try_number: int = 1,
        map_index: int = -1,
        mapped_upstreams: frozenset[str] = frozenset(),
    ) -> TryOutcome:
        self.dag_id = task.dag.dag_id
        self.lines = []
        return run_task_try(
            task,
            self.info(task.dag.dag_id, conf, logical_date),
            client=self.client,
            map_index=map_index,
            try_number=try_number,
            log_sink=self.lines.append,
            mapped_upstreams=mapped_upstreams,
        )

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        return self.backend.get(XComKey(self.dag_id, RUN_ID, task_id, map_index, key))

    def has_xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> bool:
        try:
            self.xcom(task_id, key, map_index)
        except KeyError:
            return False
        return True

    @property
    def log(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def harness() -> TryHarness:
    return TryHarness()
